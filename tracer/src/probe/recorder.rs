//! `tracer profile record`: attaches the program that counts every system call per mount
//! namespace and arch in the kernel, and reads the counts back.

use aya::{
    Ebpf,
    maps::{HashMap, MapData, MapError, PerCpuArray, RingBuf},
    programs::{ProgramError, RawTracePoint},
};
use thiserror::Error;
use tracer_common::{FirstCall, RecordKey, RecordedCalls, names, recorder};

use crate::{events::Arch, source::ringbuf::EventReader};

#[derive(Debug, Error)]
pub enum RecorderError {
    #[error("the kernel programs have no {0}")]
    Missing(&'static str),
    #[error("loading or attaching the sys_enter raw tracepoint program that counts calls")]
    Program(#[from] ProgramError),
    #[error("reading the recorder's maps")]
    Map(#[from] MapError),
    #[error("watching the recorder's ring buffer")]
    Ring(#[from] std::io::Error),
}

/// One namespace's calls in one arch, as counted so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceCalls {
    pub mntns: u32,
    pub arch: Arch,
    /// Made under a seccomp filter: the calls a profile for the runtime's filter must allow.
    pub confined: bool,
    /// The last process seen calling.
    pub last_tgid: u32,
    /// (number, count, `CLOCK_BOOTTIME` of the first call), for every number called.
    pub calls: Vec<(u32, u64, u64)>,
    /// Calls whose number lies beyond every table.
    pub beyond_table: u64,
}

pub struct SyscallRecorder {
    calls: HashMap<MapData, RecordKey, RecordedCalls>,
    lost: PerCpuArray<MapData, u64>,
    first_calls: EventReader,
}

impl SyscallRecorder {
    /// Leaves out the host's namespace (`host_mntns`), attaches the counter, and takes its maps.
    pub fn attach(ebpf: &mut Ebpf, host_mntns: Option<u32>) -> Result<Self, RecorderError> {
        if let Some(host) = host_mntns {
            let map = ebpf
                .map_mut(names::MNTNS_DROP_MAP)
                .ok_or(RecorderError::Missing(names::MNTNS_DROP_MAP))?;
            HashMap::<_, u32, u8>::try_from(map)?.insert(host, 1, 0)?;
        }
        let program: &mut RawTracePoint = ebpf
            .program_mut(names::RECORDER_PROGRAM)
            .ok_or(RecorderError::Missing(names::RECORDER_PROGRAM))?
            .try_into()?;
        program.load()?;
        program.attach("sys_enter")?;
        let take = |ebpf: &mut Ebpf, name| ebpf.take_map(name).ok_or(RecorderError::Missing(name));
        Ok(Self {
            calls: HashMap::try_from(take(ebpf, names::RECORDED_CALLS_MAP)?)?,
            lost: PerCpuArray::try_from(take(ebpf, names::RECORDER_LOST_MAP)?)?,
            first_calls: EventReader::new(RingBuf::try_from(take(ebpf, names::FIRST_CALLS_MAP)?)?)?,
        })
    }

    /// Waits for namespaces seen calling for the first time, and returns each with the process
    /// that called (the same namespace may come once per arch).
    pub async fn first_calls(&mut self) -> Result<Vec<(u32, u32)>, RecorderError> {
        self.first_calls.ready().await?;
        let mut found = Vec::new();
        self.first_calls
            .read_batch(|record| {
                if record.len() >= size_of::<FirstCall>() {
                    // SAFETY: FirstCall is plain integers and the record holds one; read
                    // unaligned, as a ring buffer record promises no alignment.
                    let first: FirstCall =
                        unsafe { std::ptr::read_unaligned(record.as_ptr().cast()) };
                    found.push((first.mntns_id, first.tgid));
                }
            })
            .await?;
        Ok(found)
    }

    /// The namespaces seen so far and the last process each saw calling, without their counts.
    pub fn callers(&self) -> Vec<(u32, u32)> {
        self.calls
            .iter()
            .filter_map(Result::ok)
            .map(|(key, calls)| (key.mntns_id, calls.last_tgid))
            .collect()
    }

    /// Every namespace's calls so far.
    pub fn read(&self) -> Result<Vec<NamespaceCalls>, RecorderError> {
        let mut all = Vec::new();
        for entry in self.calls.iter() {
            let (key, calls) = entry?;
            all.push(namespace_calls(&key, &calls));
        }
        Ok(all)
    }

    /// Calls not counted because the map had no room for their namespace.
    pub fn lost(&self) -> Result<u64, RecorderError> {
        Ok(self.lost.get(&0, 0)?.iter().sum())
    }
}

fn namespace_calls(key: &RecordKey, recorded: &RecordedCalls) -> NamespaceCalls {
    // x32 calls were counted with their bit taken off; `Arch` tells x32 apart by it.
    let x32_bit = if key.flags & recorder::X32 != 0 {
        recorder::X32_SYSCALL_BIT
    } else {
        0
    };
    let arch = match key.arch {
        0 => Arch::Undetected,
        audit_arch => Arch::from_audit(audit_arch, x32_bit),
    };
    let calls = (0..recorder::SLOTS)
        .filter(|&slot| recorded.counts[slot] > 0)
        .map(|slot| {
            (
                slot as u32 | x32_bit,
                recorded.counts[slot],
                recorded.first_seen_boot_ns[slot],
            )
        })
        .collect();
    NamespaceCalls {
        mntns: key.mntns_id,
        arch,
        confined: key.flags & recorder::CONFINED != 0,
        last_tgid: recorded.last_tgid,
        calls,
        beyond_table: recorded.beyond_table,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{loader, offsets};

    /// The counter loads and counts on every kernel tracer supports, this test machine's
    /// included: a child in a namespace of its own makes calls the test knows.
    #[tokio::test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    async fn counts_the_calls_of_a_process_in_its_own_mount_namespace() {
        let offsets = offsets::from_running_kernel().expect("kernel offsets");
        let mut ebpf = loader::load(&offsets, 4096, &tracer_common::Settings::DEFAULT)
            .expect("loading the object (needs root)");
        let own = crate::enrich::procfs::mount_namespace(std::process::id());
        let mut recorder = SyscallRecorder::attach(&mut ebpf, own).expect("attaching the counter");
        // `unshare -m` gives the shell a namespace of its own; `mkdir` is called there only.
        let status = std::process::Command::new("unshare")
            .args(["-m", "sh", "-c", "mkdir -p /tmp/tracer-recorder-test; true"])
            .status()
            .expect("running unshare");
        assert!(status.success());
        let recorded = recorder.read().expect("reading the counts");
        assert!(
            recorded.iter().all(|ns| Some(ns.mntns) != own),
            "the host namespace was left out, yet counted"
        );
        let names_in = |ns: &NamespaceCalls| -> Vec<&str> {
            ns.calls
                .iter()
                .filter_map(|&(nr, count, first)| {
                    (count > 0 && first > 0).then(|| ns.arch.syscall_name(nr))?
                })
                .collect()
        };
        let unshared = recorded
            .iter()
            .find(|ns| {
                ns.arch.name() == Some(std::env::consts::ARCH) && names_in(ns).contains(&"execve")
            })
            .unwrap_or_else(|| panic!("no namespace with an execve: {recorded:?}"));
        let names = names_in(unshared);
        assert!(
            names.contains(&"mkdir") || names.contains(&"mkdirat"),
            "the unshared shell's mkdir was not counted: {names:?}"
        );
        assert_eq!(recorder.lost().expect("reading the lost count"), 0);
        // The namespace's first call was announced, by a process that called in it.
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), recorder.first_calls())
            .await
            .expect("a first call within seconds")
            .expect("reading the first calls");
        assert!(
            first
                .iter()
                .any(|&(ns, pid)| ns == unshared.mntns && pid > 0),
            "no first call of namespace {} in {first:?}",
            unshared.mntns
        );
    }
}
