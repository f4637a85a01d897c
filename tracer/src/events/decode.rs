//! Raw kernel records → [`Event`]s.

use std::sync::Arc;

use thiserror::Error;
use tracer_common::{COMM_LEN, HEADER_BYTES, RawSeccompEvent, detail, read_error, source, stack};

use super::{
    Arch, Event, SeccompAction, Source, SyscallName,
    audit_record::{RecordError, SeccompRecord},
    clock::WallClock,
};
use crate::{
    source::RawRecord,
    stack::{ModuleRef, RawFrame, RawStack},
};

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
    #[error(
        "ring buffer record of {len} bytes, whose header announces a stack of {frames} frames \
         after byte {}",
        stack::OFFSET
    )]
    StackOverrun { len: usize, frames: u16 },
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
            source::TRAP_SIGNAL => Ok(Source::TrapSignal),
            source::TASK_EXIT => Ok(Source::TaskExit),
            source::SYSCALL_ENTER => Ok(Source::SyscallEnter),
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
        let strings = Strings::split(&raw, &bytes[HEADER_BYTES..])
            .ok_or_else(|| overrun(&raw, bytes.len()))?;
        let mut event = self.decode_with(&raw, strings)?;
        event.raw_stack = decode_stack(&raw, bytes)?;
        Ok(event)
    }

    /// Decodes a record that is its header alone: its lengths must announce no strings.
    pub fn decode(&self, raw: &RawSeccompEvent) -> Result<Event, DecodeError> {
        let strings = Strings::split(raw, &[]).ok_or_else(|| overrun(raw, HEADER_BYTES))?;
        self.decode_with(raw, strings)
    }

    fn decode_with(
        &self,
        raw: &RawSeccompEvent,
        strings: Strings<'_>,
    ) -> Result<Event, DecodeError> {
        let unread = |flag| raw.read_errors & flag != 0;
        let has = |flag| raw.details & flag != 0;
        let source = Source::try_from(raw.source)?;
        let code = SeccompAction::from(raw.code);
        let errno = errno(raw, code);
        let arch = if unread(read_error::ARCH) {
            Arch::Undetected
        } else {
            Arch::from_audit(raw.arch, raw.syscall_nr)
        };
        Ok(Event {
            timestamp: self.clock.to_wall(raw.boot_ns),
            node: Arc::clone(&self.node),
            source,
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
            code,
            code_raw: raw.code,
            signal: (raw.signal != 0).then_some(raw.signal),
            errno,
            errno_name: errno.and_then(super::errno::name),
            args: has(detail::ARGS).then_some(raw.args),
            ip: has(detail::ARGS).then_some(raw.ip),
            path: has(detail::PATH).then(|| decode_path(strings.path)),
            path_truncated: has(detail::PATH).then_some(has(detail::PATH_TRUNCATED)),
            dirfd: has(detail::DIRFD).then_some(raw.dirfd),
            exe: has(detail::EXE).then(|| decode_exe(strings.exe, has(detail::EXE_TRUNCATED))),
            cmdline: has(detail::CMDLINE).then(|| decode_cmdline(strings.cmdline)),
            cmdline_truncated: has(detail::CMDLINE).then_some(has(detail::CMDLINE_TRUNCATED)),
            parent_comm: has(detail::PARENT_COMM).then(|| decode_comm(&raw.parent_comm)),
            ns_pid: has(detail::NS_PIDS).then_some(raw.ns_pid),
            ns_ppid: has(detail::NS_PIDS).then_some(raw.ns_ppid),
            stack: None,
            raw_stack: None,
            container: None,
            k8s: None,
            rule: None,
            severity: None,
            tags: None,
            message: None,
            on_host: false,
            summary: None,
        })
    }
}

fn overrun(raw: &RawSeccompEvent, len: usize) -> DecodeError {
    DecodeError::StringsOverrun {
        len,
        path_len: raw.path_len,
        exe_len: raw.exe_len,
        cmdline_len: raw.cmdline_len,
    }
}

/// The strings after a record's header, as its lengths cut them.
#[derive(Clone, Copy, Debug, Default)]
struct Strings<'a> {
    path: &'a [u8],
    exe: &'a [u8],
    cmdline: &'a [u8],
}

impl<'a> Strings<'a> {
    /// `None` when the lengths add up to more than `tail` holds.
    fn split(raw: &RawSeccompEvent, tail: &'a [u8]) -> Option<Self> {
        let (path, rest) = tail.split_at_checked(raw.path_len.into())?;
        let (exe, rest) = rest.split_at_checked(raw.exe_len.into())?;
        let (cmdline, _) = rest.split_at_checked(raw.cmdline_len.into())?;
        Some(Self { path, exe, cmdline })
    }
}

/// The user stack after the strings, where the record has one: each frame's ip, with the build
/// id and file offset the kernel found for it. The two walks follow the same frame pointers;
/// where one went further, its extra frames are kept with what it has.
fn decode_stack(raw: &RawSeccompEvent, bytes: &[u8]) -> Result<Option<RawStack>, DecodeError> {
    let (ips, build_ids) = (
        usize::from(raw.stack_ips).min(stack::MAX_FRAMES),
        usize::from(raw.stack_build_ids).min(stack::MAX_FRAMES),
    );
    if ips == 0 && build_ids == 0 {
        return Ok(None);
    }
    let end = stack::OFFSET + stack::BUILD_IDS_AT + build_ids * stack::BUILD_ID_FRAME_BYTES;
    let Some(room) = bytes.get(stack::OFFSET..end) else {
        return Err(DecodeError::StackOverrun {
            len: bytes.len(),
            frames: raw.stack_ips.max(raw.stack_build_ids).into(),
        });
    };
    let (ip_bytes, rest) = room.split_at(stack::IPS_BYTES);
    let (top_bytes, build_id_bytes) = rest.split_at(stack::TOP_BYTES);
    let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
    let frames = (0..ips.max(build_ids))
        .map(|at| {
            let ip = (at < ips).then(|| word(&ip_bytes[at * 8..at * 8 + 8]));
            let entry = (at < build_ids).then(|| {
                &build_id_bytes[at * stack::BUILD_ID_FRAME_BYTES..][..stack::BUILD_ID_FRAME_BYTES]
            });
            let status = entry.map(|e| i32::from_ne_bytes(e[..4].try_into().expect("4 bytes")));
            // `offset_or_ip` sits after the 4-byte status and 20-byte id, 8-byte aligned.
            let value = entry.map(|e| word(&e[24..32]));
            let module = match (status, entry, value) {
                (Some(stack::BUILD_ID_VALID), Some(e), Some(file_offset)) => Some(ModuleRef {
                    build_id: e[4..4 + stack::BUILD_ID_SIZE].to_vec(),
                    file_offset,
                }),
                _ => None,
            };
            let fallback_ip = (status == Some(stack::BUILD_ID_IP))
                .then_some(value)
                .flatten();
            RawFrame {
                ip: ip.or(fallback_ip).unwrap_or(0),
                module,
            }
        })
        .collect();
    let top_words = usize::from(raw.stack_top_words).min(stack::TOP_WORDS);
    let top: Vec<u64> = top_bytes.chunks_exact(8).map(word).collect();
    Ok(Some(RawStack {
        frames,
        sp: (top_words > 0).then_some(top[0]),
        top: top[1..=top_words].to_vec(),
    }))
}

/// The errno a refused call returned: `-ret` once seccomp's ERRNO action set it, which is
/// also what `--all-denials` sees (its records' code is ERRNO with the errno). Under any other
/// action the register still holds what the entry code put there (-ENOSYS on x86_64, the
/// first argument on arm64), or after a TRAP the call's number or first argument again,
/// which would read as an error the caller never got.
fn errno(raw: &RawSeccompEvent, code: SeccompAction) -> Option<i32> {
    let refused_with_errno = code == SeccompAction::Errno;
    // -4095..=0 is the kernel's range of error returns (MAX_ERRNO), and seccomp caps the
    // action's data to it.
    let returned_error = (-4095..=0).contains(&raw.ret);
    (refused_with_errno && raw.details & detail::RET != 0 && returned_error)
        .then(|| -(raw.ret as i32))
}

/// The path as the caller passed it. The program sends it without its NUL; a NUL inside
/// could only come from a read past the string, and ends it.
fn decode_path(path: &[u8]) -> String {
    let len = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    super::text::visible(&path[..len])
}

/// The executable's path from its components, which the program collects walking up from
/// the file (`busybox\0bin\0` is `/bin/busybox`); `...` in place of the top it could not
/// reach.
fn decode_exe(components: &[u8], truncated: bool) -> String {
    let mut path = Vec::with_capacity(components.len() + 4);
    if truncated {
        path.extend_from_slice(b"...");
    }
    // A root's own name is `/` (the file system's, or a mount's): it adds no component. No
    // name is empty: an empty piece is what follows the last NUL.
    let names = components
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty() && *name != b"/");
    for name in names.rev() {
        path.push(b'/');
        path.extend_from_slice(name);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    super::text::visible(&path)
}

/// argv as `/proc/PID/cmdline` holds it (each argument NUL-terminated), joined with spaces.
/// The NULs at the end go: the last argument's, and those a process that rewrote its argv
/// (setproctitle) left after it.
fn decode_cmdline(argv: &[u8]) -> String {
    let len = argv
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    let joined: Vec<u8> = argv[..len]
        .iter()
        .map(|&b| if b == 0 { b' ' } else { b })
        .collect();
    super::text::visible(&joined)
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

    use crate::test_support::{record_bytes, sample_denial, sample_raw as raw};

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
            (source::TRAP_SIGNAL, Source::TrapSignal),
            (source::TASK_EXIT, Source::TaskExit),
            (source::SYSCALL_ENTER, Source::SyscallEnter),
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
    fn reads_every_detail_and_string() {
        let (raw, strings) = sample_denial();
        let event = decoder()
            .decode_bytes(&record_bytes(&raw, &strings))
            .unwrap();
        assert_eq!((event.errno, event.errno_name), (Some(13), Some("EACCES")));
        assert_eq!(event.args, Some(raw.args));
        assert_eq!(event.ip, Some(0x7f3c_8e1d_2a37));
        assert_eq!(event.path.as_deref(), Some("data"));
        assert_eq!(event.path_truncated, Some(false));
        assert_eq!(event.dirfd, Some(-100));
        assert_eq!(event.exe.as_deref(), Some("/usr/bin/mkdir"));
        assert_eq!(event.cmdline.as_deref(), Some("mkdir -p data"));
        assert_eq!(event.cmdline_truncated, Some(false));
        assert_eq!(event.parent_comm.as_deref(), Some("bash"));
        assert_eq!((event.ns_pid, event.ns_ppid), (Some(42), Some(1)));
    }

    #[test]
    fn a_record_without_details_has_none() {
        let event = decoder().decode_bytes(&record_bytes(&raw(), &[])).unwrap();
        assert_eq!((event.errno, event.errno_name), (None, None));
        assert_eq!((event.args, event.ip, event.dirfd), (None, None, None));
        assert_eq!((event.path, event.path_truncated), (None, None));
        assert_eq!((event.exe, event.parent_comm), (None, None));
        assert_eq!((event.cmdline, event.cmdline_truncated), (None, None));
        assert_eq!((event.ns_pid, event.ns_ppid), (None, None));
    }

    #[test]
    fn strings_without_their_flag_are_skipped_and_the_rest_read_in_place() {
        let (mut raw, strings) = sample_denial();
        raw.details &= !(detail::PATH | detail::CMDLINE);
        let event = decoder()
            .decode_bytes(&record_bytes(&raw, &strings))
            .unwrap();
        assert_eq!((event.path, event.path_truncated), (None, None));
        assert_eq!((event.cmdline, event.cmdline_truncated), (None, None));
        assert_eq!(event.exe.as_deref(), Some("/usr/bin/mkdir"));
    }

    #[test]
    fn says_which_strings_were_cut_short() {
        let (mut raw, strings) = sample_denial();
        raw.details |= detail::PATH_TRUNCATED | detail::EXE_TRUNCATED | detail::CMDLINE_TRUNCATED;
        let event = decoder()
            .decode_bytes(&record_bytes(&raw, &strings))
            .unwrap();
        assert_eq!(event.path_truncated, Some(true));
        assert_eq!(event.exe.as_deref(), Some(".../usr/bin/mkdir"));
        assert_eq!(event.cmdline_truncated, Some(true));
    }

    #[test]
    fn the_executable_reads_from_the_root_down() {
        assert_eq!(decode_exe(b"busybox\0bin\0", false), "/bin/busybox");
        assert_eq!(decode_exe(b"foo\0lib\0", true), ".../lib/foo");
        assert_eq!(decode_exe(b"init\0", false), "/init");
        // The program's last component cut short, and roots' own names.
        assert_eq!(decode_exe(b"sh\0bin\0/\0usr", false), "/usr/bin/sh");
        assert_eq!(decode_exe(b"", false), "/");
        assert_eq!(decode_exe(b"a\\b\0\xff\0", false), "/\\xff/a\\\\b");
    }

    #[test]
    fn argv_is_joined_with_spaces() {
        assert_eq!(decode_cmdline(b"ls\0-l\0/tmp\0"), "ls -l /tmp");
        assert_eq!(decode_cmdline(b"ls\0-l"), "ls -l", "cut short");
        assert_eq!(decode_cmdline(b"nginx: worker\0\0\0\0"), "nginx: worker");
        assert_eq!(decode_cmdline(b"sh\0\0x\0"), "sh  x", "an empty argument");
        assert_eq!(decode_cmdline(b"\xff\\\0"), "\\xff\\\\");
        assert_eq!(decode_cmdline(b""), "");
    }

    #[test]
    fn a_path_ends_at_a_nul() {
        assert_eq!(decode_path(b"/etc/passwd"), "/etc/passwd");
        assert_eq!(decode_path(b"/etc\0junk"), "/etc");
        assert_eq!(decode_path(b"\xfe\\"), "\\xfe\\\\");
    }

    /// A record with a stack: the strings, the rest of the tail, then the stack room.
    fn with_stack(ips: &[u64], build_ids: &[(i32, u8, u64)], top: &[u64]) -> Vec<u8> {
        let (mut header, strings) = sample_denial();
        header.stack_ips = ips.len() as u8;
        header.stack_build_ids = build_ids.len() as u8;
        header.stack_top_words = top.len().saturating_sub(1) as u8;
        let mut bytes = record_bytes(&header, &strings);
        bytes.resize(stack::OFFSET, 0xee);
        let mut room = vec![0u8; stack::BUILD_IDS_AT];
        for (at, ip) in ips.iter().enumerate() {
            room[at * 8..at * 8 + 8].copy_from_slice(&ip.to_ne_bytes());
        }
        for (at, word) in top.iter().enumerate() {
            let from = stack::IPS_BYTES + at * 8;
            room[from..from + 8].copy_from_slice(&word.to_ne_bytes());
        }
        bytes.extend_from_slice(&room);
        for &(status, id_byte, value) in build_ids {
            let mut entry = [0u8; stack::BUILD_ID_FRAME_BYTES];
            entry[..4].copy_from_slice(&status.to_ne_bytes());
            entry[4..24].fill(id_byte);
            entry[24..].copy_from_slice(&value.to_ne_bytes());
            bytes.extend_from_slice(&entry);
        }
        bytes
    }

    #[test]
    fn a_stack_after_the_strings_keeps_ips_build_ids_and_the_stack_top() {
        let top: Vec<u64> = (0..=stack::TOP_WORDS as u64)
            .map(|w| 0x7ffc_0000 + w)
            .collect();
        let bytes = with_stack(
            &[0x7f00_0000_1829, 0x5555_0000_0637, 0x5555_0000_0700],
            &[
                (stack::BUILD_ID_VALID, 0xab, 0x1829),
                (stack::BUILD_ID_IP, 0, 0x5555_0000_0637),
                (stack::BUILD_ID_EMPTY, 0, 0),
            ],
            &top,
        );
        let event = decoder().decode_bytes(&bytes).unwrap();
        assert_eq!(
            event.path.as_deref(),
            Some("data"),
            "the strings stay as they were"
        );
        let stack = event.raw_stack.expect("the record has a stack");
        assert_eq!(
            stack.frames,
            [
                RawFrame {
                    ip: 0x7f00_0000_1829,
                    module: Some(ModuleRef {
                        build_id: vec![0xab; 20],
                        file_offset: 0x1829
                    })
                },
                RawFrame {
                    ip: 0x5555_0000_0637,
                    module: None
                },
                RawFrame {
                    ip: 0x5555_0000_0700,
                    module: None
                },
            ]
        );
        assert_eq!(stack.sp, Some(0x7ffc_0000));
        assert_eq!(stack.top, top[1..]);
    }

    #[test]
    fn a_record_without_a_stack_has_none_and_a_cut_one_is_refused() {
        let (header, strings) = sample_denial();
        let event = decoder()
            .decode_bytes(&record_bytes(&header, &strings))
            .unwrap();
        assert_eq!(event.raw_stack, None);
        let mut bytes = with_stack(&[1, 2], &[(stack::BUILD_ID_IP, 0, 1)], &[]);
        bytes.truncate(bytes.len() - 1);
        assert!(matches!(
            decoder().decode_bytes(&bytes),
            Err(DecodeError::StackOverrun { frames: 2, .. })
        ));
    }

    #[test]
    fn errno_only_for_calls_refused_with_one() {
        let errno_of = |code: u32, source: u32, ret: i64, details: u16| {
            let mut raw = raw();
            (raw.code, raw.source, raw.ret, raw.details) = (code, source, ret, details);
            let event = decoder().decode(&raw).unwrap();
            (event.errno, event.errno_name)
        };
        let (errno, fentry, exit) = (0x0005_0001, source::FENTRY, source::SYSCALL_EXIT);
        assert_eq!(
            errno_of(errno, fentry, -1, detail::RET),
            (Some(1), Some("EPERM"))
        );
        assert_eq!(
            errno_of(errno, exit, -38, detail::RET),
            (Some(38), Some("ENOSYS"))
        );
        assert_eq!(errno_of(errno, fentry, 0, detail::RET), (Some(0), None));
        assert_eq!(
            errno_of(errno, fentry, -4095, detail::RET),
            (Some(4095), None)
        );
        // Not read, or not an error return.
        assert_eq!(errno_of(errno, fentry, -1, 0), (None, None));
        assert_eq!(errno_of(errno, fentry, -4096, detail::RET), (None, None));
        assert_eq!(errno_of(errno, fentry, 3, detail::RET), (None, None));
        // Other actions leave the caller's registers as they were.
        for code in [0x7ffc_0000, 0, 0x8000_0000, 0x0003_0000, 0x7ff0_0001] {
            assert_eq!(
                errno_of(code, fentry, -1, detail::RET),
                (None, None),
                "{code:#x}"
            );
        }
        // A TRAP --all-denials saw: after the rollback, arm64's register holds the first
        // argument, AT_FDCWD (-100) for an openat.
        assert_eq!(errno_of(0x0003_0000, exit, -100, detail::RET), (None, None));
        assert_eq!(errno_of(0x0003_0000, exit, 0, detail::RET), (None, None));
    }

    #[test]
    fn comm_keeps_invalid_utf8_visible_and_uses_all_16_bytes() {
        let mut comm = [b'a'; COMM_LEN];
        comm[0] = 0xff;
        assert_eq!(decode_comm(&comm), format!("\\xff{}", "a".repeat(15)));
    }
}
