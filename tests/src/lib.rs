//! End-to-end tests of tracer against real kernels.
//!
//! The library holds what the test binaries and the `seccomp-workload` binary share: a seccomp
//! filter builder ([`filter`]), the plan a workload announces ([`plan`]), the kernel's own audit
//! records as an oracle ([`kmsg`]), running tracer ([`tracer`]) and the workload ([`workload`]),
//! and comparing what tracer saw with the oracle ([`oracle`]).

pub mod audit_multicast;
pub mod cgroup;
pub mod container_details;
pub mod container_stacks;
pub mod containers;
pub mod ctr;
pub mod docker;
pub mod env;
pub mod faults;
pub mod file_sink;
pub mod filter;
pub mod kmsg;
pub mod metrics;
pub mod oracle;
pub mod packaging;
pub mod perf;
pub mod plan;
pub mod podman;
#[cfg(target_arch = "x86_64")]
pub mod profiles;
pub mod receiver;
pub mod runtimes;
pub mod tracer;
pub mod workload;
