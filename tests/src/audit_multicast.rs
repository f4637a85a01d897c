//! The kernel's audit records as its read-only multicast group hands them out, read by a thread
//! of the test's own: an oracle for floods. The kernel log (`kmsg`) holds about 600 records on a
//! small machine and overwrites them faster than a reader under load can take them; this socket
//! has a receive buffer large enough for a whole flood, and says when it overflowed.
//!
//! It is the group journald reads, next to tracer's own subscription: each subscriber gets every
//! record the kernel sends, so what this one reads does not depend on what tracer did.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use crate::kmsg::{SeccompRecord, parse_seccomp_record, wait_audit_queue_empty};

/// `AUDIT_NLGRP_READLOG`.
const READLOG_GROUP: u32 = 1;
/// The kernel charges about 2 KiB per record: room for a flood of 100,000 and more.
const RECEIVE_BUFFER: libc::c_int = 512 << 20;
const AUDIT_SECCOMP: u16 = 1326;

/// Reads the seccomp records the kernel multicasts from now on, until [`AuditMulticast::finish`].
pub struct AuditMulticast {
    stop: Arc<AtomicBool>,
    reader: JoinHandle<io::Result<Read>>,
}

struct Read {
    messages: Vec<String>,
    /// Times the socket overflowed (ENOBUFS): records were lost to this reader.
    overflows: u64,
}

impl AuditMulticast {
    /// Subscribes (as root: CAP_AUDIT_READ and CAP_NET_ADMIN for the buffer) and starts reading.
    pub fn subscribe() -> Self {
        let socket = open().unwrap_or_else(|error| {
            panic!("cannot subscribe to the kernel's audit records (run as root): {error}")
        });
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let reader = std::thread::spawn(move || read_until(&socket, &stopping));
        Self { stop, reader }
    }

    /// Waits until the kernel's audit queue is empty, stops reading, and returns the seccomp
    /// records read; panics if the socket overflowed, as the records would be no oracle then.
    pub fn finish(self) -> Vec<SeccompRecord> {
        wait_audit_queue_empty();
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::Relaxed);
        let read = self
            .reader
            .join()
            .expect("the audit socket's reader")
            .unwrap_or_else(|error| panic!("reading the kernel's audit records: {error}"));
        assert_eq!(
            read.overflows, 0,
            "the test's audit socket overflowed: its records are no oracle"
        );
        read.messages
            .iter()
            .filter_map(|message| {
                parse_seccomp_record(message).map(|parsed| {
                    parsed.unwrap_or_else(|error| panic!("an unreadable record: {error}"))
                })
            })
            .collect()
    }
}

fn open() -> io::Result<OwnedFd> {
    // SAFETY: plain socket calls on a descriptor this function owns, with valid arguments.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_AUDIT,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let socket = OwnedFd::from_raw_fd(fd);
        let size = RECEIVE_BUFFER;
        if libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        // Wakes the reader to look at its stop flag.
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        if libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        let mut address: libc::sockaddr_nl = std::mem::zeroed();
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        address.nl_groups = READLOG_GROUP;
        if libc::bind(
            fd,
            (&address as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }
}

fn read_until(socket: &OwnedFd, stop: &AtomicBool) -> io::Result<Read> {
    let mut read = Read {
        messages: Vec::new(),
        overflows: 0,
    };
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        // SAFETY: receives into a buffer of the length given.
        let len = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        if len < 0 {
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(read);
                    }
                    continue;
                }
                Some(libc::ENOBUFS) => {
                    read.overflows += 1;
                    continue;
                }
                _ => return Err(error),
            }
        }
        messages(&buffer[..len as usize], &mut read.messages);
    }
}

/// The seccomp records in a datagram, as the kernel log prints them (`type=1326 audit(...): ...`).
fn messages(mut datagram: &[u8], out: &mut Vec<String>) {
    const HEADER: usize = 16;
    while datagram.len() >= HEADER {
        let len = u32::from_ne_bytes(datagram[..4].try_into().expect("4 bytes")) as usize;
        let kind = u16::from_ne_bytes(datagram[4..6].try_into().expect("2 bytes"));
        if len < HEADER || len > datagram.len() {
            break;
        }
        if kind == AUDIT_SECCOMP {
            let text = String::from_utf8_lossy(&datagram[HEADER..len]);
            out.push(format!(
                "type={AUDIT_SECCOMP} {}",
                text.trim_end_matches('\0').trim_end()
            ));
        }
        // Messages are aligned to 4 bytes.
        let next = (len + 3) & !3;
        datagram = &datagram[next.min(datagram.len())..];
    }
}
