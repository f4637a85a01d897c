//! What /proc says about a process: its mount namespace, and which container it belongs to.

use std::{fs, os::unix::fs::MetadataExt as _};

use crate::events::Event;

/// Where /proc places the caller of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the container with this id.
    Container(String),
    /// Outside every container: the process, or its parent in the same mount namespace, runs
    /// in no container's cgroup and under no runtime shim.
    Host,
    /// /proc has nothing to say: the process and its parent are gone.
    Unknown,
}

/// Places the caller from its own cgroup while it runs, else from its parent: a container's
/// first process is a child of the runtime's shim, which outlives it when seccomp kills it.
///
/// A process that has begun to exit shows the root, `/`, as its cgroup on cgroup v1
/// hierarchies, while its namespace can still be read for a moment: one whose cgroup names no
/// container is taken for a host process only if it was not exiting. Its flags are read after
/// its cgroup, so a cgroup read cut short by the exit is always seen as such.
pub fn placement(event: &Event) -> Placement {
    let running_here = |pid| {
        event.mntns_id.is_some() && mount_namespace(pid) == event.mntns_id && !is_exiting(pid)
    };
    if let Some(id) = container_id_from_cgroup(event.pid) {
        return Placement::Container(id);
    }
    let parent = event.ppid.filter(|&ppid| ppid != 0);
    if let Some(id) = parent.and_then(container_id_from_shim) {
        return Placement::Container(id);
    }
    if running_here(event.pid) {
        return Placement::Host;
    }
    let Some(ppid) = parent else {
        return Placement::Unknown;
    };
    let container = container_id_from_cgroup(ppid);
    if !running_here(ppid) {
        return Placement::Unknown;
    }
    container.map_or(Placement::Host, Placement::Container)
}

/// The kernel's flag of a task in `do_exit` (`PF_EXITING`, include/linux/sched.h).
const PF_EXITING: u32 = 0x4;

/// Whether process `pid` has begun to exit, from the flags in `/proc/PID/stat`; a process gone
/// counts as exiting.
pub fn is_exiting(pid: u32) -> bool {
    stat_field(pid, STAT_FLAGS)
        .and_then(|flags| flags.parse::<u32>().ok())
        .is_none_or(|flags| flags & PF_EXITING != 0)
}

/// Fields of `/proc/PID/stat`, counted from 1 as proc(5) does.
const STAT_PPID: usize = 4;
const STAT_FLAGS: usize = 9;

/// Field `number` of `/proc/PID/stat`; the name, field 2, may itself hold spaces and
/// parentheses, so fields are counted from after its closing one.
fn stat_field(pid: u32, number: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name
        .split_whitespace()
        .nth(number - 3)
        .map(str::to_owned)
}

/// The inode of `/proc/PID/ns/mnt`: the same number the kernel programs report as `mntns_id`.
pub fn mount_namespace(pid: u32) -> Option<u32> {
    let meta = fs::metadata(format!("/proc/{pid}/ns/mnt")).ok()?;
    u32::try_from(meta.ino()).ok()
}

/// The parent's process id, from `/proc/PID/stat`.
pub fn parent(pid: u32) -> Option<u32> {
    stat_field(pid, STAT_PPID)?.parse().ok()
}

/// The id of the container process `pid` runs in, from its cgroup path.
pub fn container_id_from_cgroup(pid: u32) -> Option<String> {
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    cgroup.lines().find_map(container_id_in_cgroup_line)
}

/// The container a runtime shim runs (`containerd-shim-runc-v2 ... -id ID`, podman's
/// `conmon ... -c ID`): a container's first process is the shim's child, so when seccomp kills
/// it at once, its parent still names it.
pub fn container_id_from_shim(pid: u32) -> Option<String> {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    container_id_in_shim_cmdline(&cmdline)
}

/// The container id in a shim's NUL-separated command line.
fn container_id_in_shim_cmdline(cmdline: &[u8]) -> Option<String> {
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let program = String::from_utf8_lossy(args.first()?);
    let id_flags: &[&[u8]] = if program.contains("containerd-shim") {
        &[b"-id"]
    } else if program.rsplit('/').next() == Some("conmon") {
        &[b"-c", b"--cid"]
    } else {
        return None;
    };
    let id = args.windows(2).find(|w| id_flags.contains(&w[0]))?[1];
    let id = std::str::from_utf8(id).ok()?;
    is_container_id(id).then(|| id.to_owned())
}

/// Docker's cgroup paths end in the 64-hex container id: `/docker/ID` (cgroupfs driver) or
/// `/system.slice/docker-ID.scope` (systemd driver), on v1 and v2 alike; so do containerd's
/// (`/NAMESPACE/ID`, `cri-containerd-ID.scope`) and podman's (`/libpod_parent/libpod-ID`,
/// `libpod-ID.scope`).
fn container_id_in_cgroup_line(line: &str) -> Option<String> {
    let path = line.splitn(3, ':').nth(2)?;
    path.split('/')
        .rev()
        .find_map(container_id_in_cgroup_segment)
}

/// The container id in one directory name of a cgroup path: `ID`, `docker-ID.scope`,
/// `cri-containerd-ID.scope`, `libpod-ID`.
pub fn container_id_in_cgroup_segment(segment: &str) -> Option<String> {
    let segment = segment.strip_suffix(".scope").unwrap_or(segment);
    let id = segment.rsplit('-').next().unwrap_or(segment);
    is_container_id(id).then(|| id.to_owned())
}

fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f3c2a5e6b7d8c9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";

    #[test]
    fn reads_container_ids_from_every_cgroup_layout() {
        for line in [
            format!("0::/docker/{ID}"),
            format!("0::/system.slice/docker-{ID}.scope"),
            format!("12:pids:/docker/{ID}"),
            format!("0::/kubepods/besteffort/pod1234/{ID}"),
            format!("0::/k8s.io/{ID}"),
            format!("4:memory:/libpod_parent/libpod-{ID}"),
            format!("0::/machine.slice/libpod-{ID}.scope/container"),
        ] {
            assert_eq!(
                container_id_in_cgroup_line(&line).as_deref(),
                Some(ID),
                "{line}"
            );
        }
        assert_eq!(
            container_id_in_cgroup_line("0::/user.slice/session-3.scope"),
            None
        );
    }

    #[test]
    fn reads_the_container_id_of_containerds_shim_and_podmans_conmon() {
        let cmdline = |args: &[&str]| args.join("\0").into_bytes();
        for (args, expected) in [
            (
                vec![
                    "/usr/bin/containerd-shim-runc-v2",
                    "-namespace",
                    "k8s.io",
                    "-id",
                    ID,
                ],
                Some(ID),
            ),
            (
                vec!["/usr/bin/conmon", "--api-version", "1", "-c", ID, "-u", ID],
                Some(ID),
            ),
            (vec!["/usr/libexec/podman/conmon", "--cid", ID], Some(ID)),
            (vec!["/bin/sh", "-c", ID], None),
            (vec!["/usr/bin/conmon", "-c", "not-an-id"], None),
        ] {
            assert_eq!(
                container_id_in_shim_cmdline(&cmdline(&args)).as_deref(),
                expected,
                "{args:?}"
            );
        }
    }

    /// The kernel names a namespace `mnt:[INODE]` in the link's target.
    fn namespace_in_link(pid: u32) -> u32 {
        let link = format!("/proc/{pid}/ns/mnt");
        let target = fs::read_link(&link).unwrap_or_else(|e| panic!("readlink {link}: {e}"));
        let target = target.to_string_lossy();
        target
            .strip_prefix("mnt:[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|inode| inode.parse().ok())
            .unwrap_or_else(|| panic!("{link} points to {target:?}, not mnt:[INODE]"))
    }

    #[test]
    fn reads_this_process_namespace_like_the_kernel_does() {
        let pid = std::process::id();
        assert_eq!(mount_namespace(pid), Some(namespace_in_link(pid)));
        assert_eq!(container_id_from_shim(pid), None);
        let own_parent = u32::try_from(nix::unistd::getppid().as_raw()).expect("a pid");
        assert_eq!(parent(pid), Some(own_parent));
    }

    /// A zombie has begun (and ended) its exit: it is exiting until reaped, and then gone.
    #[test]
    fn tells_a_running_process_from_one_that_exited() {
        use nix::sys::wait::{Id, WaitPidFlag, waitid};

        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawning sleep");
        let mut exited = std::process::Command::new("true")
            .spawn()
            .expect("spawning true");
        // Waits for the exit, leaving the child a zombie.
        waitid(
            Id::Pid(nix::unistd::Pid::from_raw(exited.id() as i32)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        )
        .expect("waiting for true");
        assert!(!is_exiting(sleeper.id()), "a sleeping process is exiting");
        assert!(is_exiting(exited.id()), "a zombie is not exiting");
        assert_eq!(parent(exited.id()), Some(std::process::id()));
        exited.wait().expect("reaping true");
        assert!(is_exiting(exited.id()), "a process gone is not exiting");
        sleeper.kill().expect("killing sleep");
        sleeper.wait().expect("reaping sleep");
    }

    #[test]
    fn reads_another_process_and_nothing_for_one_that_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawning sleep");
        let pid = child.id();
        let seen = (mount_namespace(pid), parent(pid));
        let link = namespace_in_link(pid);
        child.kill().expect("killing sleep");
        child.wait().expect("reaping sleep");
        assert_eq!(seen, (Some(link), Some(std::process::id())));
        assert_eq!((mount_namespace(pid), parent(pid)), (None, None));
    }
}
