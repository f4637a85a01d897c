//! What the scenarios of every architecture share: announcing the plan, installing the filter,
//! and the scenarios that differ between architectures only in the rule's arch and number.

use std::{
    io::{self, Write as _},
    path::PathBuf,
    ptr,
    sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering},
};

use tracer_integration_tests::{
    filter::{self, Action, Audit, Rule},
    plan::{Details, Expected, ExpectedExit, Plan},
};

pub fn fail(message: &str) -> i32 {
    eprintln!("seccomp-workload: {message}");
    1
}

pub fn pid() -> u32 {
    std::process::id()
}

pub fn tid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    u32::try_from(tid).expect("thread ids are positive")
}

pub fn expected(tid: u32, rule: Rule, syscall: &str, count: u32) -> Expected {
    Expected {
        tid,
        syscall_nr: rule.nr,
        arch: filter::arch_name(rule.arch, u64::from(rule.nr)),
        syscall: syscall.into(),
        code: rule.action.name().into(),
        count,
        details: Details::default(),
    }
}

pub fn install(rules: &[Rule], audit: Audit) {
    if let Err(error) = filter::install(rules, audit) {
        eprintln!("seccomp-workload: cannot install the seccomp filter: {error}");
        std::process::exit(1);
    }
}

pub fn plan(scenario: &str, expect: Vec<Expected>, exit: ExpectedExit) -> Plan {
    Plan {
        scenario: scenario.into(),
        pid: pid(),
        expect,
        exit,
        unaudited: Vec::new(),
        not_seccomp: Vec::new(),
        process: None,
    }
}

pub fn announce(scenario: &str, expect: Vec<Expected>, exit: ExpectedExit) {
    announce_plan(&plan(scenario, expect, exit));
}

/// The plan must reach the test before a filtered call can kill us, hence the flush.
pub fn announce_plan(plan: &Plan) {
    print_line(&serde_json::to_string(plan).expect("a plan is plain data"));
}

pub fn print_line(line: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        eprintln!("seccomp-workload: cannot print {line}: {error}");
        std::process::exit(1);
    }
}

/// A directory name nobody else uses; the scenarios go through the raw system call so the
/// number the filter sees is certain (libc may pick another call).
pub fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seccomp-workload-{}", pid()));
    let _ = std::fs::remove_dir(&dir);
    dir
}

pub fn raw_unshare() -> io::Result<()> {
    // Flags 0 change nothing, so a filter that failed to kill leaves no trace behind.
    // SAFETY: unshare with no flags has no effect on memory.
    let ret = unsafe { libc::syscall(libc::SYS_unshare, 0) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A killed process would otherwise dump core, which is slow and litters the test machine.
pub fn no_core_dump() {
    // SAFETY: PR_SET_DUMPABLE takes plain integers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

/// `kill-thread` or `kill-process`: `rule` (unshare in the machine's table, with a kill
/// action) kills the process on its first call.
pub fn kill(rule: Rule) -> i32 {
    no_core_dump();
    install(&[rule], Audit::KillAndLog);
    // A single-threaded process killed by kill_thread dies as a whole, with SIGSYS.
    announce(
        if rule.action == Action::KillThread {
            "kill-thread"
        } else {
            "kill-process"
        },
        vec![expected(tid(), rule, "unshare", 1)],
        ExpectedExit::Signal("SIGSYS".into()),
    );
    let result = raw_unshare();
    fail(&format!(
        "unshare under {} returned ({result:?}) instead of killing",
        rule.action.name()
    ))
}

static THREAD_SURVIVED: AtomicBool = AtomicBool::new(false);

/// `rule` points at the kill_thread rule on unshare, which outlives the thread.
extern "C" fn doomed_thread(rule: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `kill_thread_in_thread` passes a pointer to its `Rule` and joins this thread
    // before the rule goes out of scope.
    let rule = unsafe { *rule.cast::<Rule>() };
    // Only this thread is filtered: the main thread must live on to report.
    install(&[rule], Audit::KillAndLog);
    announce(
        "kill-thread-in-thread",
        vec![expected(tid(), rule, "unshare", 1)],
        ExpectedExit::Code(0),
    );
    let _ = raw_unshare();
    THREAD_SURVIVED.store(true, Ordering::SeqCst);
    ptr::null_mut()
}

/// A raw pthread rather than `std::thread`: std's `join` expects the thread to have finished
/// its closure, and a thread killed by seccomp never does. `rule` kills a thread on unshare.
pub fn kill_thread_in_thread(rule: Rule) -> i32 {
    no_core_dump();
    let mut thread: libc::pthread_t = 0;
    let arg = (&raw const rule).cast_mut().cast::<libc::c_void>();
    // SAFETY: `doomed_thread` has the signature pthread expects; `arg` stays valid until the
    // join below.
    let ret = unsafe { libc::pthread_create(&mut thread, ptr::null(), doomed_thread, arg) };
    if ret != 0 {
        return fail(&format!(
            "pthread_create: {}",
            io::Error::from_raw_os_error(ret)
        ));
    }
    // The kernel clears the thread's tid and wakes joiners when it exits, killed or not.
    // SAFETY: `thread` was created above and is joined once.
    let ret = unsafe { libc::pthread_join(thread, ptr::null_mut()) };
    if ret != 0 {
        return fail(&format!(
            "pthread_join: {}",
            io::Error::from_raw_os_error(ret)
        ));
    }
    if THREAD_SURVIVED.load(Ordering::SeqCst) {
        return fail("unshare under kill_thread returned instead of killing the thread");
    }
    0
}

static TRAPPED: AtomicBool = AtomicBool::new(false);
static TRAP_SI_CODE: AtomicI32 = AtomicI32::new(0);
static TRAP_SYSCALL: AtomicI32 = AtomicI32::new(-1);
static TRAP_ARCH: AtomicU32 = AtomicU32::new(0);

/// `siginfo_t` as the kernel fills it for SIGSYS (`_sigsys` in the union); the libc crate
/// does not expose those members.
#[repr(C)]
struct SigsysInfo {
    si_signo: libc::c_int,
    si_errno: libc::c_int,
    si_code: libc::c_int,
    _pad: libc::c_int,
    call_addr: *mut libc::c_void,
    syscall: libc::c_int,
    arch: libc::c_uint,
}

extern "C" fn on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers, and SIGSYS's layout
    // is the one above. Only atomics are touched: this runs in a signal handler.
    let info = unsafe { &*info.cast::<SigsysInfo>() };
    TRAP_SI_CODE.store(info.si_code, Ordering::SeqCst);
    TRAP_SYSCALL.store(info.syscall, Ordering::SeqCst);
    TRAP_ARCH.store(info.arch, Ordering::SeqCst);
    TRAPPED.store(true, Ordering::SeqCst);
}

/// Handles SIGSYS with [`on_sigsys`], so a trapped call lets the process go on.
pub fn catch_sigsys() -> Result<(), String> {
    // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO signature.
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGSYS, &action, ptr::null_mut())
    };
    if installed != 0 {
        return Err(format!("sigaction(SIGSYS): {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// getpgid(0), which the scenarios trap; under the filter it does not even run.
pub fn trapped_getpgid() {
    // SAFETY: getpgid(0) takes an integer.
    unsafe { libc::syscall(libc::SYS_getpgid, 0) };
}

/// Whether the SIGSYS handler saw the trap of getpgid (number `nr` in table `arch`), as a
/// seccomp trap; a message saying what it saw instead.
pub fn check_trapped_getpgid(nr: u32, arch: u32) -> Result<(), String> {
    let seen = (
        TRAPPED.load(Ordering::SeqCst),
        TRAP_SI_CODE.load(Ordering::SeqCst),
        TRAP_SYSCALL.load(Ordering::SeqCst),
        TRAP_ARCH.load(Ordering::SeqCst),
    );
    // SYS_SECCOMP (1) is the si_code of a seccomp trap.
    let wanted = (true, 1, nr as i32, arch);
    if seen != wanted {
        return Err(format!(
            "SIGSYS handler saw (trapped, si_code, syscall, arch) = {seen:?}, wanted {wanted:?}"
        ));
    }
    Ok(())
}

/// `trap`: `rule` traps getpgid, and the handler must see it.
pub fn trap(rule: Rule) -> i32 {
    if let Err(error) = catch_sigsys() {
        return fail(&error);
    }
    // With the log flag: the kernel does not audit traps without it.
    install(&[rule], Audit::EveryAction);
    announce(
        "trap",
        vec![expected(tid(), rule, "getpgid", 1)],
        ExpectedExit::Code(0),
    );
    trapped_getpgid();
    match check_trapped_getpgid(rule.nr, rule.arch) {
        Ok(()) => 0,
        Err(error) => fail(&error),
    }
}

/// `burst N`: `rule` logs getppid, called `calls` times.
pub fn burst(rule: Rule, calls: u32) -> i32 {
    install(&[rule], Audit::KillAndLog);
    announce(
        "burst",
        vec![expected(tid(), rule, "getppid", calls)],
        ExpectedExit::Code(0),
    );
    for _ in 0..calls {
        // SAFETY: getppid takes no arguments. The raw call keeps libc from caching it.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    0
}
