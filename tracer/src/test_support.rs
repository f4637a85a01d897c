//! Events for unit tests.

use tracer_common::{HEADER_BYTES, RawSeccompEvent, detail, source};

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

/// `mkdir -p data` in a container refused with EACCES, with every detail the kernel programs
/// read: the header, and the path, exe and argv after it.
pub fn sample_denial() -> (RawSeccompEvent, Vec<u8>) {
    let (path, exe, cmdline): (&[u8], &[u8], &[u8]) =
        (b"data", b"mkdir\0bin\0usr\0", b"mkdir\0-p\0data\0");
    let mut comm = [0; 16];
    comm[..5].copy_from_slice(b"mkdir");
    let mut parent_comm = [0; 16];
    parent_comm[..4].copy_from_slice(b"bash");
    let raw = RawSeccompEvent {
        syscall_nr: 258,
        // audit_seccomp is handed the action without its data: the errno is in `ret`.
        code: 0x0005_0000,
        signal: 0,
        comm,
        parent_comm,
        // mkdirat(AT_FDCWD, "data", 0755): the int -100 sign-extended in its register.
        args: [0xffff_ffff_ffff_ff9c, 0x7ffd_3a2b_1c40, 0o755, 0, 0, 0],
        ip: 0x7f3c_8e1d_2a37,
        ret: -13,
        ns_pid: 42,
        ns_ppid: 1,
        dirfd: -100,
        path_len: path.len() as u16,
        exe_len: exe.len() as u16,
        cmdline_len: cmdline.len() as u16,
        details: detail::ARGS
            | detail::RET
            | detail::NS_PIDS
            | detail::PARENT_COMM
            | detail::PATH
            | detail::DIRFD
            | detail::EXE
            | detail::CMDLINE,
        ..sample_raw()
    };
    (raw, [path, exe, cmdline].concat())
}

/// [`sample_denial`], decoded.
pub fn sample_denial_event() -> Event {
    let (raw, strings) = sample_denial();
    Decoder::new(
        "node-a".into(),
        WallClock::with_offset_ns(1_700_000_000_000_000_000),
    )
    .decode_bytes(&record_bytes(&raw, &strings))
    .expect("a valid event")
}
