//! The decoder of ring buffer records (`events::Decoder::decode_bytes`), fed bytes laid out
//! here field by field the way the kernel programs write a `RawSeccompEvent` and the strings
//! after it, and bytes of no layout at all.

use proptest::prelude::*;
use tracer::events::{Arch, Decoder, SeccompAction, Source, clock::WallClock, text::visible};
use tracer_common::{COMM_LEN, HEADER_BYTES, RawSeccompEvent, read_error, source};

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
    bytes.extend_from_slice(&raw._padding.to_ne_bytes());
    assert_eq!(bytes.len(), HEADER_BYTES, "the header is 184 bytes");
    bytes.extend_from_slice(strings);
    bytes
}

/// The lengths a record's header announces, and what they add up to with the header.
fn announced(bytes: &[u8]) -> usize {
    let half = |at: usize| usize::from(u16::from_ne_bytes([bytes[at], bytes[at + 1]]));
    HEADER_BYTES + half(LENGTHS_AT) + half(LENGTHS_AT + 2) + half(LENGTHS_AT + 4)
}

const KNOWN_SOURCES: [u32; 4] = [
    source::FENTRY,
    source::KPROBE,
    source::SYSCALL_EXIT,
    source::TASK_EXIT,
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
}
