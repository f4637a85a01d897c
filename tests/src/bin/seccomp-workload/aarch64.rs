//! The arm64 scenarios: each action on arm64's own numbers (which have no `mkdir`: `mkdirat`
//! stands in), a burst, and `arm`, whose logged call is made by an arm32 program in the same
//! process. The x86-64 scenarios that need x86 instructions or tables (i386, x32, numbered
//! bursts, argument registers) have no counterpart here.

use std::{
    ffi::CString,
    io::{self, Write as _},
    os::unix::{ffi::OsStrExt as _, fs::PermissionsExt as _},
    path::{Path, PathBuf},
    ptr,
    sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering},
};

use tracer_integration_tests::{
    filter::{self, Action, Audit, Rule, nr},
    plan::{Details, Expected, ExpectedExit, PathArg, Plan},
};

/// workloads/compat_arm.c, built static for arm32 by build.rs.
const COMPAT_ARM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/compat_arm"));

const USAGE: &str = "usage: seccomp-workload SCENARIO [ARGS]\n\
    scenarios (arm64): log, kill-thread, kill-thread-in-thread, kill-process, trap, errno, arm, \
    burst N";

pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["log"] => log(),
        ["kill-thread"] => kill(Action::KillThread),
        ["kill-process"] => kill(Action::KillProcess),
        ["kill-thread-in-thread"] => kill_thread_in_thread(),
        ["trap"] => trap(),
        ["errno"] => errno(),
        ["arm"] => arm(),
        ["burst", calls] => match calls.parse() {
            Ok(calls) => burst(calls),
            Err(_) => usage_error(&format!("burst: {calls:?} is not a number of calls")),
        },
        _ => usage_error(&format!("unknown arguments {args:?}")),
    }
}

fn usage_error(message: &str) -> i32 {
    eprintln!("seccomp-workload: {message}\n{USAGE}");
    2
}

fn fail(message: &str) -> i32 {
    eprintln!("seccomp-workload: {message}");
    1
}

fn pid() -> u32 {
    std::process::id()
}

fn tid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    u32::try_from(tid).expect("thread ids are positive")
}

fn expected(tid: u32, rule: Rule, syscall: &str, count: u32) -> Expected {
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

fn install(rules: &[Rule], audit: Audit) {
    if let Err(error) = filter::install(rules, audit) {
        eprintln!("seccomp-workload: cannot install the seccomp filter: {error}");
        std::process::exit(1);
    }
}

/// The plan must reach the test before a filtered call can kill us, hence the flush.
fn announce(scenario: &str, expect: Vec<Expected>, exit: ExpectedExit) {
    let plan = Plan {
        scenario: scenario.into(),
        pid: pid(),
        expect,
        exit,
        unaudited: Vec::new(),
        not_seccomp: Vec::new(),
        process: None,
    };
    let line = serde_json::to_string(&plan).expect("a plan is plain data");
    let mut stdout = io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        eprintln!("seccomp-workload: cannot print {line}: {error}");
        std::process::exit(1);
    }
}

/// A directory name nobody else uses.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seccomp-workload-{}", pid()));
    let _ = std::fs::remove_dir(&dir);
    dir
}

/// `mkdirat(AT_FDCWD, path)` through the raw call, so the number the filter sees is certain.
fn raw_mkdirat(path: &Path) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
    let ret = unsafe { libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, path.as_ptr(), 0o700) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn raw_unshare() -> io::Result<()> {
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
fn no_core_dump() {
    // SAFETY: PR_SET_DUMPABLE takes plain integers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

/// The path argument of `mkdirat(AT_FDCWD, dir)`, which tracer reads from arm64's second
/// argument register (`regs[1]`); absolute, so no dirfd is reported.
fn path_of(dir: &Path) -> PathArg {
    PathArg {
        path: dir.to_str().expect("a UTF-8 temp path").to_owned(),
        truncated: false,
        dirfd: None,
    }
}

fn log() -> i32 {
    let dir = scratch_dir();
    let rule = Rule::aarch64(nr::aarch64::MKDIRAT, Action::Log);
    install(&[rule], Audit::KillAndLog);
    let call = Expected {
        details: Details {
            path: Some(path_of(&dir)),
            ..Details::default()
        },
        ..expected(tid(), rule, "mkdirat", 1)
    };
    announce("log", vec![call], ExpectedExit::Code(0));
    match raw_mkdirat(&dir) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&dir);
            0
        }
        Err(error) => fail(&format!(
            "mkdirat {} under a log action failed: {error}",
            dir.display()
        )),
    }
}

fn kill(action: Action) -> i32 {
    no_core_dump();
    let rule = Rule::aarch64(nr::aarch64::UNSHARE, action);
    install(&[rule], Audit::KillAndLog);
    // A single-threaded process killed by kill_thread dies as a whole, with SIGSYS.
    announce(
        if action == Action::KillThread {
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
        action.name()
    ))
}

static THREAD_SURVIVED: AtomicBool = AtomicBool::new(false);

extern "C" fn doomed_thread(_: *mut libc::c_void) -> *mut libc::c_void {
    // Only this thread is filtered: the main thread must live on to report.
    let rule = Rule::aarch64(nr::aarch64::UNSHARE, Action::KillThread);
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

/// A raw pthread: std's `join` expects the thread to have finished its closure, and a thread
/// killed by seccomp never does.
fn kill_thread_in_thread() -> i32 {
    no_core_dump();
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `doomed_thread` has the signature pthread expects and ignores its argument.
    let ret =
        unsafe { libc::pthread_create(&mut thread, ptr::null(), doomed_thread, ptr::null_mut()) };
    if ret != 0 {
        return fail(&format!(
            "pthread_create: {}",
            io::Error::from_raw_os_error(ret)
        ));
    }
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

/// `siginfo_t` as the kernel fills it for SIGSYS (`_sigsys` in the union); the libc crate does
/// not expose those members.
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
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers, and SIGSYS's layout is
    // the one above. Only atomics are touched: this runs in a signal handler.
    let info = unsafe { &*info.cast::<SigsysInfo>() };
    TRAP_SI_CODE.store(info.si_code, Ordering::SeqCst);
    TRAP_SYSCALL.store(info.syscall, Ordering::SeqCst);
    TRAP_ARCH.store(info.arch, Ordering::SeqCst);
    TRAPPED.store(true, Ordering::SeqCst);
}

fn trap() -> i32 {
    // SAFETY: a zeroed sigaction is valid; the handler has the SA_SIGINFO signature.
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGSYS, &action, ptr::null_mut())
    };
    if installed != 0 {
        return fail(&format!(
            "sigaction(SIGSYS): {}",
            io::Error::last_os_error()
        ));
    }
    let rule = Rule::aarch64(nr::aarch64::GETPGID, Action::Trap);
    // With the log flag: the kernel does not audit traps without it.
    install(&[rule], Audit::EveryAction);
    announce(
        "trap",
        vec![expected(tid(), rule, "getpgid", 1)],
        ExpectedExit::Code(0),
    );
    // SAFETY: getpgid(0) takes an integer; under the filter it does not even run.
    unsafe { libc::syscall(libc::SYS_getpgid, 0) };
    let seen = (
        TRAPPED.load(Ordering::SeqCst),
        TRAP_SI_CODE.load(Ordering::SeqCst),
        TRAP_SYSCALL.load(Ordering::SeqCst),
        TRAP_ARCH.load(Ordering::SeqCst),
    );
    // SYS_SECCOMP (1) is the si_code of a seccomp trap.
    let wanted = (
        true,
        1,
        nr::aarch64::GETPGID as i32,
        filter::AUDIT_ARCH_AARCH64,
    );
    if seen != wanted {
        return fail(&format!(
            "SIGSYS handler saw (trapped, si_code, syscall, arch) = {seen:?}, wanted {wanted:?}"
        ));
    }
    0
}

fn errno() -> i32 {
    let dir = scratch_dir();
    let rule = Rule::aarch64(nr::aarch64::MKDIRAT, Action::Errno(libc::EPERM as u16));
    // Without the log flag the kernel does not audit errno actions.
    install(&[rule], Audit::EveryAction);
    // The errno is read from x0, where the kernel put -EPERM before it audited the call.
    let call = Expected {
        details: Details {
            errno: Some(libc::EPERM),
            errno_name: filter::errno_name(libc::EPERM).map(str::to_owned),
            path: Some(path_of(&dir)),
            ..Details::default()
        },
        ..expected(tid(), rule, "mkdirat", 1)
    };
    announce("errno", vec![call], ExpectedExit::Code(0));
    match raw_mkdirat(&dir) {
        Err(error) if error.raw_os_error() == Some(libc::EPERM) && !dir.exists() => 0,
        Err(error) => fail(&format!(
            "mkdirat under errno(EPERM) failed with {error} instead of EPERM"
        )),
        Ok(()) => {
            let _ = std::fs::remove_dir(&dir);
            fail("mkdirat under errno(EPERM) succeeded")
        }
    }
}

/// Logs the getppid of an arm32 program: the filter, which an exec keeps, logs arm32's number
/// 64 only in the arm table, and this process execs the program, so the call is the plan's pid
/// and tid. arm64's own 64 (write) stays allowed, or printing the plan would be logged too.
fn arm() -> i32 {
    // Named as this program is, so the call's comm is the workload's as for every scenario.
    let dir = std::env::temp_dir().join(format!("seccomp-workload-arm-{}", pid()));
    let program = dir.join("seccomp-workload");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&program, COMPAT_ARM))
        .and_then(|()| std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)));
    if let Err(error) = written {
        return fail(&format!("cannot write {}: {error}", program.display()));
    }
    let rule = Rule::arm(nr::arm::GETPPID, Action::Log);
    install(&[rule], Audit::KillAndLog);
    announce(
        "arm",
        vec![expected(tid(), rule, "getppid", 1)],
        ExpectedExit::Code(0),
    );
    let path = CString::new(program.as_os_str().as_bytes()).expect("no NUL in a temp path");
    let argv = [path.as_ptr(), ptr::null()];
    // SAFETY: `path` and `argv` are NUL-terminated and outlive the call; execv returns only on
    // failure. The program is removed on exec's failure only: once it runs it cannot be.
    unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
    let error = io::Error::last_os_error();
    let _ = std::fs::remove_dir_all(&dir);
    fail(&format!(
        "cannot exec the arm32 program {} (a kernel without CONFIG_COMPAT runs none): {error}",
        program.display()
    ))
}

fn burst(calls: u32) -> i32 {
    let rule = Rule::aarch64(nr::aarch64::GETPPID, Action::Log);
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
