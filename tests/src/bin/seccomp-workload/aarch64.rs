//! The arm64 scenarios: each action on arm64's own numbers (which have no `mkdir`: `mkdirat`
//! stands in), a burst, `arm`, whose logged call is made by an arm32 program in the same
//! process, and the detail tests' scenarios (`details`). The x86-64 scenarios that need x86
//! instructions or tables (i386, x32, numbered bursts) have no counterpart here; the arm32
//! program stands for i386's compat calls.

use std::{
    ffi::CString,
    io,
    os::unix::{ffi::OsStrExt as _, fs::PermissionsExt as _},
    path::Path,
    ptr,
};

use super::common::{
    announce, burst, expected, fail, install, kill, kill_thread_in_thread, pid, scratch_dir, tid,
    trap,
};
use super::details::{errnos, killed_at_once, long_path, sentinel_args, unaudited};
use tracer_integration_tests::{
    filter::{self, Action, Audit, Rule, nr},
    plan::{Details, Expected, ExpectedExit, PathArg},
};

/// workloads/compat_arm.c, built static for arm32 by build.rs.
const COMPAT_ARM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/compat_arm"));

const USAGE: &str = "usage: seccomp-workload SCENARIO [ARGS]\n\
    scenarios (arm64): log, kill-thread, kill-thread-in-thread, kill-process, trap, errno, arm, \
    burst N, errnos, args, long-path, killed-at-once TAG, unaudited";

pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["log"] => log(),
        ["kill-thread"] => kill(Rule::aarch64(nr::aarch64::UNSHARE, Action::KillThread)),
        ["kill-process"] => kill(Rule::aarch64(nr::aarch64::UNSHARE, Action::KillProcess)),
        ["kill-thread-in-thread"] => {
            kill_thread_in_thread(Rule::aarch64(nr::aarch64::UNSHARE, Action::KillThread))
        }
        ["trap"] => trap(Rule::aarch64(nr::aarch64::GETPGID, Action::Trap)),
        ["errno"] => errno(),
        ["arm"] => arm(),
        ["burst", calls] => match calls.parse() {
            Ok(calls) => burst(Rule::aarch64(nr::aarch64::GETPPID, Action::Log), calls),
            Err(_) => usage_error(&format!("burst: {calls:?} is not a number of calls")),
        },
        ["errnos"] => errnos(),
        ["args"] => sentinel_args(),
        ["long-path"] => long_path(),
        ["killed-at-once", _tag] => killed_at_once(),
        ["unaudited"] => unaudited(),
        _ => usage_error(&format!("unknown arguments {args:?}")),
    }
}

fn usage_error(message: &str) -> i32 {
    eprintln!("seccomp-workload: {message}\n{USAGE}");
    2
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
