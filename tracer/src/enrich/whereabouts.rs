//! What an audit record lacks, the caller's parent, mount namespace and cgroup, from the process
//! itself while it runs, or from what the exit tracepoint kept once it is gone.

use crate::{
    enrich::procfs,
    events::{Event, clock::WallClock},
    probe::exits::ExitedTasks,
};

/// Record timestamps have millisecond precision; an exit within the same millisecond may
/// belong to the same process.
const TIMESTAMP_PRECISION_NS: i64 = 1_000_000;

pub struct Whereabouts {
    exits: Option<ExitedTasks>,
}

impl Whereabouts {
    /// `exits` is `None` where the exit tracepoint could not be attached: then only processes
    /// that still run are found.
    pub fn new(exits: Option<ExitedTasks>) -> Self {
        Self { exits }
    }

    /// Fills parent, namespace and cgroup where the source left them out. From the exit
    /// tracepoint when the process exited after the event (a pid reused since would fail that
    /// test), else from /proc while it runs. The tracepoint fires before /proc forgets a
    /// process, so one that exits between the two looks is found by asking the map once more.
    pub fn fill(&self, event: &mut Event) {
        if event.mntns_id.is_some() {
            return;
        }
        let event_ns = event.timestamp.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let exited = || {
            let exited = self.exits.as_ref()?.get(event.pid)?;
            let exited_ns = WallClock::now()
                .to_wall(exited.exited_boot_ns)
                .timestamp_nanos_opt()
                .unwrap_or(0);
            (exited_ns + TIMESTAMP_PRECISION_NS >= event_ns).then_some(exited)
        };
        let found = match exited() {
            Some(exited) => Some(exited),
            None => match procfs::mount_namespace(event.pid) {
                Some(mntns) => {
                    event.mntns_id = Some(mntns);
                    event.ppid = event.ppid.or_else(|| procfs::parent(event.pid));
                    return;
                }
                None => exited(),
            },
        };
        if let Some(exited) = found {
            event.mntns_id = Some(exited.mntns_id);
            event.ppid = event.ppid.or(Some(exited.ppid).filter(|&p| p != 0));
            event.cgroup_id = event.cgroup_id.or(Some(exited.cgroup_id));
        }
    }
}
