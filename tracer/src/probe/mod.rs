//! Chooses, loads and attaches a hook on the kernel's seccomp audit path.
//!
//! Each hook is a row in [`HOOKS`], tried in order by `--probe auto`; every skipped hook is
//! reported with the reason, so an operator knows what the kernel lacks.

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
    /// fentry, then kprobe: the first that attaches.
    Auto,
    Fentry,
    Kprobe,
}

impl ProbeChoice {
    fn candidates(self) -> &'static [Hook] {
        match self {
            ProbeChoice::Auto => &[Hook::Fentry, Hook::Kprobe],
            ProbeChoice::Fentry => &[Hook::Fentry],
            ProbeChoice::Kprobe => &[Hook::Kprobe],
        }
    }
}

/// A hook that is attached; it stays attached while the [`Ebpf`] it was attached in lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    pub hook: Hook,
    pub function: String,
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
            Ok(function) => {
                for (skipped, why) in &failures {
                    tracing::info!(
                        "skipped {skipped}: {}",
                        Chain(why as &dyn std::error::Error)
                    );
                }
                tracing::info!("attached {hook} on {function}");
                return Ok(Attached { hook, function });
            }
            Err(error) => failures.push((hook, error)),
        }
    }
    Err(NoUsableHook { failures })
}

/// Displays an error with its causes on one line.
struct Chain<'a>(&'a dyn std::error::Error);

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
