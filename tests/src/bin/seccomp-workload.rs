//! Makes system calls under its own seccomp filter, one scenario per run, so each seccomp action
//! is audited a known number of times by a known process and thread.
//!
//! `seccomp-workload <scenario> [args]`. Before its first filtered call each scenario prints one
//! JSON line (a `Plan`) saying which audited calls to expect and how the process will end. Exit
//! codes: 0 or the planned signal when the scenario went as planned, 1 when it did not, 2 for
//! bad arguments, 77 when this kernel cannot run the scenario at all.

#[cfg(target_arch = "x86_64")]
fn main() {
    std::process::exit(x86_64::main());
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("seccomp-workload: the scenarios use x86-64 system call numbers and instructions");
    std::process::exit(2);
}

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use std::{
        ffi::CString,
        io::{self, Write as _},
        os::unix::ffi::OsStrExt as _,
        path::{Path, PathBuf},
        ptr,
        sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering},
    };

    use tracer_integration_tests::{
        filter::{self, Action, Audit, Rule, X32_SYSCALL_BIT, nr},
        plan::{EXIT_UNSUPPORTED, Expected, ExpectedExit, Plan},
    };

    const USAGE: &str = "usage: seccomp-workload SCENARIO [ARGS]\n\
        scenarios: log, kill-thread, kill-thread-in-thread, kill-process, trap, errno, i386, \
        x32, burst N";

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
            ["i386"] => i386(),
            ["x32"] => x32(),
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
        };
        let line = serde_json::to_string(&plan).expect("a plan is plain data");
        let mut stdout = io::stdout().lock();
        if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
            eprintln!("seccomp-workload: cannot print the plan: {error}");
            std::process::exit(1);
        }
    }

    /// A directory name nobody else uses; the scenarios go through the raw system call so the
    /// number the filter sees is certain (libc may pick `mkdirat`).
    fn scratch_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("seccomp-workload-{}", pid()));
        let _ = std::fs::remove_dir(&dir);
        dir
    }

    fn raw_mkdir(path: &Path) -> io::Result<()> {
        let path = CString::new(path.as_os_str().as_bytes()).expect("no NUL in a temp path");
        // SAFETY: `path` is a valid NUL-terminated string for the duration of the call.
        let ret = unsafe { libc::syscall(libc::SYS_mkdir, path.as_ptr(), 0o700) };
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

    fn log() -> i32 {
        let dir = scratch_dir();
        let rule = Rule::x86_64(nr::x86_64::MKDIR, Action::Log);
        install(&[rule], Audit::KillAndLog);
        announce(
            "log",
            vec![expected(tid(), rule, "mkdir", 1)],
            ExpectedExit::Code(0),
        );
        match raw_mkdir(&dir) {
            Ok(()) => {
                let _ = std::fs::remove_dir(&dir);
                0
            }
            Err(error) => fail(&format!(
                "mkdir {} under a log action failed: {error}",
                dir.display()
            )),
        }
    }

    fn kill(action: Action) -> i32 {
        no_core_dump();
        let rule = Rule::x86_64(nr::x86_64::UNSHARE, action);
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
        let rule = Rule::x86_64(nr::x86_64::UNSHARE, Action::KillThread);
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

    /// A raw pthread rather than `std::thread`: std's `join` expects the thread to have
    /// finished its closure, and a thread killed by seccomp never does.
    fn kill_thread_in_thread() -> i32 {
        no_core_dump();
        let mut thread: libc::pthread_t = 0;
        // SAFETY: `doomed_thread` has the signature pthread expects and ignores its argument.
        let ret = unsafe {
            libc::pthread_create(&mut thread, ptr::null(), doomed_thread, ptr::null_mut())
        };
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
        let rule = Rule::x86_64(nr::x86_64::GETPGID, Action::Trap);
        // Without the log flag the kernel does not audit traps.
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
            nr::x86_64::GETPGID as i32,
            filter::AUDIT_ARCH_X86_64,
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
        let rule = Rule::x86_64(nr::x86_64::MKDIR, Action::Errno(libc::EPERM as u16));
        // Without the log flag the kernel does not audit errno actions.
        install(&[rule], Audit::EveryAction);
        announce(
            "errno",
            vec![expected(tid(), rule, "mkdir", 1)],
            ExpectedExit::Code(0),
        );
        match raw_mkdir(&dir) {
            Err(error) if error.raw_os_error() == Some(libc::EPERM) && !dir.exists() => 0,
            Err(error) => fail(&format!(
                "mkdir under errno(EPERM) failed with {error} instead of EPERM"
            )),
            Ok(()) => {
                let _ = std::fs::remove_dir(&dir);
                fail("mkdir under errno(EPERM) succeeded")
            }
        }
    }

    /// Makes an i386 system call without arguments through `int $0x80`.
    fn i386_syscall0(nr: u32) -> i32 {
        let ret: i32;
        // SAFETY: the call takes no arguments and touches no memory of ours. Kernels before
        // 4.17 zeroed r8-r11 on return from `int $0x80`, hence the clobbers.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inlateout("eax") nr as i32 => ret,
                lateout("r8") _,
                lateout("r9") _,
                lateout("r10") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// Kernels without IA32 emulation answer `int $0x80` with a fatal signal, so try it in a
    /// child first.
    fn i386_calls_work() -> bool {
        // SAFETY: the child only makes system calls and `_exit`s; it touches no locks.
        match unsafe { libc::fork() } {
            -1 => false,
            0 => {
                let works = i386_syscall0(nr::i386::GETPID) == unsafe { libc::getpid() };
                unsafe { libc::_exit(if works { 0 } else { 1 }) }
            }
            child => {
                let mut status = 0;
                // SAFETY: `child` is our child and `status` a valid out-pointer.
                let waited = unsafe { libc::waitpid(child, &mut status, 0) };
                waited == child && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
            }
        }
    }

    fn i386() -> i32 {
        if !i386_calls_work() {
            eprintln!(
                "seccomp-workload: this kernel cannot run i386 system calls (built without \
                 CONFIG_IA32_EMULATION, or booted with ia32_emulation=0)"
            );
            return EXIT_UNSUPPORTED;
        }
        let rule = Rule::i386(nr::i386::GETPID, Action::Log);
        install(&[rule], Audit::KillAndLog);
        announce(
            "i386",
            vec![expected(tid(), rule, "getpid", 1)],
            ExpectedExit::Code(0),
        );
        let ret = i386_syscall0(nr::i386::GETPID);
        if u32::try_from(ret) != Ok(pid()) {
            return fail(&format!(
                "i386 getpid returned {ret}, not our pid {}",
                pid()
            ));
        }
        0
    }

    /// seccomp sees the number before the kernel decides whether it has an x32 table, so the
    /// call is audited even where the kernel lacks x32 and then fails it with ENOSYS.
    fn x32() -> i32 {
        let rule = Rule::x86_64(X32_SYSCALL_BIT | nr::x86_64::GETPID, Action::Log);
        install(&[rule], Audit::KillAndLog);
        announce(
            "x32",
            vec![expected(tid(), rule, "getpid", 1)],
            ExpectedExit::Code(0),
        );
        // SAFETY: getpid takes no arguments.
        let ret = unsafe { libc::syscall(libc::c_long::from(rule.nr)) };
        let error = io::Error::last_os_error();
        if ret == libc::c_long::from(pid()) || error.raw_os_error() == Some(libc::ENOSYS) {
            0
        } else {
            fail(&format!("x32 getpid returned {ret} ({error})"))
        }
    }

    fn burst(calls: u32) -> i32 {
        let rule = Rule::x86_64(nr::x86_64::GETPPID, Action::Log);
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
}
