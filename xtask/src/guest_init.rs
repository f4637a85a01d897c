//! What every guest's init does first, on x86-64 and arm64 alike: stdio on the console, the file
//! systems tracer needs, and loopback up ([`SYSTEM`]); then, in the test guests, printk settings
//! under which the tests can compare every audit record, and the audit source's boot, which runs
//! its test alone ([`TESTS`]).

/// The start of every guest's init script, the performance lab's included.
pub const SYSTEM: &str = r#"#!/bin/busybox sh
export PATH=/bin:/usr/sbin:/usr/bin:/sbin
export RUST_BACKTRACE=1
export TRACER_BIN=/bin/tracer SECCOMP_WORKLOAD=/bin/seccomp-workload
mount -t devtmpfs devtmpfs /dev
# With no /dev/console in the archive the kernel started us without stdio.
exec 0</dev/console 1>/dev/console 2>&1

mnt() {
    mkdir -p "$3"
    mount -t "$1" "$2" "$3" || echo "init: cannot mount $1 on $3"
}
mnt proc proc /proc
mnt sysfs sysfs /sys
mnt tmpfs tmpfs /tmp
mnt tmpfs tmpfs /run
mnt bpf bpf /sys/fs/bpf
mnt tracefs tracefs /sys/kernel/tracing
mnt debugfs debugfs /sys/kernel/debug
mnt cgroup2 cgroup2 /sys/fs/cgroup
mnt devpts devpts /dev/pts
mnt tmpfs tmpfs /var/lib
# The kernel starts with loopback down; tests serve and scrape metrics on 127.0.0.1.
ip link set lo up || echo "init: cannot bring up lo"
"#;

/// What a test guest's init does after [`SYSTEM`], up to where its own tests begin.
pub const TESTS: &str = r#"
# Without auditd the kernel prints seccomp audit records through printk_ratelimit(), which
# would drop some of them; the tests compare every record.
echo 1000000 > /proc/sys/kernel/printk_ratelimit_burst
echo 0 > /proc/sys/kernel/printk_ratelimit
# The records stay readable in dmesg; on the console they would drown the test output.
dmesg -n 1

# A boot for the audit source (kernel parameter tracer.suite=audit, with audit=1) runs its test
# alone.
if grep -qw tracer.suite=audit /proc/cmdline; then
    echo "init: probe audit"
    result=passed
    /bin/audit_boot --test-threads=1 || result=failed
    echo "init: result audit $result"
    [ "$result" = passed ] && echo "init: success" || echo "init: failure"
    poweroff -f
fi
"#;

/// The start of a test guest's init script: [`SYSTEM`], then [`TESTS`].
pub fn test_prologue() -> String {
    [SYSTEM, TESTS].concat()
}

/// Fails unless `sh -n` parses `script`: an init is only ever run by the guest's busybox, where
/// a quoting slip would break every boot.
#[cfg(test)]
pub fn assert_parses(script: &str) {
    use std::{
        io::Write as _,
        process::{Command, Stdio},
    };
    let mut check = Command::new("sh")
        .args(["-n", "/dev/stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(check.wait().unwrap().success(), "sh -n refused:\n{script}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_boot_ends_the_guest_before_any_ebpf_test() {
        let prologue = test_prologue();
        let audit = prologue.find("tracer.suite=audit /proc/cmdline").unwrap();
        assert!(prologue[audit..].contains("    poweroff -f\nfi\n"));
        assert!(prologue.ends_with("fi\n"));
        // Every later test needs the binaries' paths and the file systems set up before it.
        assert!(prologue.find("export TRACER_BIN").unwrap() < audit);
        assert!(prologue.find("mnt cgroup2").unwrap() < audit);
    }
}
