//! The kernel's own seccomp audit records, read from the audit netlink socket: the event source
//! for kernels that offer no hook on `audit_seccomp` to eBPF.

pub mod event;
pub mod netlink;
pub mod record;
pub mod source;
