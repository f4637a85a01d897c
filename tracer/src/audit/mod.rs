//! The kernel's own seccomp audit records, read from the audit netlink socket: the event source
//! for kernels that offer no hook on `audit_seccomp` to eBPF.
//!
//! [`netlink`] subscribes to the records, [`record`] parses them, [`status`] reads the kernel's
//! count of records it lost, [`event`] turns a record into an event and [`source`] puts the
//! pieces together for the pipeline.

pub mod event;
pub mod netlink;
pub mod record;
pub mod source;
pub mod status;

// Its filter names the architecture's syscall table.
#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod live_tests;
