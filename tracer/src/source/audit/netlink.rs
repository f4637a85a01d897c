//! The audit netlink socket's read-only multicast group (`AUDIT_NLGRP_READLOG`): the kernel copies
//! every audit record to it besides sending it to auditd or the kernel log, so reading it takes
//! nothing from auditd or journald.

use std::{
    io,
    mem::size_of,
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
};

use thiserror::Error;
use tokio::io::{Interest, unix::AsyncFd};

/// `AUDIT_SECCOMP`: the record type of seccomp's audit records.
pub const AUDIT_SECCOMP: u16 = 1326;

/// `AUDIT_NLGRP_READLOG`: the group for readers that are not auditd.
const AUDIT_NLGRP_READLOG: u32 = 1;
pub(super) const NLMSG_HDRLEN: usize = 16;
/// Room for a burst of records between two reads; past it the kernel drops records and the
/// next read fails with ENOBUFS.
pub const DEFAULT_RECEIVE_BUFFER_BYTES: usize = 8 << 20;
/// Room for one datagram: larger than any audit record (the kernel caps one at
/// `MAX_AUDIT_MESSAGE_LENGTH`, 8970 bytes, and sends each in a datagram of its own), so a
/// datagram is never cut.
const DATAGRAM_BYTES: usize = 9 * 1024;
/// Datagrams taken per system call: each record is a datagram, and a burst would otherwise cost
/// a `recv` per record. The buffer's pages become resident only as far as datagrams fill them.
const DATAGRAMS_PER_READ: usize = 32;

#[derive(Debug, Error)]
pub enum NetlinkError {
    #[error(
        "reading the kernel's audit records needs CAP_AUDIT_READ in the initial user namespace: \
         run as root on the host, or grant it with `setcap cap_audit_read+ep $(command -v tracer)`"
    )]
    NoAuditRead,
    #[error(
        "this kernel writes no audit records: it is built without CONFIG_AUDIT or booted with \
         audit=0; boot it without audit=0, or use a kernel with kprobes or fentry for the eBPF \
         hooks"
    )]
    NoAudit,
    #[error(
        "this kernel does not report the audit socket's drop count (SO_MEMINFO, Linux 4.6+): \
         records lost to a full socket buffer cannot be counted"
    )]
    NoDropCount,
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> NetlinkError {
    move |source| NetlinkError::Io { what, source }
}

/// Where opening a socket failed: callers tell different stories for the two.
pub(super) enum OpenError {
    Socket(io::Error),
    Bind(io::Error),
}

/// A `NETLINK_AUDIT` socket bound to the multicast `groups` (a bit mask, 0 for none).
pub(super) fn audit_socket(groups: u32, nonblocking: bool) -> Result<OwnedFd, OpenError> {
    let flags =
        libc::SOCK_RAW | libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, flags, libc::NETLINK_AUDIT) };
    if fd < 0 {
        return Err(OpenError::Socket(io::Error::last_os_error()));
    }
    // SAFETY: fd was just returned by socket(2) and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data, for which all zeroes is valid; the fields that matter
    // are set below. nl_pid 0 lets the kernel pick the port.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address.nl_groups = groups;
    // SAFETY: address is a valid sockaddr_nl and the length given is its size.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const address).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if bound != 0 {
        return Err(OpenError::Bind(io::Error::last_os_error()));
    }
    Ok(fd)
}

/// Sets an int socket option.
pub(super) fn set_int_option(
    fd: RawFd,
    level: libc::c_int,
    option: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt reads an int of the size given from a live local.
    let set = unsafe {
        libc::setsockopt(
            fd,
            level,
            option,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// SO_RCVBUFFORCE goes past `net.core.rmem_max` (it needs CAP_NET_ADMIN, which root has);
/// SO_RCVBUF is capped by it but still better than the default.
fn set_receive_buffer(fd: RawFd, bytes: libc::c_int) {
    let forced = set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes);
    if let Err(forced) = forced
        && let Err(capped) = set_int_option(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
    {
        tracing::warn!(
            "cannot enlarge the audit socket's receive buffer (SO_RCVBUFFORCE: {forced}, \
             SO_RCVBUF: {capped}): a burst of records may overflow it"
        );
    }
}

/// One netlink message of a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub seq: u32,
    /// The sender's port: 0 for the kernel.
    pub port: u32,
    pub payload: &'a [u8],
}

/// The netlink messages of a datagram, which may hold several, each padded to 4 bytes.
pub fn messages(mut datagram: &[u8]) -> impl Iterator<Item = Message<'_>> {
    std::iter::from_fn(move || {
        let header = datagram.get(..NLMSG_HDRLEN)?;
        let word = |at: usize| {
            u32::from_ne_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let len = word(0) as usize;
        if len < NLMSG_HDRLEN || len > datagram.len() {
            return None;
        }
        let message = Message {
            kind: u16::from_ne_bytes([header[4], header[5]]),
            seq: word(8),
            port: word(12),
            payload: &datagram[NLMSG_HDRLEN..len],
        };
        datagram = datagram.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some(message)
    })
}

/// A record's text: the kernel does not reliably end it with a NUL or a newline.
fn record_text(payload: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = payload
        .iter()
        .rposition(|&b| b != 0 && b != b'\n')
        .map_or(0, |last| last + 1);
    let text = &payload[..end];
    // Records are nearly always valid UTF-8 (the kernel hex-encodes untrusted strings), and
    // checking that is much cheaper than the lossy conversion's byte-by-byte walk.
    match std::str::from_utf8(text) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(text),
    }
}

/// A subscription to the kernel's audit records.
pub struct AuditRecords {
    socket: AsyncFd<OwnedFd>,
    buffer: Vec<u8>,
}

impl AuditRecords {
    /// Subscribes to every audit record the kernel writes from now on, with a socket receive
    /// buffer of `receive_buffer_bytes` to absorb bursts. Must be called within a tokio runtime.
    pub fn subscribe(receive_buffer_bytes: usize) -> Result<Self, NetlinkError> {
        let fd =
            audit_socket(1 << (AUDIT_NLGRP_READLOG - 1), true).map_err(|error| match error {
                OpenError::Socket(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => {
                    NetlinkError::NoAudit
                }
                OpenError::Socket(e) => io_error("opening an audit netlink socket")(e),
                OpenError::Bind(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    NetlinkError::NoAuditRead
                }
                OpenError::Bind(e) => {
                    io_error("joining the audit netlink socket's read-only multicast group")(e)
                }
            })?;
        set_receive_buffer(
            fd.as_raw_fd(),
            libc::c_int::try_from(receive_buffer_bytes).unwrap_or(libc::c_int::MAX),
        );
        // SAFETY: the OwnedFd is open and moves into the AsyncFd, which alone owns it from here
        // and never swaps it for another.
        let socket =
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE.add(Interest::ERROR)) }
                .map_err(|e| io_error("watching the audit socket")(e.into()))?;
        Ok(Self {
            socket,
            buffer: vec![0; DATAGRAM_BYTES * DATAGRAMS_PER_READ],
        })
    }

    /// The receive buffer the kernel granted, in bytes (it doubles what was asked for, for its
    /// own bookkeeping).
    pub fn receive_buffer_bytes(&self) -> io::Result<usize> {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into the live local `value`.
        let got = unsafe {
            libc::getsockopt(
                self.socket.get_ref().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw mut value).cast(),
                &mut len,
            )
        };
        if got != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(value.max(0) as usize)
    }

    /// Audit records (of any type) the kernel could not put on this socket because its receive
    /// buffer was full: the socket's own drop counter, which the kernel raises once for every
    /// record it drops (ENOBUFS only says that some were).
    pub fn dropped(&self) -> Result<u64, NetlinkError> {
        let mut meminfo = [0u32; libc::SK_MEMINFO_DROPS as usize + 1];
        let mut len = size_of_val(&meminfo) as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into the live local array.
        let got = unsafe {
            libc::getsockopt(
                self.socket.get_ref().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                meminfo.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if got != 0 {
            return Err(io_error("reading the audit socket's drop count")(
                io::Error::last_os_error(),
            ));
        }
        if (len as usize) < size_of_val(&meminfo) {
            return Err(NetlinkError::NoDropCount);
        }
        Ok(u64::from(meminfo[libc::SK_MEMINFO_DROPS as usize]))
    }

    /// Waits until records or an overflow arrive, without reading them.
    pub async fn ready(&self) -> Result<(), NetlinkError> {
        self.socket
            .ready(Interest::READABLE.add(Interest::ERROR))
            .await
            .map(drop)
            .map_err(io_error("waiting for audit records"))
    }

    /// Hands the seccomp records that are queued to `each`, stopping once `limit` of them were
    /// (a read may take up to [`DATAGRAMS_PER_READ`] more); true when the socket is empty.
    pub async fn read_queued(
        &mut self,
        limit: usize,
        each: &mut dyn FnMut(&str),
    ) -> Result<bool, NetlinkError> {
        let mut guard = self
            .socket
            .ready(Interest::READABLE.add(Interest::ERROR))
            .await
            .map_err(io_error("waiting for audit records"))?;
        let fd = guard.get_inner().as_raw_fd();
        let empty = read_available(fd, &mut self.buffer, limit, each)?;
        if empty {
            guard.clear_ready();
        }
        Ok(empty)
    }

    /// Hands over every seccomp record queued now, to the end, without waiting.
    pub fn read_all_queued(&mut self, each: &mut dyn FnMut(&str)) -> Result<(), NetlinkError> {
        let fd = self.socket.get_ref().as_raw_fd();
        read_available(fd, &mut self.buffer, usize::MAX, each).map(drop)
    }
}

/// Reads datagrams until the socket is empty (true) or `limit` seccomp records were handed over
/// (false).
fn read_available(
    fd: RawFd,
    buffer: &mut [u8],
    limit: usize,
    each: &mut dyn FnMut(&str),
) -> Result<bool, NetlinkError> {
    let mut handed = 0;
    let mut lengths = [0; DATAGRAMS_PER_READ];
    while handed < limit {
        let received = receive_datagrams(fd, buffer, &mut lengths);
        let count = match received {
            Ok(count) => count,
            Err(error) => match error.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(true),
                // ENOBUFS says the socket's buffer overflowed and the kernel dropped records;
                // the socket's drop counter tells how many. The error is reported once and
                // cleared, and the records queued before it are still there.
                Some(libc::EINTR | libc::ENOBUFS) => continue,
                _ => return Err(io_error("reading audit records")(error)),
            },
        };
        for (slot, &len) in buffer.chunks(DATAGRAM_BYTES).zip(&lengths[..count]) {
            for message in messages(&slot[..len]) {
                if message.kind == AUDIT_SECCOMP {
                    each(&record_text(message.payload));
                    handed += 1;
                }
            }
        }
    }
    Ok(false)
}

/// Receives up to [`DATAGRAMS_PER_READ`] datagrams in one call, each into its own
/// [`DATAGRAM_BYTES`] slot of `buffer`; returns how many, with their lengths in `lengths`.
fn receive_datagrams(
    fd: RawFd,
    buffer: &mut [u8],
    lengths: &mut [usize; DATAGRAMS_PER_READ],
) -> io::Result<usize> {
    // SAFETY: iovec and mmsghdr are plain C structs for which all zeroes is valid (null
    // pointers, zero lengths); the fields recvmmsg reads are set below.
    let mut iovecs: [libc::iovec; DATAGRAMS_PER_READ] = unsafe { std::mem::zeroed() };
    let mut headers: [libc::mmsghdr; DATAGRAMS_PER_READ] = unsafe { std::mem::zeroed() };
    let slots = buffer.chunks_mut(DATAGRAM_BYTES);
    let mut count = 0;
    for ((slot, iovec), header) in slots.zip(&mut iovecs).zip(&mut headers) {
        iovec.iov_base = slot.as_mut_ptr().cast();
        iovec.iov_len = slot.len();
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
        count += 1;
    }
    // SAFETY: each header points to one iovec, which points to a distinct slot of `buffer`;
    // all of them outlive the call, and `count` headers are initialised.
    let received = unsafe {
        libc::recvmmsg(
            fd,
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    let received = received as usize;
    for (length, header) in lengths.iter_mut().zip(&headers[..received]) {
        *length = header.msg_len as usize;
    }
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(&seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(payload);
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    #[test]
    fn splits_a_datagram_into_its_messages() {
        let mut datagram = message(1326, 1, b"abc");
        datagram.extend(message(1300, 2, b"defgh"));
        let parsed: Vec<_> = messages(&datagram)
            .map(|m| (m.kind, m.seq, m.payload))
            .collect();
        assert_eq!(parsed, [(1326, 1, &b"abc"[..]), (1300, 2, &b"defgh"[..])]);
    }

    #[test]
    fn stops_at_a_header_that_claims_too_much() {
        let mut datagram = message(1326, 1, b"abc");
        let mut bad = message(1326, 2, b"xyz");
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        datagram.extend(bad);
        datagram.extend([1, 2, 3]);
        assert_eq!(messages(&datagram).count(), 1);
        assert_eq!(messages(&[0; 15]).count(), 0);
        let mut short = message(1326, 3, b"");
        short[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(messages(&short).count(), 0);
    }

    #[test]
    fn trims_what_trails_a_record() {
        assert_eq!(
            record_text(b"audit(1.0:1): pid=1\n\0\0"),
            "audit(1.0:1): pid=1"
        );
        assert_eq!(record_text(b"audit(1.0:1): pid=1"), "audit(1.0:1): pid=1");
        assert_eq!(record_text(b"\0"), "");
    }
}
