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

#[cfg(target_arch = "aarch64")]
fn main() {
    std::process::exit(aarch64::main());
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn main() {
    eprintln!("seccomp-workload: the scenarios use x86-64 or arm64 system call numbers");
    std::process::exit(2);
}

/// What the scenarios of every architecture share.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[path = "seccomp-workload/common.rs"]
mod common;

/// The scenarios of the detail tests, on the machine's own table.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[path = "seccomp-workload/details.rs"]
mod details;

/// arm64's own scenarios: the actions, a burst, and arm32 compat calls.
#[cfg(target_arch = "aarch64")]
#[path = "seccomp-workload/aarch64.rs"]
mod aarch64;

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use std::{ffi::CString, io, os::unix::ffi::OsStrExt as _, path::Path};

    use super::common::{
        announce, burst, expected, fail, install, kill, kill_thread_in_thread, pid, scratch_dir,
        tid, trap,
    };
    use super::details::{
        errno_of, errnos, killed_at_once, long_path, refused_once, report, sentinel_args, syscall6,
        unaudited,
    };
    use tracer_integration_tests::{
        filter::{Action, Audit, Rule, X32_SYSCALL_BIT, nr},
        plan::{Details, EXIT_UNSUPPORTED, ExpectedExit, LOGGED_TWICE_ARGS, NUMBERED_CALL_BYTES},
    };

    const USAGE: &str = "usage: seccomp-workload SCENARIO [ARGS]\n\
        scenarios: log, kill-thread, kill-thread-in-thread, kill-process, trap, errno, i386, \
        x32, burst N, numbered-burst N, errnos, args, args-i386, long-path, killed-at-once TAG, unaudited, \
        logged-twice";

    pub fn main() -> i32 {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            ["log"] => log(),
            ["kill-thread"] => kill(Rule::x86_64(nr::x86_64::UNSHARE, Action::KillThread)),
            ["kill-process"] => kill(Rule::x86_64(nr::x86_64::UNSHARE, Action::KillProcess)),
            ["kill-thread-in-thread"] => {
                kill_thread_in_thread(Rule::x86_64(nr::x86_64::UNSHARE, Action::KillThread))
            }
            ["trap"] => trap(Rule::x86_64(nr::x86_64::GETPGID, Action::Trap)),
            ["errno"] => errno(),
            ["i386"] => i386(),
            ["x32"] => x32(),
            ["burst", calls] => match calls.parse() {
                Ok(calls) => burst(Rule::x86_64(nr::x86_64::GETPPID, Action::Log), calls),
                Err(_) => usage_error(&format!("burst: {calls:?} is not a number of calls")),
            },
            ["numbered-burst", calls] => match calls.parse() {
                Ok(calls) => numbered_burst(calls),
                Err(_) => usage_error(&format!("numbered-burst: {calls:?} is not a number")),
            },
            ["errnos"] => errnos(),
            ["args"] => sentinel_args(),
            ["args-i386"] => args_i386(),
            ["long-path"] => long_path(),
            ["killed-at-once", _tag] => killed_at_once(),
            ["unaudited"] => unaudited(),
            ["logged-twice"] => logged_twice(),
            _ => usage_error(&format!("unknown arguments {args:?}")),
        }
    }

    fn usage_error(message: &str) -> i32 {
        eprintln!("seccomp-workload: {message}\n{USAGE}");
        2
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

    /// `calls` logged getppid calls, each from a call site of its own, so the kernel's record of
    /// call `i` (whatever the source: the audit record has no arguments) carries a number of
    /// its own: `ip`, the first site's plus `i` × [`NUMBERED_CALL_BYTES`].
    fn numbered_burst(calls: u32) -> i32 {
        // mov eax, SYS_getppid; syscall; ret
        const SITE: [u8; 8] = [0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xc3];
        const _: () = assert!(SITE.len() as u64 == NUMBERED_CALL_BYTES);
        const _: () = assert!(libc::SYS_getppid == 110);
        let len = (calls as usize).max(1) * SITE.len();
        // SAFETY: a fresh anonymous mapping; written while writable, run once executable.
        let sites = unsafe {
            let map = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if map == libc::MAP_FAILED {
                return fail(&format!("mmap: {}", io::Error::last_os_error()));
            }
            let bytes = std::slice::from_raw_parts_mut(map.cast::<u8>(), len);
            for site in bytes.chunks_exact_mut(SITE.len()) {
                site.copy_from_slice(&SITE);
            }
            if libc::mprotect(map, len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
                return fail(&format!("mprotect: {}", io::Error::last_os_error()));
            }
            map.cast::<u8>()
        };
        let rule = Rule::x86_64(nr::x86_64::GETPPID, Action::Log);
        install(&[rule], Audit::KillAndLog);
        let mut numbered = expected(tid(), rule, "getppid", calls);
        // After the `syscall` instruction of the first site.
        numbered.details.ip = Some(sites as u64 + 7);
        announce("numbered-burst", vec![numbered], ExpectedExit::Code(0));
        for i in 0..calls as usize {
            // SAFETY: each site is a complete function that clobbers only rax, rcx and r11,
            // which the C calling convention lets a callee clobber.
            let site: extern "C" fn() -> i64 =
                unsafe { std::mem::transmute(sites.add(i * SITE.len())) };
            site();
        }
        0
    }

    /// i386 registers hold 32 bits.
    const SENTINELS_32: [u32; 6] = [
        0x1111_0001,
        0x2222_0002,
        0x3333_0003,
        0x4444_0004,
        0x5555_0005,
        0xf666_0006,
    ];

    /// `int $0x80` with ebx, ecx, edx, esi, edi and ebp set. LLVM keeps rbx and rbp for itself,
    /// so they are saved on the stack around the call and loaded by hand; the upper halves of
    /// every register are zero, so what the kernel saved is exactly the 32-bit value.
    fn int80_6(nr: u32, args: [u32; 6]) -> (i32, u64) {
        let rax: u64;
        let ip: u64;
        // SAFETY: as in `syscall6`; the pushes are popped before the block ends, and without
        // `nostack` the compiler keeps nothing in the red zone below the stack pointer.
        unsafe {
            std::arch::asm!(
                "push rbp",
                "push rbx",
                "mov ebx, {a0:e}",
                "mov ebp, {a5:e}",
                "int 0x80",
                "2:",
                // Taken after the call: the kernel does not keep every 64-bit register across
                // an i386 call.
                "lea {ip}, [rip + 2b]",
                "pop rbx",
                "pop rbp",
                a0 = in(reg) u64::from(args[0]),
                a5 = in(reg) u64::from(args[5]),
                ip = lateout(reg) ip,
                inlateout("rax") u64::from(nr) => rax,
                in("rcx") u64::from(args[1]),
                in("rdx") u64::from(args[2]),
                in("rsi") u64::from(args[3]),
                in("rdi") u64::from(args[4]),
                lateout("r8") _,
                lateout("r9") _,
                lateout("r10") _,
                lateout("r11") _,
            );
        }
        // The kernel returns an i386 call's result in eax.
        (rax as u32 as i32, ip)
    }

    fn args_i386() -> i32 {
        if !i386_calls_work() {
            eprintln!(
                "seccomp-workload: this kernel cannot run i386 system calls (built without \
                 CONFIG_IA32_EMULATION, or booted with ia32_emulation=0)"
            );
            return EXIT_UNSUPPORTED;
        }
        let rule = Rule::i386(nr::i386::GETPRIORITY, Action::Errno(libc::EPERM as u16));
        install(&[rule], Audit::EveryAction);
        let expected = refused_once(
            rule,
            "getpriority",
            Details {
                args: Some(SENTINELS_32.map(u64::from)),
                ..Details::default()
            },
        );
        announce("args-i386", vec![expected.clone()], ExpectedExit::Code(0));
        let (ret, ip) = int80_6(rule.nr, SENTINELS_32);
        if report(&expected, errno_of(i64::from(ret)), Some(ip)) {
            0
        } else {
            1
        }
    }

    /// getpriority logged twice, half a second apart, from the same place with different
    /// arguments (`LOGGED_TWICE_ARGS`): the audit source watches a logged call's entries only
    /// once it saw one logged, so with `--all-denials` the first has no details and the second
    /// exactly its own. The kernel runs both calls: the bogus `which` makes them fail with
    /// EINVAL and change nothing.
    fn logged_twice() -> i32 {
        let rule = Rule::x86_64(nr::x86_64::GETPRIORITY, Action::Log);
        install(&[rule], Audit::KillAndLog);
        announce(
            "logged-twice",
            vec![expected(tid(), rule, "getpriority", 2)],
            ExpectedExit::Code(0),
        );
        let mut ok = true;
        for (at, args) in LOGGED_TWICE_ARGS.into_iter().enumerate() {
            if at > 0 {
                // Time for tracer to read the first record and start watching.
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            let (ret, _) = syscall6(rule.nr, args);
            if ret != -i64::from(libc::EINVAL) {
                eprintln!("seccomp-workload: logged getpriority returned {ret}, not -EINVAL");
                ok = false;
            }
        }
        if ok { 0 } else { 1 }
    }
}
