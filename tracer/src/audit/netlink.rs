//! The audit netlink socket: the read-only multicast group every audit record is copied to, and
//! the status request that tells how many records the kernel lost.

use std::{
    io,
    mem::size_of,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use thiserror::Error;
use tokio::io::unix::AsyncFd;

/// `AUDIT_NLGRP_READLOG`: the multicast group for readers that take nothing from auditd.
const AUDIT_NLGRP_READLOG: u32 = 1;
/// `AUDIT_GET`: asks for `struct audit_status`.
const AUDIT_GET: u16 = 1000;
const NLMSG_HDRLEN: usize = 16;
/// Room for a burst of records between two reads; the kernel drops records (ENOBUFS) past it.
const RECEIVE_BUFFER_BYTES: libc::c_int = 8 << 20;

#[derive(Debug, Error)]
pub enum NetlinkError {
    #[error(
        "reading the kernel's audit records needs CAP_AUDIT_READ: run as root, or grant it with \
         `setcap cap_audit_read+ep $(command -v tracer)`"
    )]
    NoAuditRead,
    #[error("reading the kernel's audit status needs CAP_AUDIT_CONTROL")]
    NoAuditControl,
    #[error("this kernel has no audit support (CONFIG_AUDIT)")]
    NoAudit,
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

fn audit_socket(groups: u32) -> Result<OwnedFd, NetlinkError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::NETLINK_AUDIT,
        )
    };
    if fd < 0 {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::EPROTONOSUPPORT) => NetlinkError::NoAudit,
            _ => io_error("opening an audit netlink socket")(error),
        });
    }
    // SAFETY: fd was just returned by socket(2) and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_nl is valid; the fields that matter are set below.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address.nl_groups = groups;
    // SAFETY: address is a valid sockaddr_nl of the size given.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&address as *const libc::sockaddr_nl).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if bound != 0 {
        let error = io::Error::last_os_error();
        return Err(match error.raw_os_error() {
            Some(libc::EPERM) if groups != 0 => NetlinkError::NoAuditRead,
            _ => io_error("binding the audit netlink socket")(error),
        });
    }
    Ok(fd)
}

fn set_receive_buffer(fd: &OwnedFd) {
    let size = RECEIVE_BUFFER_BYTES;
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt reads an int of the size given.
        let set = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if set == 0 {
            return;
        }
    }
    tracing::debug!(
        "cannot enlarge the audit socket's receive buffer: {}",
        io::Error::last_os_error()
    );
}

/// What one read of the multicast group brought.
#[derive(Debug, Default)]
pub struct Batch {
    /// The text of each seccomp record, in arrival order.
    pub records: Vec<String>,
    /// Times the socket reported records dropped because its buffer was full.
    pub overflows: u64,
}

pub struct AuditRecords {
    socket: AsyncFd<OwnedFd>,
    buffer: Vec<u8>,
}

impl AuditRecords {
    /// Subscribes to every audit record the kernel writes, alongside auditd or journald.
    pub fn subscribe() -> Result<Self, NetlinkError> {
        let fd = audit_socket(1 << (AUDIT_NLGRP_READLOG - 1))?;
        set_receive_buffer(&fd);
        // SAFETY: the OwnedFd is open and moves into the AsyncFd, which keeps it as long as it
        // is registered.
        let socket = unsafe { AsyncFd::register(fd) }
            .map_err(|e| io_error("watching the audit socket")(e.into()))?;
        Ok(Self {
            socket,
            buffer: vec![0; 64 * 1024],
        })
    }

    /// Waits for records, then reads all that are queued.
    pub async fn next_batch(&mut self, kind: u16) -> Result<Batch, NetlinkError> {
        let mut batch = Batch::default();
        loop {
            let mut guard = self
                .socket
                .readable()
                .await
                .map_err(io_error("waiting for audit records"))?;
            let fd = guard.get_inner().as_raw_fd();
            let drained = read_available(fd, &mut self.buffer, kind, &mut batch)?;
            if drained {
                guard.clear_ready();
            }
            if !batch.records.is_empty() || batch.overflows > 0 {
                return Ok(batch);
            }
        }
    }

    /// Reads what is queued now, without waiting.
    pub fn read_now(&mut self, kind: u16) -> Result<Batch, NetlinkError> {
        let mut batch = Batch::default();
        read_available(
            self.socket.get_ref().as_raw_fd(),
            &mut self.buffer,
            kind,
            &mut batch,
        )?;
        Ok(batch)
    }
}

/// Reads datagrams until the socket is empty (true) or a batch is large enough (false).
fn read_available(
    fd: libc::c_int,
    buffer: &mut [u8],
    kind: u16,
    batch: &mut Batch,
) -> Result<bool, NetlinkError> {
    while batch.records.len() < 4096 {
        // SAFETY: buffer is valid for writes of its length.
        let read = unsafe { libc::recv(fd, buffer.as_mut_ptr().cast(), buffer.len(), 0) };
        if read < 0 {
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(true),
                Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => batch.overflows += 1,
                _ => return Err(io_error("reading audit records")(error)),
            }
            continue;
        }
        for (message_kind, payload) in messages(&buffer[..read as usize]) {
            if message_kind == kind {
                let text = String::from_utf8_lossy(payload);
                batch
                    .records
                    .push(text.trim_end_matches(['\0', '\n']).to_owned());
            }
        }
    }
    Ok(false)
}

/// The (type, payload) of each netlink message in a datagram.
fn messages(mut datagram: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if datagram.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(datagram[0..4].try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(datagram[4..6].try_into().ok()?);
        if len < NLMSG_HDRLEN || len > datagram.len() {
            return None;
        }
        let payload = &datagram[NLMSG_HDRLEN..len];
        datagram = &datagram[((len + 3) & !3).min(datagram.len())..];
        Some((kind, payload))
    })
}

/// The parts of the kernel's `struct audit_status` tracer reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditStatus {
    pub enabled: u32,
    /// pid of the audit daemon, 0 when none runs.
    pub pid: u32,
    pub rate_limit: u32,
    pub backlog_limit: u32,
    /// Records the kernel dropped (rate limit, backlog limit, allocation failures) since boot.
    pub lost: u32,
    pub backlog: u32,
}

/// Asks the kernel for its audit status (`AUDIT_GET`).
pub fn status() -> Result<AuditStatus, NetlinkError> {
    let fd = audit_socket(0)?;
    let mut request = [0u8; NLMSG_HDRLEN];
    request[0..4].copy_from_slice(&(NLMSG_HDRLEN as u32).to_ne_bytes());
    request[4..6].copy_from_slice(&AUDIT_GET.to_ne_bytes());
    request[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: an all-zero sockaddr_nl addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: request and kernel are valid for the sizes given.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io_error("asking for the audit status")(
            io::Error::last_os_error(),
        ));
    }
    let mut reply = vec![0u8; 8192];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        // SAFETY: reply is valid for writes of its length.
        let read = unsafe { libc::recv(fd.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
        if read < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EAGAIN) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            }
            return Err(io_error("reading the audit status")(error));
        }
        for (kind, payload) in messages(&reply[..read as usize]) {
            match kind {
                AUDIT_GET if payload.len() >= 32 => {
                    let word = |i: usize| {
                        u32::from_ne_bytes(payload[i * 4..i * 4 + 4].try_into().expect("4 bytes"))
                    };
                    return Ok(AuditStatus {
                        enabled: word(1),
                        pid: word(3),
                        rate_limit: word(4),
                        backlog_limit: word(5),
                        lost: word(6),
                        backlog: word(7),
                    });
                }
                kind if kind == libc::NLMSG_ERROR as u16 && payload.len() >= 4 => {
                    let errno = -i32::from_ne_bytes(payload[0..4].try_into().expect("4 bytes"));
                    match errno {
                        0 => {}
                        libc::EPERM => return Err(NetlinkError::NoAuditControl),
                        errno => {
                            return Err(io_error("asking for the audit status")(
                                io::Error::from_raw_os_error(errno),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_datagrams_into_messages() {
        let mut datagram = Vec::new();
        for (kind, text) in [(1326u16, "abc"), (1300, "defgh")] {
            let len = (NLMSG_HDRLEN + text.len()) as u32;
            datagram.extend_from_slice(&len.to_ne_bytes());
            datagram.extend_from_slice(&kind.to_ne_bytes());
            datagram.extend_from_slice(&[0; 10]);
            datagram.extend_from_slice(text.as_bytes());
            while datagram.len() % 4 != 0 {
                datagram.push(0);
            }
        }
        let parsed: Vec<_> = messages(&datagram).collect();
        assert_eq!(parsed, [(1326, &b"abc"[..]), (1300, &b"defgh"[..])]);
    }

    #[test]
    fn reads_the_kernel_audit_status() {
        let status = status().expect("AUDIT_GET as root");
        assert!(status.backlog_limit > 0, "{status:?}");
    }
}
