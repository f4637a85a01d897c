//! Chooses the source a run reads from: the first hook `--probe` allows that works, with the
//! reason every skipped one was skipped.

use std::{fmt, sync::Arc};

use aya::{
    Ebpf,
    maps::{MapError, PerCpuArray},
};
use thiserror::Error;
use tracer_common::names;

use super::{
    Source,
    audit::{AuditSource, NetlinkError},
    ringbuf::{EventReader, LostCounter, RingBufferSource},
};
use crate::{
    error_chain::Chain,
    probe::{self, Hook, HookError, ProbeChoice, ProgramsError},
};

/// Why one hook could not be used.
#[derive(Debug, Error)]
pub enum HookFailure {
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("the kernel programs could not be loaded")]
    ProgramsUnavailable(#[source] Arc<ProgramsError>),
    #[error("the kernel programs have no {0} map")]
    MissingMap(&'static str),
    #[error("opening the kernel programs' maps")]
    Map(#[source] MapError),
    #[error("watching the event ring buffer")]
    Watch(#[source] std::io::Error),
    #[error("subscribing to the kernel's audit records")]
    Audit(#[source] NetlinkError),
}

/// Every hook that was tried, and why it could not be used.
#[derive(Debug, Error)]
pub struct NoUsableHook {
    pub failures: Vec<(Hook, HookFailure)>,
}

impl fmt::Display for NoUsableHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no usable hook on the kernel's seccomp audit path:")?;
        for (hook, error) in &self.failures {
            write!(f, "\n  {hook}: {}", Chain(error))?;
        }
        if self.failures.len() == 1 {
            write!(
                f,
                "\n  (only this hook was tried: --probe auto tries every hook, and --probe audit \
                 reads the kernel's own audit records)"
            )?;
        }
        Ok(())
    }
}

/// The source of a run, the hook behind it, and the hooks tried before it that did not work.
pub struct Opened {
    pub hook: Hook,
    pub source: Source,
    skipped: Vec<String>,
}

impl Opened {
    /// Says which hook tracer reads from, and why the ones before it were skipped. Called once
    /// everything the source's events need is in place: a user (or a test) that starts a
    /// workload on seeing `attached` must not find its first events unattributed.
    pub fn announce(&self) {
        let skipped = &self.skipped;
        match &self.source {
            Source::RingBuffer(ring) => {
                for reason in skipped {
                    tracing::info!("skipped {reason}");
                }
                tracing::info!("attached {} on {}", self.hook, ring.function());
            }
            Source::Audit(..) if skipped.is_empty() => tracing::info!(
                "attached audit on kernel-audit-records: reading the kernel's own seccomp audit \
                 records"
            ),
            Source::Audit(..) => tracing::warn!(
                "attached audit on kernel-audit-records: falling back to the kernel's own seccomp \
                 audit records, because no eBPF hook works here ({})",
                skipped.join("; ")
            ),
        }
    }
}

/// Tries the hooks `choice` allows, in order, and opens the first that works. `programs` are
/// the loaded kernel programs, or why they could not be loaded (only the audit source works
/// without them).
pub fn open(
    programs: Result<&mut Ebpf, Arc<ProgramsError>>,
    choice: ProbeChoice,
    audit_receive_buffer: usize,
) -> Result<Opened, NoUsableHook> {
    let mut programs = programs;
    let mut failures: Vec<(Hook, HookFailure)> = Vec::new();
    for &hook in choice.candidates() {
        let opened = match (hook, &mut programs) {
            (Hook::Audit, programs) => AuditSource::subscribe(audit_receive_buffer)
                .map(|records| {
                    let details = programs.as_mut().ok().and_then(|ebpf| open_details(ebpf));
                    Source::Audit(records, details)
                })
                .map_err(HookFailure::Audit),
            (_, Err(why)) => Err(HookFailure::ProgramsUnavailable(Arc::clone(why))),
            (_, Ok(ebpf)) => open_ring_buffer(ebpf, hook),
        };
        match opened {
            Ok(source) => {
                let skipped = failures
                    .iter()
                    .map(|(skipped, why)| format!("{skipped}: {}", Chain(why)))
                    .collect();
                return Ok(Opened {
                    hook,
                    source,
                    skipped,
                });
            }
            Err(error) => failures.push((hook, error)),
        }
    }
    Err(NoUsableHook { failures })
}

fn open_ring_buffer(ebpf: &mut Ebpf, hook: Hook) -> Result<Source, HookFailure> {
    let function = probe::hooks::attach(ebpf, hook)?;
    Ok(Source::RingBuffer(ring_buffer(ebpf, function)?))
}

/// The kernel programs' ring buffer beside the audit records: without it, kills lack their
/// details and `--all-denials` sees nothing, which is said once.
fn open_details(ebpf: &mut Ebpf) -> Option<Box<RingBufferSource>> {
    match ring_buffer(ebpf, "sched_process_exit".into()) {
        Ok(ring) => Some(ring),
        Err(error) => {
            tracing::warn!(
                "events will lack the arguments of killed processes, and --all-denials will \
                 see nothing: {}",
                Chain(&error)
            );
            None
        }
    }
}

fn ring_buffer(ebpf: &mut Ebpf, function: String) -> Result<Box<RingBufferSource>, HookFailure> {
    let mut map = |name| ebpf.take_map(name).ok_or(HookFailure::MissingMap(name));
    let reader = EventReader::new(
        map(names::EVENTS_MAP)?
            .try_into()
            .map_err(HookFailure::Map)?,
    )
    .map_err(HookFailure::Watch)?;
    let lost =
        LostCounter::new(PerCpuArray::try_from(map(names::LOST_MAP)?).map_err(HookFailure::Map)?);
    Ok(Box::new(RingBufferSource::new(reader, lost, function)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{probe::offsets::OffsetsError, source::audit::DEFAULT_RECEIVE_BUFFER_BYTES};

    /// A kernel without BTF (or whose types tracer cannot read) cannot run the eBPF programs,
    /// but its audit records still work.
    #[tokio::test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    async fn the_audit_source_opens_without_the_kernel_programs() {
        let unavailable = || {
            Arc::new(ProgramsError::Offsets(OffsetsError::NoStruct(
                "task_struct".into(),
            )))
        };
        let opened = open(
            Err(unavailable()),
            ProbeChoice::Auto,
            DEFAULT_RECEIVE_BUFFER_BYTES,
        )
        .unwrap_or_else(|error| panic!("auto must fall back to audit: {error}"));
        assert_eq!(opened.hook, Hook::Audit);

        let error = open(
            Err(unavailable()),
            ProbeChoice::Kprobe,
            DEFAULT_RECEIVE_BUFFER_BYTES,
        )
        .err()
        .expect("kprobe needs the programs");
        let message = error.to_string();
        assert!(
            message.contains(
                "kprobe: the kernel programs could not be loaded: reading kernel \
                              structure offsets"
            ) && message.contains("--probe audit"),
            "{message}"
        );
    }
}
