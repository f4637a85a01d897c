//! A seccomp audit record → an [`Event`], with what the record lacks (parent, namespace) taken
//! from the process if it still runs, or from what the exit tracepoint kept if it is gone.

use std::sync::Arc;

use super::record::SeccompRecord;
use crate::{
    enrich::procfs,
    events::{Arch, Event, SeccompAction, Source, clock::WallClock},
    probe::exits::ExitedTasks,
};

/// Record timestamps have millisecond precision; an exit within the same millisecond may
/// belong to the same process.
const TIMESTAMP_PRECISION_NS: i64 = 1_000_000;

pub fn to_event(
    record: SeccompRecord,
    node: &Arc<str>,
    exits: Option<&ExitedTasks>,
    clock: WallClock,
) -> Event {
    let arch = Arch::from_audit(record.arch, record.syscall);
    let (ppid, mntns_id, cgroup_id) = whereabouts(&record, exits, clock);
    Event {
        timestamp: record.timestamp(),
        node: Arc::clone(node),
        source: Source::Audit,
        pid: record.pid,
        tid: None,
        ppid,
        // The kernel prints every id; an absent one would read as unset (-1), as auditd shows it.
        uid: record.uid.unwrap_or(u32::MAX),
        gid: record.gid.unwrap_or(u32::MAX),
        comm: record.comm.unwrap_or_default(),
        mntns_id,
        cgroup_id,
        syscall_nr: record.syscall,
        arch,
        syscall: arch.syscall_name(record.syscall),
        code: SeccompAction::from(record.code),
        code_raw: record.code,
        signal: record.sig.filter(|&sig| sig != 0),
        container: None,
    }
}

/// Parent, mount namespace and cgroup of the record's process: from the exit tracepoint when the
/// process exited after the record was written (a pid reused since would fail that test), else
/// from /proc while it runs. The tracepoint fires before /proc forgets a process, so a process
/// that exits between the two looks is found by asking the tracepoint's map once more.
fn whereabouts(
    record: &SeccompRecord,
    exits: Option<&ExitedTasks>,
    clock: WallClock,
) -> (Option<u32>, Option<u32>, Option<u64>) {
    let record_ns = i64::try_from(record.timestamp_ns).unwrap_or(i64::MAX);
    let exited = || {
        let exited = exits?.get(record.pid)?;
        let exited_ns = clock
            .to_wall(exited.exited_boot_ns)
            .timestamp_nanos_opt()
            .unwrap_or(0);
        (exited_ns + TIMESTAMP_PRECISION_NS >= record_ns).then_some((
            Some(exited.ppid).filter(|&p| p != 0),
            Some(exited.mntns_id),
            Some(exited.cgroup_id),
        ))
    };
    if let Some(found) = exited() {
        return found;
    }
    match procfs::mount_namespace(record.pid) {
        Some(mntns) => (procfs::parent(record.pid), Some(mntns), None),
        None => exited().unwrap_or((None, None, None)),
    }
}
