//! Remembers the mount namespace and parent of processes that exited, through the
//! `sched_process_exit` tracepoint, which attaches even on kernels that offer no hook on
//! `audit_seccomp`.

use aya::{
    Ebpf,
    maps::{HashMap, MapData, MapError},
    programs::{ProgramError, RawTracePoint},
};
use thiserror::Error;
use tracer_common::{ExitedTask, names};

#[derive(Debug, Error)]
pub enum ExitTrackerError {
    #[error("the kernel programs have no {0}")]
    Missing(&'static str),
    #[error("loading or attaching the sched_process_exit raw tracepoint program")]
    Program(#[from] ProgramError),
    #[error("opening the exited-process map")]
    Map(#[from] MapError),
}

pub struct ExitedTasks {
    map: HashMap<MapData, u32, ExitedTask>,
}

impl ExitedTasks {
    /// Attaches the tracepoint program and takes its map; from now on exits are remembered.
    pub fn attach(ebpf: &mut Ebpf) -> Result<Self, ExitTrackerError> {
        let program: &mut RawTracePoint = ebpf
            .program_mut(names::EXIT_PROGRAM)
            .ok_or(ExitTrackerError::Missing(names::EXIT_PROGRAM))?
            .try_into()?;
        program.load()?;
        program.attach("sched_process_exit")?;
        let map = ebpf
            .take_map(names::EXITED_MAP)
            .ok_or(ExitTrackerError::Missing(names::EXITED_MAP))?;
        Ok(Self {
            map: HashMap::try_from(map)?,
        })
    }

    /// The last process with this id to exit, if it is still remembered.
    pub fn get(&self, pid: u32) -> Option<ExitedTask> {
        self.map.get(&pid, 0).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{loader, offsets};

    /// Tracepoints attach on every kernel tracer supports, this test machine's included.
    #[test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    fn remembers_the_namespace_of_an_exited_child() {
        let offsets = offsets::from_running_kernel().expect("kernel offsets");
        let mut ebpf = loader::load(&offsets, 4096, &tracer_common::Settings::DEFAULT)
            .expect("loading the object (needs root)");
        let exits = ExitedTasks::attach(&mut ebpf).expect("attaching the exit tracepoint");
        let child = std::process::Command::new("true")
            .spawn()
            .expect("spawning true");
        let pid = child.id();
        let status = child.wait_with_output().expect("waiting for true").status;
        assert!(status.success());
        let own_ns = crate::enrich::procfs::mount_namespace(std::process::id()).unwrap();
        let exited = exits
            .get(pid)
            .unwrap_or_else(|| panic!("no exit recorded for pid {pid}"));
        assert_eq!(exited.mntns_id, own_ns);
        assert_eq!(exited.ppid, std::process::id());
        assert!(exited.exited_boot_ns > 0);
    }
}
