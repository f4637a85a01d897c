//! Events for unit tests.

use tracer_common::{HEADER_BYTES, RawSeccompEvent, source};

use crate::events::{Decoder, Event, clock::WallClock};

/// The kill from the README's example, as the kernel program writes it.
pub fn sample_raw() -> RawSeccompEvent {
    let mut comm = [0; 16];
    comm[..7].copy_from_slice(b"unshare");
    RawSeccompEvent {
        boot_ns: 5,
        cgroup_id: 77,
        pid: 485855,
        tid: 485856,
        ppid: 1,
        uid: 1000,
        gid: 100,
        mntns_id: 4026531841,
        syscall_nr: 272,
        arch: 0xc000_003e,
        code: 0,
        signal: 31,
        source: source::FENTRY,
        read_errors: 0,
        comm,
        ..Default::default()
    }
}

/// [`sample_raw`], decoded.
pub fn sample_event() -> Event {
    Decoder::new(
        "node-a".into(),
        WallClock::with_offset_ns(1_700_000_000_000_000_000),
    )
    .decode(&sample_raw())
    .expect("a valid event")
}

/// A ring buffer record: `raw`'s bytes, then `strings` (the path, exe and argv its lengths
/// announce, or anything else a test wants after the header).
pub fn record_bytes(raw: &RawSeccompEvent, strings: &[u8]) -> Vec<u8> {
    // SAFETY: RawSeccompEvent is plain integers without padding: all of its bytes are
    // initialized.
    let header = unsafe {
        std::slice::from_raw_parts((raw as *const RawSeccompEvent).cast::<u8>(), HEADER_BYTES)
    };
    [header, strings].concat()
}
