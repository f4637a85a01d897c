//! Against the running kernel, as root: a process of ours makes seccomp log a system call, and
//! the record must come back through the multicast group with every field right.

use std::time::{Duration, Instant};

use super::{
    netlink::{AuditRecords, DEFAULT_RECEIVE_BUFFER_BYTES, NetlinkError},
    status,
};
use crate::events::audit_record::SeccompRecord;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
const LOGGED_SYSCALL: libc::c_long = libc::SYS_getppid;
const ACTIONS_LOGGED: &str = "/proc/sys/kernel/seccomp/actions_logged";

fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump_if_equal(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

/// Runs a child that makes seccomp log `LOGGED_SYSCALL` `calls` times, waits for it and returns
/// its pid.
fn run_logging_child(calls: usize) -> u32 {
    let actions = std::fs::read_to_string(ACTIONS_LOGGED)
        .unwrap_or_else(|e| panic!("reading {ACTIONS_LOGGED}: {e}"));
    assert!(
        actions.split_whitespace().any(|a| a == "log"),
        "this kernel does not log SECCOMP_RET_LOG ({ACTIONS_LOGGED} is {actions:?})"
    );
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    // seccomp_data: nr at offset 0, arch at 4.
    let filter = [
        statement(load, 4),
        jump_if_equal(AUDIT_ARCH, 0, 3),
        statement(load, 0),
        jump_if_equal(LOGGED_SYSCALL as u32, 0, 1),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_LOG),
        statement(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: the child only makes system calls and exits (no allocation or locks, which other
    // test threads may have held at the fork); `program` and `filter` outlive both uses.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: as above; every path ends in _exit.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) != 0 {
                libc::_exit(2);
            }
            if libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &raw const program,
            ) != 0
            {
                libc::_exit(3);
            }
            for _ in 0..calls {
                libc::syscall(LOGGED_SYSCALL);
            }
            libc::_exit(0);
        }
    }
    let mut wait_status = 0;
    // SAFETY: waits for our own child, writing its status into a live local.
    let waited = unsafe { libc::waitpid(pid, &mut wait_status, 0) };
    assert_eq!(waited, pid, "waitpid: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(wait_status) && libc::WEXITSTATUS(wait_status) == 0,
        "the child could not install its seccomp filter (wait status {wait_status:#x})"
    );
    pid as u32
}

/// Reads records of `pid` until `count` have come or `timeout` has passed.
async fn records_of(
    records: &mut AuditRecords,
    pid: u32,
    count: usize,
    timeout: Duration,
) -> (Vec<SeccompRecord>, u64) {
    let deadline = Instant::now() + timeout;
    let mut found = Vec::new();
    while found.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(ready) = tokio::time::timeout(left, records.ready()).await else {
            break;
        };
        ready.unwrap_or_else(|e| panic!("waiting for audit records: {e}"));
        records
            .read_queued(usize::MAX, &mut |text| {
                let record = SeccompRecord::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
                if record.pid == pid {
                    found.push(record);
                }
            })
            .await
            .unwrap_or_else(|e| panic!("reading audit records: {e}"));
    }
    (found, records.dropped().expect("the socket's drop count"))
}

#[tokio::test]
#[ignore = "needs root and BPF: cargo xtask test runs it as root"]
async fn receives_the_record_of_a_logged_system_call() {
    let mut records =
        AuditRecords::subscribe(DEFAULT_RECEIVE_BUFFER_BYTES).expect("subscribing as root");
    let before = wall_clock_ns();
    let pid = run_logging_child(1);
    let (found, overflows) = records_of(&mut records, pid, 1, Duration::from_secs(5)).await;
    assert_eq!(overflows, 0);
    let [record] = found.as_slice() else {
        panic!("expected one record of pid {pid} within 5 s, got {found:?}");
    };
    assert_eq!(record.syscall, LOGGED_SYSCALL as u32, "{record:?}");
    assert_eq!(record.arch, AUDIT_ARCH, "{record:?}");
    assert_eq!(record.code, libc::SECCOMP_RET_LOG, "{record:?}");
    assert_eq!(record.sig, Some(0), "{record:?}");
    // SAFETY: getuid cannot fail.
    assert_eq!(record.uid, Some(unsafe { libc::getuid() }), "{record:?}");
    let exe = std::env::current_exe().expect("own executable");
    assert_eq!(record.exe.as_deref(), exe.to_str(), "{record:?}");
    // The kernel truncates comm to 15 bytes; the harness names threads after tests.
    assert!(record.comm.is_some(), "{record:?}");
    // The header has the wall clock in milliseconds, read from the coarse clock, which may
    // lag a few ticks.
    let after = wall_clock_ns();
    assert!(
        (before - 50_000_000..=after).contains(&record.timestamp_ns),
        "{record:?} not within [{before}, {after}]"
    );
}

#[tokio::test]
#[ignore = "needs root and BPF: cargo xtask test runs it as root"]
async fn receives_every_record_of_a_burst() {
    const CALLS: usize = 500;
    let mut records =
        AuditRecords::subscribe(DEFAULT_RECEIVE_BUFFER_BYTES).expect("subscribing as root");
    let buffer = records.receive_buffer_bytes().expect("SO_RCVBUF");
    let before = status::read().expect("AUDIT_GET as root");
    let pid = run_logging_child(CALLS);
    let (found, overflows) = records_of(&mut records, pid, CALLS, Duration::from_secs(20)).await;
    let after = status::read().expect("AUDIT_GET as root");
    // Shown with --nocapture: how the kernel's lost counter moved while nothing was lost here.
    eprintln!(
        "burst of {CALLS} from pid {pid}: {} received, {overflows} overflows, receive buffer {buffer} bytes, \
         kernel lost {} -> {} (+{}), printk_ratelimit {:?}, status after {after:?}",
        found.len(),
        before.lost,
        after.lost,
        after.lost_since(&before),
        std::fs::read_to_string("/proc/sys/kernel/printk_ratelimit").map(|s| s.trim().to_owned()),
    );
    assert_eq!((found.len(), overflows), (CALLS, 0));
    let serials: std::collections::BTreeSet<_> = found.iter().map(|r| r.serial).collect();
    assert_eq!(serials.len(), CALLS, "each record is an event of its own");
}

#[test]
#[ignore = "needs root and BPF: cargo xtask test runs it as root"]
fn reads_the_kernel_audit_status() {
    let first = status::read().expect("AUDIT_GET as root");
    assert!(first.backlog_limit > 0, "{first:?}");
    let second = status::read().expect("AUDIT_GET as root");
    assert!(
        second.lost_since(&first) < u32::MAX / 2,
        "the lost counter went back: {first:?} then {second:?}"
    );
}

#[test]
#[ignore = "needs root and BPF: cargo xtask test runs it as root"]
fn tells_what_to_do_without_cap_audit_read() {
    // Capabilities belong to a thread: dropping it in a thread of its own leaves the others'.
    let refused = std::thread::spawn(|| {
        caps::drop(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_AUDIT_READ,
        )
        .expect("dropping CAP_AUDIT_READ from this thread");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a runtime");
        let _entered = runtime.enter();
        AuditRecords::subscribe(DEFAULT_RECEIVE_BUFFER_BYTES).err()
    })
    .join()
    .expect("the thread ran");
    let error = refused.expect("subscribing without CAP_AUDIT_READ must fail");
    assert!(matches!(error, NetlinkError::NoAuditRead), "{error:?}");
    assert!(error.to_string().contains("run as root"), "{error}");
}

fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
}
