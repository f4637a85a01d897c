//! What an audit record lacks, the caller's parent, mount namespace and cgroup, from the process
//! itself while it runs, or from what the exit tracepoint kept once it is gone.

use std::collections::HashMap;

use nix::time::{ClockId, clock_gettime};
use tracer_common::ExitedTask;

use crate::{
    enrich::procfs,
    events::{Event, clock::WallClock},
    probe::exits::ExitedTasks,
};

/// Record timestamps have millisecond precision; an exit within the same millisecond may
/// belong to the same process.
const TIMESTAMP_PRECISION_NS: i64 = 1_000_000;
/// How long what /proc said about a running process is taken as still true. /proc is read when
/// the record arrives, some time after the call, so its answer is already that much apart from
/// the call; a process that changes namespace (`unshare`, `setns`) or parent (its parent died)
/// is seen changed this much later at most.
const KNOWN_FOR_NS: u64 = 100_000_000;
/// Processes remembered at most; past it they are forgotten all at once.
const REMEMBERED: usize = 4096;

/// What /proc said about a running process.
#[derive(Clone, Copy, Debug)]
struct Known {
    mntns: u32,
    ppid: Option<u32>,
    /// `CLOCK_BOOTTIME` before /proc was read: an exit of the process's id recorded after it
    /// means this process is gone, and its id may be another's now.
    read_boot_ns: u64,
}

pub struct Whereabouts {
    exits: Option<ExitedTasks>,
    /// By process id. Kept only with the exit tracepoint, which tells when an id changed hands.
    known: HashMap<u32, Known>,
}

impl Whereabouts {
    /// `exits` is `None` where the exit tracepoint could not be attached: then only processes
    /// that still run are found.
    pub fn new(exits: Option<ExitedTasks>) -> Self {
        Self {
            exits,
            known: HashMap::new(),
        }
    }

    /// Fills parent, namespace and cgroup where the source left them out. From the exit
    /// tracepoint when the process exited after the event (a pid reused since would fail that
    /// test), else from /proc while it runs. The tracepoint fires before /proc forgets a
    /// process, so one that exits between the two looks is found by asking the map once more.
    ///
    /// A burst of records mostly comes from a few processes: what /proc said is kept for a
    /// moment, as long as the exit tracepoint has seen no exit of that process id since.
    pub fn fill(&mut self, event: &mut Event) {
        if event.mntns_id.is_some() {
            return;
        }
        let event_ns = event.timestamp.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let exited_after_event = |exited: ExitedTask| {
            let exited_ns = WallClock::now()
                .to_wall(exited.exited_boot_ns)
                .timestamp_nanos_opt()
                .unwrap_or(0);
            (exited_ns + TIMESTAMP_PRECISION_NS >= event_ns).then_some(exited)
        };
        let last_exit = self.exits.as_ref().and_then(|exits| exits.get(event.pid));
        if let Some(exited) = last_exit.and_then(exited_after_event) {
            return apply_exit(event, exited);
        }
        let now = self.exits.is_some().then(boot_ns);
        if let (Some(known), Some(now)) = (self.known.get(&event.pid), now) {
            let fresh = now.saturating_sub(known.read_boot_ns) < KNOWN_FOR_NS;
            let same_process =
                last_exit.is_none_or(|exit| exit.exited_boot_ns < known.read_boot_ns);
            if fresh && same_process {
                event.mntns_id = Some(known.mntns);
                event.ppid = event.ppid.or(known.ppid);
                return;
            }
        }
        match procfs::mount_namespace(event.pid) {
            Some(mntns) => {
                let ppid = procfs::parent(event.pid);
                if let Some(read_boot_ns) = now {
                    if self.known.len() >= REMEMBERED {
                        self.known.clear();
                    }
                    let known = Known {
                        mntns,
                        ppid,
                        read_boot_ns,
                    };
                    self.known.insert(event.pid, known);
                }
                event.mntns_id = Some(mntns);
                event.ppid = event.ppid.or(ppid);
            }
            None => {
                let exit = self.exits.as_ref().and_then(|exits| exits.get(event.pid));
                match exit.and_then(exited_after_event) {
                    Some(exited) => apply_exit(event, exited),
                    None => tracing::debug!(
                        "process {} is gone from /proc and no exit of it after its call at {} \
                         is recorded (last exit: {:?}): its namespace and container are unknown",
                        event.pid,
                        event.timestamp,
                        exit.map(|exit| WallClock::now().to_wall(exit.exited_boot_ns)),
                    ),
                }
            }
        }
    }
}

fn apply_exit(event: &mut Event, exited: ExitedTask) {
    event.mntns_id = Some(exited.mntns_id);
    event.ppid = event.ppid.or(Some(exited.ppid).filter(|&p| p != 0));
    event.cgroup_id = event.cgroup_id.or(Some(exited.cgroup_id));
}

fn boot_ns() -> u64 {
    // CLOCK_BOOTTIME exists on every kernel that can run the exit tracepoint.
    clock_gettime(ClockId::CLOCK_BOOTTIME)
        .map(|ts| ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
        .unwrap_or(0)
}
