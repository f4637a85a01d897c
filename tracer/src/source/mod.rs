//! Where events come from: the kernel programs' ring buffer, or the kernel's own seccomp audit
//! records. A source only hands over raw records and says what it lost; decoding, enrichment and
//! counting happen once, downstream, the same way for every source.

pub mod audit;
pub mod open;
pub mod ringbuf;

use std::io;

use aya::maps::MapError;
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
    Audit(audit::AuditSource),
}

impl Source {
    /// Waits until records are ready to be read; reads nothing.
    pub async fn ready(&mut self) -> Result<(), SourceError> {
        match self {
            Source::RingBuffer(ring) => ring.ready().await,
            Source::Audit(audit) => audit.ready().await,
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
            Source::Audit(audit) => audit.read_ready(each).await,
        }
    }

    /// Once the run stops: hands over everything still queued, to the end.
    pub async fn drain(&mut self, each: &mut dyn FnMut(RawRecord<'_>)) -> Result<(), SourceError> {
        match self {
            Source::RingBuffer(ring) => {
                ring.drain(each);
                Ok(())
            }
            Source::Audit(audit) => audit.drain(each).await,
        }
    }

    /// What was lost so far, as last measured. Cheap: never waits on the kernel.
    pub fn losses(&mut self) -> Result<Losses, SourceError> {
        match self {
            Source::RingBuffer(ring) => ring.losses(),
            Source::Audit(audit) => Ok(audit.losses()),
        }
    }

    /// What was lost, measured once more now; for the summary at the end.
    pub async fn final_losses(&mut self) -> Result<Losses, SourceError> {
        match self {
            Source::RingBuffer(ring) => ring.losses(),
            Source::Audit(audit) => Ok(audit.final_losses().await),
        }
    }

    /// Why this source loses events, and what to do about it, for the warning that reports them.
    pub fn loss_advice(&self) -> &'static str {
        match self {
            Source::RingBuffer(_) => "the ring buffer was full (raise --ring-buffer-size)",
            Source::Audit(_) => {
                "the kernel's audit backlog or rate limit was exceeded, or tracer's socket buffer \
                 overflowed (see auditctl -s; raise --audit-receive-buffer)"
            }
        }
    }
}
