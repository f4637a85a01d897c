//! The scenarios of the detail tests, the same on x86-64 and arm64 with each machine's own
//! table: four errnos (`errnos`), the six argument registers (`args`), paths short, long,
//! absolute and relative to a descriptor (`long-path`), a process killed by its first call
//! (`killed-at-once`), and refusals the kernel does not audit (`unaudited`). arm64 has no
//! legacy path calls, so where x86-64 calls `mkdir` it calls `mkdirat` or `fchmodat`.

use std::{
    ffi::{CStr, CString},
    io,
    path::Path,
};

use super::common::{
    announce, announce_plan, catch_sigsys, check_trapped_getpgid, expected, fail, install,
    no_core_dump, pid, plan, print_line, raw_unshare, scratch_dir, tid, trapped_getpgid,
};
#[cfg(target_arch = "aarch64")]
use tracer_integration_tests::filter::nr::aarch64 as native_nr;
#[cfg(target_arch = "x86_64")]
use tracer_integration_tests::filter::nr::x86_64 as native_nr;
use tracer_integration_tests::{
    filter::{self, Action, Audit, Rule},
    plan::{
        Details, Expected, ExpectedExit, PATH_REPORTED_BYTES, PathArg, Plan, Process, Returned,
    },
};

/// The machine's own `AUDIT_ARCH_*`.
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCH: u32 = filter::AUDIT_ARCH_X86_64;
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCH: u32 = filter::AUDIT_ARCH_AARCH64;

/// A rule on the machine's own table.
fn native(nr: u32, action: Action) -> Rule {
    Rule {
        arch: NATIVE_ARCH,
        nr,
        action,
    }
}

/// A call given an absolute path and mode 0o700: a legacy call takes the path first, an `*at`
/// call after `AT_FDCWD` (which an absolute path ignores, so tracer reports no dirfd).
#[derive(Clone, Copy)]
struct AbsolutePathCall {
    name: &'static str,
    nr: u32,
    at: bool,
}

impl AbsolutePathCall {
    fn args(self, path: &CStr) -> [libc::c_long; 4] {
        let path = path.as_ptr() as libc::c_long;
        if self.at {
            [libc::c_long::from(libc::AT_FDCWD), path, 0o700, 0]
        } else {
            [path, 0o700, 0, 0]
        }
    }
}

/// The path call of `errnos`: x86-64's legacy `mkdir`; arm64 has only `mkdirat`.
#[cfg(target_arch = "x86_64")]
const ERRNOS_PATH_CALL: AbsolutePathCall = AbsolutePathCall {
    name: "mkdir",
    nr: native_nr::MKDIR,
    at: false,
};
#[cfg(target_arch = "aarch64")]
const ERRNOS_PATH_CALL: AbsolutePathCall = AbsolutePathCall {
    name: "mkdirat",
    nr: native_nr::MKDIRAT,
    at: true,
};

/// The absolute path call of `long-path`, whose other calls filter mkdirat: x86-64's legacy
/// `mkdir`; on arm64 `fchmodat`, which the filter refuses before it changes any mode.
#[cfg(target_arch = "x86_64")]
const ABSOLUTE_PATH_CALL: AbsolutePathCall = ERRNOS_PATH_CALL;
#[cfg(target_arch = "aarch64")]
const ABSOLUTE_PATH_CALL: AbsolutePathCall = AbsolutePathCall {
    name: "fchmodat",
    nr: native_nr::FCHMODAT,
    at: true,
};

/// One call of `rule`, with what the caller gets back from its errno action.
pub fn refused_once(rule: Rule, syscall: &str, details: Details) -> Expected {
    let errno = match rule.action {
        Action::Errno(errno) => Some(i32::from(errno)),
        _ => None,
    };
    Expected {
        details: Details {
            errno,
            errno_name: errno.and_then(filter::errno_name).map(str::to_owned),
            ..details
        },
        ..expected(tid(), rule, syscall, 1)
    }
}

/// A system call with up to four arguments, and what the caller saw: the raw return value
/// (`-errno` on failure) and the errno.
fn raw(nr: u32, args: [libc::c_long; 4]) -> (i64, Option<i32>) {
    // SAFETY: the scenarios only pass integers, or pointers to data that outlives the call.
    let ret = unsafe { libc::syscall(libc::c_long::from(nr), args[0], args[1], args[2], args[3]) };
    if ret == -1 {
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        (-i64::from(errno), Some(errno))
    } else {
        (ret, None)
    }
}

/// Prints what a call returned, then checks it failed with the errno `expected` names.
pub fn report(expected: &Expected, (ret, errno): (i64, Option<i32>), ip: Option<u64>) -> bool {
    print_line(
        &serde_json::to_string(&Returned {
            syscall: expected.syscall.clone(),
            arch: expected.arch.clone(),
            syscall_nr: expected.syscall_nr,
            ret,
            errno,
            ip,
        })
        .expect("a returned line is plain data"),
    );
    if errno.is_some() && errno == expected.details.errno {
        return true;
    }
    eprintln!(
        "seccomp-workload: {} returned {ret} (errno {errno:?}), not errno {:?}",
        expected.syscall, expected.details.errno
    );
    false
}

fn c_string(text: &str) -> CString {
    CString::new(text).expect("the scenarios' paths have no NUL")
}

fn absolute(path: &Path) -> PathArg {
    PathArg {
        path: path.to_str().expect("temp paths are UTF-8").to_owned(),
        truncated: false,
        dirfd: None,
    }
}

fn relative(path: &str, dirfd: i32) -> PathArg {
    let truncated = path.len() > PATH_REPORTED_BYTES;
    PathArg {
        path: path[..path.len().min(PATH_REPORTED_BYTES)].to_owned(),
        truncated,
        dirfd: Some(dirfd),
    }
}

/// Four calls refused with four errnos, audited through `SECCOMP_FILTER_FLAG_LOG`: the
/// kernel's record says only `code=0x50000`, so the errno is what the caller saw.
pub fn errnos() -> i32 {
    let dir = scratch_dir();
    let path_call = native(ERRNOS_PATH_CALL.nr, Action::Errno(libc::EACCES as u16));
    let getpgid = native(native_nr::GETPGID, Action::Errno(libc::EPERM as u16));
    let unshare = native(native_nr::UNSHARE, Action::Errno(libc::ENOSYS as u16));
    let getpriority = native(native_nr::GETPRIORITY, Action::Errno(libc::EXDEV as u16));
    install(
        &[path_call, getpgid, unshare, getpriority],
        Audit::EveryAction,
    );
    let expect = vec![
        refused_once(
            path_call,
            ERRNOS_PATH_CALL.name,
            Details {
                path: Some(absolute(&dir)),
                ..Details::default()
            },
        ),
        refused_once(getpgid, "getpgid", Details::default()),
        refused_once(unshare, "unshare", Details::default()),
        refused_once(getpriority, "getpriority", Details::default()),
    ];
    announce("errnos", expect.clone(), ExpectedExit::Code(0));
    let path = c_string(&absolute(&dir).path);
    let results = [
        raw(path_call.nr, ERRNOS_PATH_CALL.args(&path)),
        raw(getpgid.nr, [0; 4]),
        raw(unshare.nr, [0; 4]),
        raw(
            getpriority.nr,
            [libc::PRIO_PROCESS as libc::c_long, 0, 0, 0],
        ),
    ];
    // Every result is printed, also after one that went wrong.
    let ok: Vec<bool> = expect
        .iter()
        .zip(results)
        .map(|(expected, result)| report(expected, result, None))
        .collect();
    if ok.iter().all(|ok| *ok) { 0 } else { 1 }
}

/// Sentinels for the six argument registers, each above 2^53 (where a JSON reader that
/// goes through doubles loses digits) and the last above 2^63 (where a signed one does).
const SENTINELS: [u64; 6] = [
    0x1111_0000_0000_0001,
    0x2222_0000_0000_0002,
    0x3333_0000_0000_0003,
    0x4444_0000_0000_0004,
    0x5555_0000_0000_0005,
    0xf666_0000_0000_0006,
];

/// The `syscall` instruction with all six argument registers set; returns rax and the
/// address after the instruction, which is the `ip` the kernel audits.
#[cfg(target_arch = "x86_64")]
pub fn syscall6(nr: u32, args: [u64; 6]) -> (i64, u64) {
    let ret: i64;
    let ip: u64;
    // SAFETY: the call is one the filter refuses, so the kernel runs nothing and touches no
    // memory; `syscall` clobbers rcx and r11.
    unsafe {
        std::arch::asm!(
            "lea {ip}, [rip + 2f]",
            "syscall",
            "2:",
            ip = out(reg) ip,
            inlateout("rax") i64::from(nr) => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    (ret, ip)
}

/// `svc #0` with the number in x8 and all six argument registers (x0 to x5) set; returns x0
/// and the address after the instruction, which is the `ip` (`pc`) the kernel audits. x0 is
/// both the first argument and the result: tracer reads the argument from `orig_x0`.
#[cfg(target_arch = "aarch64")]
pub fn syscall6(nr: u32, args: [u64; 6]) -> (i64, u64) {
    let ret: i64;
    let ip: u64;
    // SAFETY: the call is one the filter refuses, so the kernel runs nothing and touches no
    // memory; `svc` clobbers no register but x0.
    unsafe {
        std::arch::asm!(
            "adr {ip}, 2f",
            "svc #0",
            "2:",
            ip = out(reg) ip,
            in("x8") u64::from(nr),
            inlateout("x0") args[0] as i64 => ret,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            options(nostack),
        );
    }
    (ret, ip)
}

pub fn errno_of(ret: i64) -> (i64, Option<i32>) {
    let errno = (-4095..0).contains(&ret).then(|| -ret as i32);
    (ret, errno)
}

/// getpriority refused with EPERM, made with a sentinel in each argument register: the
/// kernel never runs it, so the values need not make sense to it.
pub fn sentinel_args() -> i32 {
    let rule = native(native_nr::GETPRIORITY, Action::Errno(libc::EPERM as u16));
    install(&[rule], Audit::EveryAction);
    let expected = refused_once(
        rule,
        "getpriority",
        Details {
            args: Some(SENTINELS),
            ..Details::default()
        },
    );
    announce("args", vec![expected.clone()], ExpectedExit::Code(0));
    let (ret, ip) = syscall6(rule.nr, SENTINELS);
    if report(&expected, errno_of(ret), Some(ip)) {
        0
    } else {
        1
    }
}

/// A relative path longer than tracer reports (over 300 bytes, ASCII so the cut falls
/// between characters).
fn long_relative_path() -> String {
    let mut path = format!("seccomp-workload-{}-long", pid());
    while path.len() <= 300 {
        path.push_str("/0123456789abcdef");
    }
    path
}

/// Path calls refused with ERRNO and audited: short and long relative paths from the
/// current directory (`AT_FDCWD`) and from an open directory, and an absolute path.
pub fn long_path() -> i32 {
    let short = format!("seccomp-workload-{}-short", pid());
    let long = long_relative_path();
    let absolute_dir = scratch_dir();
    let temp = c_string(std::env::temp_dir().to_str().expect("a UTF-8 temp dir"));
    // SAFETY: `temp` is a valid path; the descriptor is closed when the process ends.
    let dir_fd = unsafe { libc::open(temp.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    if dir_fd < 0 {
        return fail(&format!(
            "cannot open {}: {}",
            std::env::temp_dir().display(),
            io::Error::last_os_error()
        ));
    }
    let mkdirat = native(native_nr::MKDIRAT, Action::Errno(libc::EACCES as u16));
    let openat = native(native_nr::OPENAT, Action::Errno(libc::ENOENT as u16));
    let absolute_call = native(ABSOLUTE_PATH_CALL.nr, Action::Errno(libc::EROFS as u16));
    let unlinkat = native(native_nr::UNLINKAT, Action::Errno(libc::EPERM as u16));
    // From here on the process must open nothing but the planned call: every openat is
    // refused and audited.
    install(
        &[mkdirat, openat, absolute_call, unlinkat],
        Audit::EveryAction,
    );
    let with_path = |path| Details {
        path: Some(path),
        ..Details::default()
    };
    let expect = vec![
        refused_once(
            mkdirat,
            "mkdirat",
            with_path(relative(&short, libc::AT_FDCWD)),
        ),
        refused_once(openat, "openat", with_path(relative(&long, libc::AT_FDCWD))),
        refused_once(
            absolute_call,
            ABSOLUTE_PATH_CALL.name,
            with_path(absolute(&absolute_dir)),
        ),
        refused_once(unlinkat, "unlinkat", with_path(relative(&short, dir_fd))),
    ];
    announce("long-path", expect.clone(), ExpectedExit::Code(0));
    let (short, long) = (c_string(&short), c_string(&long));
    let absolute_dir = c_string(&absolute(&absolute_dir).path);
    let at_fdcwd = libc::c_long::from(libc::AT_FDCWD);
    let results = [
        raw(
            mkdirat.nr,
            [at_fdcwd, short.as_ptr() as libc::c_long, 0o700, 0],
        ),
        raw(openat.nr, [at_fdcwd, long.as_ptr() as libc::c_long, 0, 0]),
        raw(absolute_call.nr, ABSOLUTE_PATH_CALL.args(&absolute_dir)),
        raw(
            unlinkat.nr,
            [
                libc::c_long::from(dir_fd),
                short.as_ptr() as libc::c_long,
                0,
                0,
            ],
        ),
    ];
    // Every result is printed, also after one that went wrong.
    let ok: Vec<bool> = expect
        .iter()
        .zip(results)
        .map(|(expected, result)| report(expected, result, None))
        .collect();
    if ok.iter().all(|ok| *ok) { 0 } else { 1 }
}

/// What this process is, as it sees itself: the truth for `exe`, `cmdline`, `parent_comm`
/// and the namespace ids, read before anything can kill it.
fn process_itself() -> Process {
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|exe| exe.display().to_string())
        .unwrap_or_default();
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() };
    let parent_comm = std::fs::read_to_string(format!("/proc/{ppid}/comm"))
        .map(|comm| comm.trim_end_matches('\n').to_owned())
        .unwrap_or_default();
    Process {
        exe,
        cmdline: std::env::args().collect::<Vec<_>>().join(" "),
        ppid: ppid as u32,
        parent_comm,
        ns_pid: pid(),
        ns_ppid: ppid as u32,
    }
}

/// Killed (the whole process) by its first filtered call: by the time tracer reads the
/// event the process is gone, and its exe, argv and parent must have been taken while it
/// ran. The tag argument only makes the command line recognizable.
pub fn killed_at_once() -> i32 {
    no_core_dump();
    let process = process_itself();
    let rule = native(native_nr::UNSHARE, Action::KillProcess);
    install(&[rule], Audit::KillAndLog);
    announce_plan(&Plan {
        process: Some(process),
        ..plan(
            "killed-at-once",
            vec![expected(tid(), rule, "unshare", 1)],
            ExpectedExit::Signal("SIGSYS".into()),
        )
    });
    let result = raw_unshare();
    fail(&format!(
        "unshare under kill_process returned ({result:?}) instead of killing"
    ))
}

/// A call refused with ERRNO and one trapped by a filter without
/// `SECCOMP_FILTER_FLAG_LOG`, which the kernel audits neither of, and a call the filter
/// allows and the kernel itself refuses with EPERM: raising RLIMIT_NOFILE's hard limit
/// above fs.nr_open, which fails even for root.
pub fn unaudited() -> i32 {
    if let Err(error) = catch_sigsys() {
        return fail(&error);
    }
    let nr_open: u64 = match std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
    {
        Some(nr_open) => nr_open,
        None => return fail("cannot read /proc/sys/fs/nr_open"),
    };
    let short = format!("seccomp-workload-{}-unaudited", pid());
    let mkdirat = native(native_nr::MKDIRAT, Action::Errno(libc::EROFS as u16));
    let getpgid = native(native_nr::GETPGID, Action::Trap);
    install(&[mkdirat, getpgid], Audit::KillAndLog);
    let refused = refused_once(
        mkdirat,
        "mkdirat",
        Details {
            path: Some(relative(&short, libc::AT_FDCWD)),
            ..Details::default()
        },
    );
    let prlimit = Expected {
        details: Details {
            errno: Some(libc::EPERM),
            errno_name: Some("EPERM".into()),
            ..Details::default()
        },
        ..expected(
            tid(),
            native(native_nr::PRLIMIT64, Action::Allow),
            "prlimit64",
            1,
        )
    };
    announce_plan(&Plan {
        unaudited: vec![refused.clone(), expected(tid(), getpgid, "getpgid", 1)],
        not_seccomp: vec![prlimit.clone()],
        ..plan("unaudited", Vec::new(), ExpectedExit::Code(0))
    });
    let short = c_string(&short);
    let refused_result = raw(
        mkdirat.nr,
        [
            libc::c_long::from(libc::AT_FDCWD),
            short.as_ptr() as libc::c_long,
            0o700,
            0,
        ],
    );
    let limit = libc::rlimit64 {
        rlim_cur: nr_open + 1,
        rlim_max: nr_open + 1,
    };
    let prlimit_result = raw(
        prlimit.syscall_nr,
        [
            0,
            libc::c_long::from(libc::RLIMIT_NOFILE),
            &limit as *const libc::rlimit64 as libc::c_long,
            0,
        ],
    );
    trapped_getpgid();
    let refused_ok = report(&refused, refused_result, None);
    let prlimit_ok = report(&prlimit, prlimit_result, None);
    let trapped_ok = check_trapped_getpgid(native_nr::GETPGID, NATIVE_ARCH)
        .inspect_err(|error| eprintln!("seccomp-workload: {error}"))
        .is_ok();
    if refused_ok && prlimit_ok && trapped_ok {
        0
    } else {
        1
    }
}
