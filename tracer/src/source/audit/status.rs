//! The kernel's audit status (`AUDIT_GET`): above all its count of records it lost, which the
//! multicast group gives no other sign of.

use std::{
    io,
    mem::size_of,
    os::fd::{AsRawFd, OwnedFd},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use thiserror::Error;

use super::netlink::{self, NLMSG_HDRLEN, OpenError};

/// `AUDIT_GET`: asks for `struct audit_status`; the reply has the same type.
const AUDIT_GET: u16 = 1000;
/// The eight fields every kernel has sent since audit began.
const STATUS_MIN_BYTES: usize = 8 * 4;
/// The kernel answers from a thread of its own; it takes microseconds unless it is stuck.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum StatusError {
    #[error(
        "reading the kernel's audit status needs CAP_AUDIT_CONTROL in the initial user and pid \
         namespaces: run as root on the host, not inside a container"
    )]
    NoAuditControl,
    #[error(
        "the kernel answers audit requests only from its initial user namespace: run tracer on \
         the host, not inside a user-namespaced container"
    )]
    NotInitialUserNamespace,
    #[error(
        "this kernel has no audit support: it is built without CONFIG_AUDIT or booted with \
         audit=0"
    )]
    NoAudit,
    #[error("the kernel did not answer the audit status request within {REPLY_TIMEOUT:?}")]
    NoReply,
    #[error("the kernel's audit status reply has {len} bytes, fewer than {STATUS_MIN_BYTES}")]
    ShortReply { len: usize },
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> StatusError {
    move |source| StatusError::Io { what, source }
}

/// The kernel's `struct audit_status`. Fields newer kernels added are `None` on older ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditStatus {
    /// Which fields a request to set the status changes; meaningless in a reply.
    pub mask: u32,
    /// 0 off, 1 on, 2 on and locked.
    pub enabled: u32,
    /// What the kernel does when it loses a record: 0 nothing, 1 printk, 2 panic.
    pub failure: u32,
    /// The audit daemon's pid, 0 when none is registered.
    pub pid: u32,
    /// Records per second, 0 for no limit.
    pub rate_limit: u32,
    /// Records the kernel queues before it drops or waits.
    pub backlog_limit: u32,
    /// Records lost since boot, a counter that wraps, over every audit record type. Not all of
    /// them were kept from the multicast group: it also counts records the kernel had already
    /// sent there and then could not keep for auditd (see [`AuditStatus::lost_counts_delivered`]).
    pub lost: u32,
    /// Records queued now.
    pub backlog: u32,
    pub feature_bitmap: Option<u32>,
    /// How long a task waits for room in the backlog, in jiffies.
    pub backlog_wait_time: Option<u32>,
    /// Time tasks have spent waiting for room in the backlog since it was last reset.
    pub backlog_wait_time_actual: Option<u32>,
}

impl AuditStatus {
    /// Reads the reply's payload: u32s in native byte order.
    pub fn from_bytes(payload: &[u8]) -> Result<Self, StatusError> {
        if payload.len() < STATUS_MIN_BYTES {
            return Err(StatusError::ShortReply { len: payload.len() });
        }
        let word = |i: usize| {
            let bytes = payload.get(i * 4..i * 4 + 4)?;
            Some(u32::from_ne_bytes(bytes.try_into().ok()?))
        };
        let required = |i: usize| word(i).unwrap_or_default();
        Ok(Self {
            mask: required(0),
            enabled: required(1),
            failure: required(2),
            pid: required(3),
            rate_limit: required(4),
            backlog_limit: required(5),
            lost: required(6),
            backlog: required(7),
            feature_bitmap: word(8),
            backlog_wait_time: word(9),
            backlog_wait_time_actual: word(10),
        })
    }

    /// Records lost between `earlier` and this status, across a wrap of the counter.
    pub fn lost_since(&self, earlier: &AuditStatus) -> u32 {
        self.lost.wrapping_sub(earlier.lost)
    }

    /// Whether `lost` grows with records the multicast group did receive, on a kernel booted
    /// with `audit=1` (see [`booted_with_audit`]). With no audit daemon registered, such a
    /// kernel holds records for a daemon to come, up to `backlog_limit`, and counts every record
    /// past that as lost ("kauditd hold queue overflow") after sending it to the multicast group.
    /// A kernel booted without it drops those records without counting them.
    pub fn lost_counts_delivered(&self) -> bool {
        self.pid == 0 && self.enabled != 0
    }
}

/// Whether the kernel was booted with auditing on (`audit=1` or `audit=on`), which the status
/// does not say but which decides what the kernel does with records no daemon takes.
pub fn booted_with_audit() -> bool {
    std::fs::read_to_string("/proc/cmdline").is_ok_and(|cmdline| audit_on_in(&cmdline))
}

fn audit_on_in(cmdline: &str) -> bool {
    cmdline
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("audit="))
        .next_back()
        .is_some_and(|value| matches!(value, "1" | "on"))
}

/// Asks the kernel for its audit status on a socket of its own, so that nothing else (the
/// multicast group's records) is in the way of the reply.
pub fn read() -> Result<AuditStatus, StatusError> {
    let fd = netlink::audit_socket(0, false).map_err(|error| match error {
        OpenError::Socket(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) => {
            StatusError::NoAudit
        }
        OpenError::Socket(e) => io_error("opening an audit netlink socket")(e),
        OpenError::Bind(e) => io_error("binding an audit netlink socket")(e),
    })?;
    set_receive_timeout(&fd)?;
    let seq = next_sequence();
    send_request(&fd, seq)?;
    let mut reply = vec![0u8; 8192];
    loop {
        // SAFETY: reply is valid for writes of its length.
        let read = unsafe { libc::recv(fd.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
        if read < 0 {
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                // SO_RCVTIMEO expired.
                Some(libc::EAGAIN) => return Err(StatusError::NoReply),
                _ => return Err(io_error("reading the audit status")(error)),
            }
        }
        for message in netlink::messages(&reply[..read as usize]) {
            if message.port != 0 || message.seq != seq {
                continue;
            }
            match message.kind {
                AUDIT_GET => return AuditStatus::from_bytes(message.payload),
                kind if kind == libc::NLMSG_ERROR as u16 => check_ack(message.payload)?,
                _ => {}
            }
        }
    }
}

/// An `NLMSG_ERROR` message: error 0 is an acknowledgement, which the kernel may send before
/// or after the reply.
fn check_ack(payload: &[u8]) -> Result<(), StatusError> {
    let Some(error) = payload.get(..4) else {
        return Ok(());
    };
    let errno = -i32::from_ne_bytes(error.try_into().expect("4 bytes"));
    match errno {
        0 => Ok(()),
        libc::EPERM => Err(StatusError::NoAuditControl),
        libc::ECONNREFUSED => Err(StatusError::NotInitialUserNamespace),
        errno => Err(io_error("asking for the audit status")(
            io::Error::from_raw_os_error(errno),
        )),
    }
}

fn set_receive_timeout(fd: &OwnedFd) -> Result<(), StatusError> {
    let timeout = libc::timeval {
        tv_sec: REPLY_TIMEOUT.as_secs() as libc::time_t,
        tv_usec: REPLY_TIMEOUT.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: setsockopt reads a timeval of the size given from a live local.
    let set = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const timeout).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io_error("setting a timeout on the audit socket")(
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Sequence numbers tell this request's reply from a late one to an earlier request.
fn next_sequence() -> u32 {
    static SEQUENCE: AtomicU32 = AtomicU32::new(1);
    SEQUENCE.fetch_add(1, Ordering::Relaxed)
}

fn send_request(fd: &OwnedFd, seq: u32) -> Result<(), StatusError> {
    let mut request = [0u8; NLMSG_HDRLEN];
    request[0..4].copy_from_slice(&(NLMSG_HDRLEN as u32).to_ne_bytes());
    request[4..6].copy_from_slice(&AUDIT_GET.to_ne_bytes());
    request[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    request[8..12].copy_from_slice(&seq.to_ne_bytes());
    // SAFETY: sockaddr_nl is plain data; all zeroes but the family addresses the kernel.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: request and kernel are live locals valid for the sizes given.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            (&raw const kernel).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io_error("asking for the audit status")(
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn reads_old_and_new_layouts() {
        let old = AuditStatus::from_bytes(&words(&[0, 1, 1, 0, 0, 64, 7, 2])).unwrap();
        assert_eq!(
            (old.enabled, old.backlog_limit, old.lost, old.backlog),
            (1, 64, 7, 2)
        );
        assert_eq!(old.feature_bitmap, None);
        let new =
            AuditStatus::from_bytes(&words(&[0, 1, 1, 0, 0, 64, 7, 2, 0x7f, 60000, 3])).unwrap();
        assert_eq!(
            (
                new.feature_bitmap,
                new.backlog_wait_time,
                new.backlog_wait_time_actual
            ),
            (Some(0x7f), Some(60000), Some(3))
        );
        assert!(matches!(
            AuditStatus::from_bytes(&words(&[1, 2, 3])),
            Err(StatusError::ShortReply { len: 12 })
        ));
    }

    #[test]
    fn reads_the_boot_setting_from_the_command_line() {
        assert!(audit_on_in(
            "BOOT_IMAGE=/vmlinuz root=/dev/vda audit=1 quiet"
        ));
        assert!(audit_on_in("audit=on"));
        assert!(!audit_on_in("audit=0 quiet"));
        assert!(!audit_on_in("audit=1 audit=0"), "the last setting wins");
        assert!(!audit_on_in("audit_backlog_limit=8192 quiet"));
        assert!(!audit_on_in(""));
    }

    #[test]
    fn knows_when_the_lost_counter_includes_delivered_records() {
        let status = |enabled, pid| {
            AuditStatus::from_bytes(&words(&[0, enabled, 1, pid, 0, 64, 0, 0])).unwrap()
        };
        assert!(status(1, 0).lost_counts_delivered());
        assert!(!status(0, 0).lost_counts_delivered());
        assert!(!status(1, 812).lost_counts_delivered());
    }

    #[test]
    fn counts_losses_across_a_wrap() {
        let status = |lost| AuditStatus::from_bytes(&words(&[0, 1, 1, 0, 0, 64, lost, 0])).unwrap();
        assert_eq!(status(10).lost_since(&status(4)), 6);
        assert_eq!(status(2).lost_since(&status(u32::MAX - 1)), 4);
    }

    #[test]
    fn tells_an_ack_from_a_refusal() {
        let ack = |errno: i32| {
            let mut payload = (-errno).to_ne_bytes().to_vec();
            payload.extend([0; NLMSG_HDRLEN]);
            check_ack(&payload)
        };
        assert!(ack(0).is_ok());
        assert!(matches!(ack(libc::EPERM), Err(StatusError::NoAuditControl)));
        assert!(matches!(
            ack(libc::ECONNREFUSED),
            Err(StatusError::NotInitialUserNamespace)
        ));
        assert!(matches!(ack(libc::EINVAL), Err(StatusError::Io { .. })));
    }
}
