//! Raw kernel records → [`Event`]s.

use std::sync::Arc;

use thiserror::Error;
use tracer_common::{COMM_LEN, HEADER_BYTES, RawSeccompEvent, read_error, source};

use super::{
    Arch, Event, SeccompAction, Source, SyscallName,
    audit_record::{RecordError, SeccompRecord},
    clock::WallClock,
};
use crate::source::RawRecord;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error(
        "ring buffer record of {len} bytes, shorter than its {HEADER_BYTES}-byte header: tracer \
         and the kernel programs that wrote it disagree on the layout"
    )]
    TooShort { len: usize },
    #[error(
        "ring buffer record of {len} bytes, whose header announces {path_len} bytes of path, \
         {exe_len} of executable and {cmdline_len} of argv after its {HEADER_BYTES} bytes"
    )]
    StringsOverrun {
        len: usize,
        path_len: u16,
        exe_len: u16,
        cmdline_len: u16,
    },
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
            source::SYSCALL_EXIT => Ok(Source::SyscallExit),
            source::TASK_EXIT => Ok(Source::TaskExit),
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

    /// Decodes one ring buffer record: the header, then the strings its lengths announce.
    /// Copies the header first: ring buffer records are only 8-byte aligned by convention, and a
    /// copy costs less than proving it. Bytes after the strings are ignored, so a program may
    /// round its record's size up.
    pub fn decode_bytes(&self, bytes: &[u8]) -> Result<Event, DecodeError> {
        if bytes.len() < HEADER_BYTES {
            return Err(DecodeError::TooShort { len: bytes.len() });
        }
        // SAFETY: the header fits, and RawSeccompEvent is plain integers, valid for any bits.
        let raw = unsafe { bytes.as_ptr().cast::<RawSeccompEvent>().read_unaligned() };
        check_strings_fit(&raw, bytes.len())?;
        self.decode_with(&raw)
    }

    /// Decodes a record that is its header alone: its lengths must announce no strings.
    pub fn decode(&self, raw: &RawSeccompEvent) -> Result<Event, DecodeError> {
        check_strings_fit(raw, HEADER_BYTES)?;
        self.decode_with(raw)
    }

    fn decode_with(&self, raw: &RawSeccompEvent) -> Result<Event, DecodeError> {
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

fn check_strings_fit(raw: &RawSeccompEvent, len: usize) -> Result<(), DecodeError> {
    let announced = HEADER_BYTES
        + usize::from(raw.path_len)
        + usize::from(raw.exe_len)
        + usize::from(raw.cmdline_len);
    if len < announced {
        return Err(DecodeError::StringsOverrun {
            len,
            path_len: raw.path_len,
            exe_len: raw.exe_len,
            cmdline_len: raw.cmdline_len,
        });
    }
    Ok(())
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

    use crate::test_support::{record_bytes, sample_raw as raw};

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
            Err(DecodeError::TooShort { len: 12 })
        );
    }

    #[test]
    fn reads_the_sources_of_all_denials_and_of_exits() {
        for (source, expected) in [
            (source::SYSCALL_EXIT, Source::SyscallExit),
            (source::TASK_EXIT, Source::TaskExit),
        ] {
            let mut raw = raw();
            raw.source = source;
            let event = decoder().decode_bytes(&record_bytes(&raw, &[])).unwrap();
            assert_eq!(event.source, expected);
        }
    }

    #[test]
    fn refuses_a_record_whose_strings_overrun_it() {
        let mut raw = raw();
        (raw.path_len, raw.exe_len, raw.cmdline_len) = (4, 3, 2);
        let fits = record_bytes(&raw, b"/tmpbinls");
        assert!(decoder().decode_bytes(&fits).is_ok());
        let short = &fits[..fits.len() - 1];
        assert_eq!(
            decoder().decode_bytes(short),
            Err(DecodeError::StringsOverrun {
                len: HEADER_BYTES + 8,
                path_len: 4,
                exe_len: 3,
                cmdline_len: 2
            })
        );
        // A header alone has no room for strings either.
        assert!(matches!(
            decoder().decode(&raw),
            Err(DecodeError::StringsOverrun { .. })
        ));
        // The largest lengths must not wrap around the record's size.
        (raw.path_len, raw.exe_len, raw.cmdline_len) = (u16::MAX, u16::MAX, u16::MAX);
        assert!(
            decoder()
                .decode_bytes(&record_bytes(&raw, &[0; 64]))
                .is_err()
        );
    }

    #[test]
    fn ignores_bytes_after_the_strings() {
        let padded = record_bytes(&raw(), &[0xaa; 7]);
        assert_eq!(
            decoder().decode_bytes(&padded),
            decoder().decode(&raw()),
            "a program may round its record up"
        );
    }

    #[test]
    fn refuses_a_record_shorter_than_its_header() {
        let bytes = record_bytes(&raw(), &[]);
        assert_eq!(
            decoder().decode_bytes(&bytes[..HEADER_BYTES - 1]),
            Err(DecodeError::TooShort {
                len: HEADER_BYTES - 1
            })
        );
    }

    #[test]
    fn comm_keeps_invalid_utf8_visible_and_uses_all_16_bytes() {
        let mut comm = [b'a'; COMM_LEN];
        comm[0] = 0xff;
        assert_eq!(decode_comm(&comm), format!("\\xff{}", "a".repeat(15)));
    }
}
