//! Chooses, loads and attaches a hook on the kernel's seccomp audit path.
//!
//! The hooks are tried in order by `--probe auto` (fentry, kprobe, then the kernel's own audit
//! records); every skipped hook is reported with the reason, so an operator knows what the
//! kernel lacks.

pub mod denials;
pub mod exits;
pub mod hooks;
pub mod kernel_log;
pub mod loader;
pub mod offsets;
pub mod path_args;
pub mod privileges;
pub mod recorder;

use aya::Ebpf;
use thiserror::Error;

pub use hooks::{Hook, HookError};

/// What `--probe` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeChoice {
    /// fentry, then kprobe, then audit: the first that works.
    Auto,
    /// An eBPF program on audit_seccomp through a BPF trampoline (needs BTF).
    Fentry,
    /// An eBPF program on audit_seccomp through a kprobe.
    Kprobe,
    /// The kernel's own seccomp audit records from the audit netlink socket, for kernels that
    /// allow neither eBPF hook.
    Audit,
}

impl ProbeChoice {
    pub fn candidates(self) -> &'static [Hook] {
        match self {
            ProbeChoice::Auto => &[Hook::Fentry, Hook::Kprobe, Hook::Audit],
            ProbeChoice::Fentry => &[Hook::Fentry],
            ProbeChoice::Kprobe => &[Hook::Kprobe],
            ProbeChoice::Audit => &[Hook::Audit],
        }
    }
}

#[derive(Debug, Error)]
pub enum ProgramsError {
    #[error("reading kernel structure offsets (only --probe audit works without them)")]
    Offsets(#[from] offsets::OffsetsError),
    #[error(transparent)]
    Load(#[from] loader::LoadError),
}

/// Loads the kernel programs with this kernel's structure offsets; nothing is attached yet.
pub fn load_programs(
    ring_buffer_bytes: u32,
    settings: &tracer_common::Settings,
) -> Result<Ebpf, ProgramsError> {
    let offsets = offsets::from_running_kernel()?;
    tracing::debug!(?offsets, "kernel structure offsets");
    Ok(loader::load(&offsets, ring_buffer_bytes, settings)?)
}
