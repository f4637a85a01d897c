//! Chooses, loads and attaches a hook on the kernel's seccomp audit path.
//!
//! The hooks are tried in order by `--probe auto` (fentry, kprobe, then the kernel's own audit
//! records); every skipped hook is reported with the reason, so an operator knows what the
//! kernel lacks.

pub mod exits;
pub mod hooks;
pub mod loader;
pub mod offsets;
pub mod privileges;

use std::fmt;

use aya::Ebpf;
use thiserror::Error;

pub use hooks::{Hook, HookError};

/// What `--probe` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeChoice {
    /// fentry, then kprobe, then audit: the first that works.
    Auto,
    Fentry,
    Kprobe,
    /// The kernel's own seccomp audit records, for kernels without kprobes or fentry.
    Audit,
}

impl ProbeChoice {
    fn candidates(self) -> &'static [Hook] {
        match self {
            ProbeChoice::Auto => &[Hook::Fentry, Hook::Kprobe, Hook::Audit],
            ProbeChoice::Fentry => &[Hook::Fentry],
            ProbeChoice::Kprobe => &[Hook::Kprobe],
            ProbeChoice::Audit => &[Hook::Audit],
        }
    }
}

/// A hook that is attached; it stays attached while the [`Ebpf`] it was attached in lives.
pub struct Attached {
    pub hook: Hook,
    pub delivery: hooks::Delivery,
}

/// Every hook that was tried, and why it could not be used.
#[derive(Debug, Error)]
pub struct NoUsableHook {
    pub failures: Vec<(Hook, HookError)>,
}

impl fmt::Display for NoUsableHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no usable hook on the kernel's seccomp audit path:")?;
        for (hook, error) in &self.failures {
            write!(f, "\n  {hook}: {error}")?;
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
        }
        if self.failures.len() == 1 {
            write!(
                f,
                "\n  (only this hook was tried: --probe auto tries every hook)"
            )?;
        }
        Ok(())
    }
}

/// Tries the hooks `choice` allows, in order, and attaches the first that works.
pub fn attach(ebpf: &mut Ebpf, choice: ProbeChoice) -> Result<Attached, NoUsableHook> {
    let mut failures: Vec<(Hook, HookError)> = Vec::new();
    for &hook in choice.candidates() {
        match hooks::attach(ebpf, hook) {
            Ok(delivery) => {
                let skipped: Vec<String> = failures
                    .iter()
                    .map(|(skipped, why)| {
                        format!("{skipped}: {}", Chain(why as &dyn std::error::Error))
                    })
                    .collect();
                match &delivery {
                    hooks::Delivery::RingBuffer { function } => {
                        for reason in &skipped {
                            tracing::info!("skipped {reason}");
                        }
                        tracing::info!("attached {hook} on {function}");
                    }
                    hooks::Delivery::Audit { .. } if skipped.is_empty() => tracing::info!(
                        "attached audit on kernel-audit-records: reading the kernel's own seccomp \
                         audit records"
                    ),
                    hooks::Delivery::Audit { .. } => tracing::warn!(
                        "attached audit on kernel-audit-records: falling back to the kernel's own \
                         seccomp audit records, because no eBPF hook works here ({})",
                        skipped.join("; ")
                    ),
                }
                return Ok(Attached { hook, delivery });
            }
            Err(error) => failures.push((hook, error)),
        }
    }
    Err(NoUsableHook { failures })
}

/// Displays an error with its causes on one line.
pub(crate) struct Chain<'a>(pub &'a dyn std::error::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
