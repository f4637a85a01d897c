//! The decoder of ring buffer records (`events::Decoder::decode_bytes`), fed bytes laid out
//! here field by field the way the kernel programs write a `RawSeccompEvent` and the strings
//! after it, and bytes of no layout at all.

use proptest::prelude::*;
use tracer::events::{Arch, Decoder, SeccompAction, Source, clock::WallClock, text::visible};
use tracer_common::{COMM_LEN, HEADER_BYTES, RawSeccompEvent, detail, read_error, source, stack};

/// Where `source` is in the header: after two u64 and ten 32-bit fields.
const SOURCE_AT: usize = 56;
/// Where the three string lengths are: after the comms, the registers and the ids.
const LENGTHS_AT: usize = 172;

/// The header's bytes in `#[repr(C)]` order, written out by hand so that a change of the
/// struct's layout shows here, then `strings`.
fn record_bytes(raw: &RawSeccompEvent, strings: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_BYTES + strings.len());
    bytes.extend_from_slice(&raw.boot_ns.to_ne_bytes());
    bytes.extend_from_slice(&raw.cgroup_id.to_ne_bytes());
    for word in [
        raw.pid,
        raw.tid,
        raw.ppid,
        raw.uid,
        raw.gid,
        raw.mntns_id,
        raw.syscall_nr,
        raw.arch,
        raw.code,
    ] {
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    bytes.extend_from_slice(&raw.signal.to_ne_bytes());
    bytes.extend_from_slice(&raw.source.to_ne_bytes());
    bytes.extend_from_slice(&raw.read_errors.to_ne_bytes());
    bytes.extend_from_slice(&raw.comm);
    bytes.extend_from_slice(&raw.parent_comm);
    for word in raw.args.iter().chain([&raw.ip]) {
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    bytes.extend_from_slice(&raw.ret.to_ne_bytes());
    bytes.extend_from_slice(&raw.ns_pid.to_ne_bytes());
    bytes.extend_from_slice(&raw.ns_ppid.to_ne_bytes());
    bytes.extend_from_slice(&raw.dirfd.to_ne_bytes());
    assert_eq!(bytes.len(), LENGTHS_AT);
    for half in [raw.path_len, raw.exe_len, raw.cmdline_len, raw.details] {
        bytes.extend_from_slice(&half.to_ne_bytes());
    }
    bytes.extend_from_slice(&[
        raw.stack_ips,
        raw.stack_build_ids,
        raw.stack_top_words,
        raw._padding,
    ]);
    assert_eq!(bytes.len(), HEADER_BYTES, "the header is 184 bytes");
    bytes.extend_from_slice(strings);
    bytes
}

/// The lengths a record's header announces, and what they add up to with the header: with a
/// stack, up to the end of its build ids after the whole tail room.
fn announced(bytes: &[u8]) -> usize {
    let half = |at: usize| usize::from(u16::from_ne_bytes([bytes[at], bytes[at + 1]]));
    let strings = HEADER_BYTES + half(LENGTHS_AT) + half(LENGTHS_AT + 2) + half(LENGTHS_AT + 4);
    let (ips, build_ids) = (bytes[LENGTHS_AT + 8], bytes[LENGTHS_AT + 9]);
    if ips == 0 && build_ids == 0 {
        return strings;
    }
    let frames = usize::from(build_ids).min(stack::MAX_FRAMES);
    strings.max(stack::OFFSET + stack::BUILD_IDS_AT + frames * stack::BUILD_ID_FRAME_BYTES)
}

const KNOWN_SOURCES: [u32; 6] = [
    source::FENTRY,
    source::KPROBE,
    source::SYSCALL_EXIT,
    source::TASK_EXIT,
    source::SYSCALL_ENTER,
    source::TRAP_SIGNAL,
];

/// A comm as the kernel holds it: a name of up to 16 bytes without NUL, then a NUL and
/// whatever the buffer held before (the kernel does not clear it).
fn comm() -> impl Strategy<Value = (Vec<u8>, [u8; COMM_LEN])> {
    (
        prop::collection::vec(1u8..=255, 0..=COMM_LEN),
        prop::array::uniform16(any::<u8>()),
    )
        .prop_map(|(name, mut comm)| {
            comm[..name.len()].copy_from_slice(&name);
            if name.len() < COMM_LEN {
                comm[name.len()] = 0;
            }
            (name, comm)
        })
}

fn raw_event() -> impl Strategy<Value = (Vec<u8>, RawSeccompEvent)> {
    let arch = prop_oneof![
        Just(0xc000_003e_u32),
        Just(0x4000_0003),
        Just(0xc000_00b7),
        any::<u32>()
    ];
    let source = prop_oneof![
        8 => prop::sample::select(&KNOWN_SOURCES[..]),
        1 => any::<u32>(),
    ];
    let ids = prop::array::uniform8(any::<u32>());
    (
        (any::<u64>(), any::<u64>(), ids),
        (arch, source, any::<i32>(), 0u32..16, comm()),
    )
        .prop_map(
            |(
                (boot_ns, cgroup_id, [pid, tid, ppid, uid, gid, mntns_id, syscall_nr, code]),
                (arch, source, signal, read_errors, (name, comm)),
            )| {
                let raw = RawSeccompEvent {
                    boot_ns,
                    cgroup_id,
                    pid,
                    tid,
                    ppid,
                    uid,
                    gid,
                    mntns_id,
                    syscall_nr,
                    arch,
                    code,
                    signal,
                    source,
                    read_errors,
                    comm,
                    ..Default::default()
                };
                (name, raw)
            },
        )
}

/// What a kernel program reads beside the header's ids: the registers, the parent, and the
/// strings, in the form it writes them.
#[derive(Clone, Debug)]
struct Details {
    raw: RawSeccompEvent,
    parent_name: Vec<u8>,
    path: Vec<u8>,
    /// The executable's directories from the root down, then its own name.
    exe: Vec<Vec<u8>>,
    argv: Vec<Vec<u8>>,
}

impl Details {
    /// The strings after the header, as the program writes them: the exe from its own name
    /// up, argv as `/proc/PID/cmdline` holds it.
    fn strings(&self) -> Vec<u8> {
        let mut strings = self.path.clone();
        for name in self.exe.iter().rev() {
            strings.extend_from_slice(name);
            strings.push(0);
        }
        for arg in &self.argv {
            strings.extend_from_slice(arg);
            strings.push(0);
        }
        strings
    }
}

/// Bytes of a name, a path or an argument: anything but NUL, which ends them.
fn string_bytes(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, len)
}

fn details() -> impl Strategy<Value = Details> {
    let code = prop_oneof![
        (0u32..=0xffff).prop_map(|errno| 0x0005_0000 | errno),
        Just(0x7ffc_0000),
        Just(0),
        Just(0x8000_0000),
        any::<u32>(),
    ];
    let ret = prop_oneof![-4200i64..=10, any::<i64>()];
    let source = prop::sample::select(&KNOWN_SOURCES[..]);
    let exe_name = string_bytes(1..12).prop_filter("a root's name", |name| name != b"/");
    (
        (any::<u16>(), code, ret, source, any::<i32>()),
        (
            prop::array::uniform6(any::<u64>()),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
        ),
        comm(),
        string_bytes(0..40),
        prop::collection::vec(exe_name, 1..6),
        prop::collection::vec(string_bytes(1..10), 0..5),
    )
        .prop_map(
            |(
                (details, code, ret, source, dirfd),
                (args, ip, ns_pid, ns_ppid),
                (parent_name, parent_comm),
                path,
                exe,
                argv,
            )| {
                let mut details = Details {
                    raw: RawSeccompEvent {
                        code,
                        source,
                        parent_comm,
                        args,
                        ip,
                        ret,
                        ns_pid,
                        ns_ppid,
                        dirfd,
                        details,
                        ..Default::default()
                    },
                    parent_name,
                    path,
                    exe,
                    argv,
                };
                let exe_len = details.exe.iter().map(|name| name.len() + 1).sum::<usize>();
                let argv_len = details.argv.iter().map(|arg| arg.len() + 1).sum::<usize>();
                details.raw.path_len = details.path.len() as u16;
                details.raw.exe_len = exe_len as u16;
                details.raw.cmdline_len = argv_len as u16;
                details
            },
        )
}

fn decoder() -> Decoder {
    Decoder::new(
        "node-a".into(),
        WallClock::with_offset_ns(1_700_000_000_000_000_000),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_decode_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..=2 * HEADER_BYTES)) {
        let decoded = decoder().decode_bytes(&bytes);
        if bytes.len() < HEADER_BYTES || bytes.len() < announced(&bytes) {
            prop_assert!(decoded.is_err(), "{} bytes decoded", bytes.len());
        }
    }

    #[test]
    fn a_record_of_any_bits_decodes_unless_its_source_is_unknown(
        mut bytes in prop::collection::vec(any::<u8>(), HEADER_BYTES..=HEADER_BYTES + 64),
        known_source in prop::option::of(prop::sample::select(&KNOWN_SOURCES[..])),
        lengths in prop::array::uniform3(0u16..=24),
    ) {
        // Random bits almost never make a known source, or lengths that fit: set them in most
        // cases.
        if let Some(known) = known_source {
            bytes[SOURCE_AT..SOURCE_AT + 4].copy_from_slice(&known.to_ne_bytes());
            for (at, len) in (LENGTHS_AT..).step_by(2).zip(lengths) {
                bytes[at..at + 2].copy_from_slice(&len.to_ne_bytes());
            }
        }
        let source = u32::from_ne_bytes(bytes[SOURCE_AT..SOURCE_AT + 4].try_into().unwrap());
        let decoded = decoder().decode_bytes(&bytes);
        prop_assert_eq!(
            decoded.is_ok(),
            KNOWN_SOURCES.contains(&source) && bytes.len() >= announced(&bytes),
            "source {} gave {:?}", source, decoded
        );
    }

    #[test]
    fn an_accepted_record_reads_back_what_the_kernel_wrote((name, raw) in raw_event()) {
        let decoder = decoder();
        let decoded = decoder.decode_bytes(&record_bytes(&raw, &[]));
        let expected_source = match raw.source {
            source::FENTRY => Source::Fentry,
            source::KPROBE => Source::Kprobe,
            source::SYSCALL_EXIT => Source::SyscallExit,
            source::TASK_EXIT => Source::TaskExit,
            source::SYSCALL_ENTER => Source::SyscallEnter,
            source::TRAP_SIGNAL => Source::TrapSignal,
            other => {
                prop_assert!(decoded.is_err(), "source {} was accepted", other);
                return Ok(());
            }
        };
        let event = decoded.map_err(|e| TestCaseError::fail(format!("{raw:?}: {e}")))?;
        prop_assert_eq!(event.source, expected_source);
        prop_assert_eq!(event.pid, raw.pid);
        prop_assert_eq!(event.tid, Some(raw.tid));
        let ppid_unread = raw.read_errors & read_error::PPID != 0;
        prop_assert_eq!(event.ppid, (!ppid_unread).then_some(raw.ppid));
        prop_assert_eq!((event.uid, event.gid), (raw.uid, raw.gid));
        let mntns_unread = raw.read_errors & read_error::MNTNS != 0;
        prop_assert_eq!(
            event.mntns_id,
            (!mntns_unread && raw.mntns_id != 0).then_some(raw.mntns_id)
        );
        prop_assert_eq!(event.cgroup_id, Some(raw.cgroup_id));
        prop_assert_eq!(event.syscall_nr, raw.syscall_nr);
        // An arch the kernel program could not tell is shown as such, not as the word it wrote.
        let arch = if raw.read_errors & read_error::ARCH != 0 {
            Arch::Undetected
        } else {
            Arch::from_audit(raw.arch, raw.syscall_nr)
        };
        prop_assert_eq!(event.arch, arch);
        prop_assert_eq!(event.syscall.name, arch.syscall_name(raw.syscall_nr));
        prop_assert_eq!(event.code_raw, raw.code);
        prop_assert_eq!(event.code, SeccompAction::from(raw.code));
        prop_assert_eq!(event.signal, (raw.signal != 0).then_some(raw.signal));
        prop_assert_eq!(event.comm, visible(&name));
        prop_assert_eq!(event.timestamp, WallClock::with_offset_ns(1_700_000_000_000_000_000).to_wall(raw.boot_ns));
        prop_assert_eq!(&*event.node, "node-a");
        prop_assert!(event.container.is_none());
    }

    #[test]
    fn the_details_read_back_as_the_program_wrote_them(details in details()) {
        let raw = &details.raw;
        let event = decoder()
            .decode_bytes(&record_bytes(raw, &details.strings()))
            .map_err(|e| TestCaseError::fail(format!("{details:?}: {e}")))?;
        let has = |flag| raw.details & flag != 0;
        // Whatever the source: a trap seen at the call's exit has the rolled-back register.
        let refused_with_errno = SeccompAction::from(raw.code) == SeccompAction::Errno;
        let errno = (refused_with_errno && has(detail::RET) && (-4095..=0).contains(&raw.ret))
            .then_some(-raw.ret as i32);
        prop_assert_eq!(event.errno, errno);
        // Every generic number has a name (41 and 58 are unused); numbers past them are the
        // kernel's own (ERESTARTSYS) or none.
        match errno {
            None | Some(0) | Some(41) | Some(58) => prop_assert_eq!(event.errno_name, None),
            Some(1..=133) => prop_assert!(event.errno_name.is_some_and(|name| name.starts_with('E'))),
            Some(_) => {}
        }
        prop_assert_eq!(event.args, has(detail::ARGS).then_some(raw.args));
        prop_assert_eq!(event.ip, has(detail::ARGS).then_some(raw.ip));
        prop_assert_eq!(event.path, has(detail::PATH).then(|| visible(&details.path)));
        prop_assert_eq!(
            event.path_truncated,
            has(detail::PATH).then_some(has(detail::PATH_TRUNCATED))
        );
        prop_assert_eq!(event.dirfd, has(detail::DIRFD).then_some(raw.dirfd));
        let exe = [&b"..."[..], b""][usize::from(!has(detail::EXE_TRUNCATED))]
            .iter()
            .copied()
            .chain(details.exe.iter().flat_map(|name| [&b"/"[..], name].concat()))
            .collect::<Vec<u8>>();
        prop_assert_eq!(event.exe, has(detail::EXE).then(|| visible(&exe)));
        let cmdline = details.argv.join(&b' ');
        prop_assert_eq!(event.cmdline, has(detail::CMDLINE).then(|| visible(&cmdline)));
        prop_assert_eq!(
            event.cmdline_truncated,
            has(detail::CMDLINE).then_some(has(detail::CMDLINE_TRUNCATED))
        );
        prop_assert_eq!(
            event.parent_comm,
            has(detail::PARENT_COMM).then(|| visible(&details.parent_name))
        );
        prop_assert_eq!(event.ns_pid, has(detail::NS_PIDS).then_some(raw.ns_pid));
        prop_assert_eq!(event.ns_ppid, has(detail::NS_PIDS).then_some(raw.ns_ppid));
    }
}
