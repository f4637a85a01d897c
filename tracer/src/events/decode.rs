//! Raw kernel records → [`Event`]s.

use std::sync::Arc;

use thiserror::Error;
use tracer_common::{COMM_LEN, RawSeccompEvent, read_error, source};

use super::{
    Arch, Event, SeccompAction, Source, SyscallName,
    audit_record::{RecordError, SeccompRecord},
    clock::WallClock,
};
use crate::source::RawRecord;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("ring buffer record of {0} bytes, expected {expected}", expected = size_of::<RawSeccompEvent>())]
    WrongSize(usize),
    #[error("unknown event source {0}")]
    UnknownSource(u32),
    #[error("unreadable seccomp audit record")]
    AuditRecord(#[from] RecordError),
}

impl TryFrom<u32> for Source {
    type Error = DecodeError;

    fn try_from(raw: u32) -> Result<Self, Self::Error> {
        match raw {
            source::FENTRY => Ok(Source::Fentry),
            source::KPROBE => Ok(Source::Kprobe),
            other => Err(DecodeError::UnknownSource(other)),
        }
    }
}

/// Decodes records with the node name and clock of this run.
#[derive(Clone, Debug)]
pub struct Decoder {
    node: Arc<str>,
    clock: WallClock,
}

impl Decoder {
    pub fn new(node: Arc<str>, clock: WallClock) -> Self {
        Self { node, clock }
    }

    /// Re-reads the wall-clock offset (see [`WallClock`]).
    pub fn refresh_clock(&mut self) {
        self.clock = WallClock::now();
    }

    /// Decodes a record from any source.
    pub fn decode_record(&self, record: RawRecord<'_>) -> Result<Event, DecodeError> {
        match record {
            RawRecord::Kernel(bytes) => self.decode_bytes(bytes),
            RawRecord::Audit(text) => Ok(SeccompRecord::parse(text)?.into_event(&self.node)),
        }
    }

    /// Decodes one ring buffer record. Copies it first: ring buffer records are only 8-byte
    /// aligned by convention, and a copy costs less than proving it.
    pub fn decode_bytes(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        if bytes.len() != size_of::<RawSeccompEvent>() {
            return Err(DecodeError::WrongSize(bytes.len()));
        }
        // SAFETY: the length matches, and RawSeccompEvent is plain integers, valid for any bits.
        let raw = unsafe { bytes.as_ptr().cast::<RawSeccompEvent>().read_unaligned() };
        self.decode(&raw)
    }

    pub fn decode(&self, raw: &RawSeccompEvent) -> Result<Event, DecodeError> {
        let unread = |flag| raw.read_errors & flag != 0;
        let arch = if unread(read_error::ARCH) {
            Arch::Undetected
        } else {
            Arch::from_audit(raw.arch, raw.syscall_nr)
        };
        Ok(Event {
            timestamp: self.clock.to_wall(raw.boot_ns),
            node: Arc::clone(&self.node),
            source: Source::try_from(raw.source)?,
            pid: raw.pid,
            tid: Some(raw.tid),
            ppid: (!unread(read_error::PPID)).then_some(raw.ppid),
            uid: raw.uid,
            gid: raw.gid,
            comm: decode_comm(&raw.comm),
            mntns_id: (!unread(read_error::MNTNS) && raw.mntns_id != 0).then_some(raw.mntns_id),
            cgroup_id: Some(raw.cgroup_id),
            syscall_nr: raw.syscall_nr,
            arch,
            syscall: SyscallName::of(arch, raw.syscall_nr),
            code: SeccompAction::from(raw.code),
            code_raw: raw.code,
            signal: (raw.signal != 0).then_some(raw.signal),
            container: None,
            k8s: None,
            on_host: false,
        })
    }
}

/// `comm` up to its NUL, in the [`visible`](super::text::visible) encoding: bytes that are not
/// UTF-8 become `\xNN` and backslashes `\\`, so nothing is lost or invented.
fn decode_comm(comm: &[u8; COMM_LEN]) -> String {
    let len = comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
    super::text::visible(&comm[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::sample_raw as raw;

    fn decoder() -> Decoder {
        Decoder::new("node-a".into(), WallClock::with_offset_ns(0))
    }

    #[test]
    fn decodes_every_field() {
        let event = decoder().decode(&raw()).unwrap();
        assert_eq!(event.source, Source::Fentry);
        assert_eq!(
            (event.pid, event.tid, event.ppid),
            (485855, Some(485856), Some(1))
        );
        assert_eq!(event.comm, "unshare");
        assert_eq!(event.syscall.name, Some("unshare"));
        assert_eq!(event.code, SeccompAction::KillThread);
        assert_eq!(
            event.signal.map(crate::events::json::signal).as_deref(),
            Some("SIGSYS")
        );
        assert_eq!(event.mntns_id, Some(4026531841));
        assert_eq!(&*event.node, "node-a");
    }

    #[test]
    fn fields_the_kernel_could_not_read_are_absent_not_zero() {
        let mut raw = raw();
        raw.read_errors = read_error::PPID | read_error::MNTNS;
        let event = decoder().decode(&raw).unwrap();
        assert_eq!((event.ppid, event.mntns_id), (None, None));
    }

    #[test]
    fn an_undetected_arch_names_no_syscall() {
        let mut raw = raw();
        raw.read_errors = read_error::ARCH;
        raw.arch = 0;
        let event = decoder().decode(&raw).unwrap();
        assert_eq!(event.arch, Arch::Undetected);
        assert_eq!(event.syscall.name, None);
        assert_eq!(event.syscall.to_string(), "272");
    }

    #[test]
    fn rejects_unknown_sources_and_sizes() {
        let mut bad = raw();
        bad.source = 9;
        assert_eq!(decoder().decode(&bad), Err(DecodeError::UnknownSource(9)));
        assert_eq!(
            decoder().decode_bytes(&[0; 12]),
            Err(DecodeError::WrongSize(12))
        );
    }

    #[test]
    fn comm_keeps_invalid_utf8_visible_and_uses_all_16_bytes() {
        let mut comm = [b'a'; COMM_LEN];
        comm[0] = 0xff;
        assert_eq!(decode_comm(&comm), format!("\\xff{}", "a".repeat(15)));
    }
}
