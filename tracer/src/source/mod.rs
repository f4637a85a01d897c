//! Where events come from: the kernel programs' ring buffer, or the kernel's own seccomp audit
//! records. A source only hands over raw records and says what it lost; decoding, enrichment and
//! counting happen once, downstream, the same way for every source.

pub mod audit;
pub mod open;
pub mod ringbuf;

use std::io;

use aya::maps::MapError;
use futures_util::FutureExt as _;
use thiserror::Error;

pub use open::{HookFailure, NoUsableHook, Opened, open};

/// One record as a source received it, before decoding.
#[derive(Clone, Copy, Debug)]
pub enum RawRecord<'a> {
    /// A `RawSeccompEvent` as a kernel program wrote it.
    Kernel(&'a [u8]),
    /// The text of a seccomp audit record (type 1326).
    Audit(&'a str),
}

/// What a source could not deliver, since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Events that never reached tracer.
    pub lost: u64,
    /// The audit source only: records the kernel counted as lost although tracer received them
    /// (the kernel does so while auditing is enabled with no audit daemon).
    pub counted_but_delivered: u64,
}

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("reading the event ring buffer")]
    RingBuffer(#[source] io::Error),
    #[error("reading the kernel programs' lost-event counter")]
    LostCounter(#[source] MapError),
    #[error("reading the kernel's audit records")]
    Audit(#[source] audit::NetlinkError),
}

/// The source a run reads from.
pub enum Source {
    RingBuffer(Box<ringbuf::RingBufferSource>),
    /// The kernel's audit records and, where tracer's kernel programs run, their ring buffer:
    /// the details of killed tasks and the `--all-denials` refusals, which the pipeline matches
    /// with the records of the same calls.
    Audit(audit::AuditSource, Option<Box<ringbuf::RingBufferSource>>),
}

impl Source {
    /// Waits until records are ready to be read; reads nothing.
    pub async fn ready(&mut self) -> Result<(), SourceError> {
        match self {
            Source::RingBuffer(ring) => ring.ready().await,
            Source::Audit(audit, None) => audit.ready().await,
            Source::Audit(audit, Some(details)) => tokio::select! {
                ready = audit.ready() => ready,
                ready = details.ready() => ready,
            },
        }
    }

    /// Hands over the records that are ready, without waiting. A flood is handed over in
    /// bounded batches, so the caller gets to its other work between them.
    pub async fn read_ready(
        &mut self,
        each: &mut dyn FnMut(RawRecord<'_>),
    ) -> Result<(), SourceError> {
        match self {
            Source::RingBuffer(ring) => ring.read_ready(each).await,
            Source::Audit(audit, None) => audit.read_ready(each).await,
            Source::Audit(audit, Some(details)) => {
                details.read_ready(each).await?;
                // The ring buffer may be what woke the source: the records are read only if
                // some are queued, never waited for here, where no signal is listened to.
                audit.read_ready(each).now_or_never().unwrap_or(Ok(()))
            }
        }
    }

    /// Once the run stops: hands over everything still queued, to the end.
    pub async fn drain(&mut self, each: &mut dyn FnMut(RawRecord<'_>)) -> Result<(), SourceError> {
        match self {
            Source::RingBuffer(ring) => {
                ring.drain(each);
                Ok(())
            }
            Source::Audit(audit, details) => {
                if let Some(details) = details {
                    details.drain(each);
                }
                audit.drain(each).await
            }
        }
    }

    /// What was lost so far, as last measured. Cheap: never waits on the kernel.
    pub fn losses(&mut self) -> Result<Losses, SourceError> {
        match self {
            Source::RingBuffer(ring) => ring.losses(),
            Source::Audit(audit, details) => with_details_lost(audit.losses(), details),
        }
    }

    /// What was lost so far, as [`Source::losses`], by where it was lost.
    pub fn lost_by_stage(&mut self) -> Result<crate::metrics::LostByStage, SourceError> {
        Ok(match self {
            Source::RingBuffer(ring) => crate::metrics::LostByStage {
                ring_buffer: ring.losses()?.lost,
                kernel_audit: 0,
            },
            Source::Audit(audit, details) => crate::metrics::LostByStage {
                ring_buffer: with_details_lost(Losses::default(), details)?.lost,
                kernel_audit: audit.losses().lost,
            },
        })
    }

    /// Records the kernel programs beside the audit records lost so far, `None` without them:
    /// a lost entry of a watched call would make the entries left of the same call look
    /// unique.
    pub fn details_lost(&self) -> Result<Option<u64>, SourceError> {
        match self {
            Source::Audit(_, Some(details)) => Ok(Some(details.losses()?.lost)),
            _ => Ok(None),
        }
    }

    /// What was lost, measured once more now; for the summary at the end.
    pub async fn final_losses(&mut self) -> Result<Losses, SourceError> {
        match self {
            Source::RingBuffer(ring) => ring.losses(),
            Source::Audit(audit, details) => {
                let records = audit.final_losses().await;
                with_details_lost(records, details)
            }
        }
    }

    /// Why this source loses events, and what to do about it, for the warning that reports them.
    pub fn loss_advice(&self) -> &'static str {
        match self {
            Source::RingBuffer(_) => "the ring buffer was full (raise --ring-buffer-size)",
            Source::Audit(..) => {
                "the kernel's audit backlog or rate limit was exceeded, or tracer's socket buffer \
                 overflowed (see auditctl -s; raise --audit-receive-buffer)"
            }
        }
    }
}

/// The audit source's losses, with the kernel programs' records that found their ring buffer
/// full: a lost refusal of `--all-denials` is a lost event too.
fn with_details_lost(
    records: Losses,
    details: &Option<Box<ringbuf::RingBufferSource>>,
) -> Result<Losses, SourceError> {
    let lost = match details {
        Some(details) => details.losses()?.lost,
        None => 0,
    };
    Ok(Losses {
        lost: records.lost + lost,
        ..records
    })
}
