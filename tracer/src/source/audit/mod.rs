//! The kernel's own seccomp audit records, read from the audit netlink socket: the source for
//! kernels that offer no hook on `audit_seccomp` to eBPF.
//!
//! [`netlink`] subscribes to the records and counts those its socket had no room for,
//! [`status`] reads the kernel's own count of records it lost, [`kernel_lost`] decides which of
//! that count tracer really missed, and [`source`] puts the pieces together.

pub mod kernel_lost;
pub mod netlink;
pub mod source;
pub mod status;

pub use netlink::{AUDIT_SECCOMP, DEFAULT_RECEIVE_BUFFER_BYTES, NetlinkError};
pub use source::AuditSource;

// Its filter names the architecture's syscall table.
#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod live_tests;
