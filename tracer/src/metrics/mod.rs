//! `--metrics-addr`: what a run has seen, lost and left unshown, as Prometheus metrics at
//! /metrics. The pipeline keeps its counts in its own arrays ([`counts`]) and publishes them
//! here once a second with the sinks' states and the source's losses; a scrape only reads
//! what was published ([`collector`]), so neither touches the other's hot path.

pub mod collector;
pub mod counts;
pub mod server;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
};

use crate::{enrich::Runtimes, sink::SinkState};
use counts::{EventCounts, KINDS, Suppressed};

/// Events lost before they reached the pipeline, by where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LostByStage {
    /// Found the kernel programs' ring buffer full.
    pub ring_buffer: u64,
    /// Audit records the kernel dropped, or tracer's socket could not hold.
    pub kernel_audit: u64,
}

/// What the last publication said; read by scrapes.
pub struct Metrics {
    events: Box<[AtomicU64]>,
    suppressed: [AtomicU64; Suppressed::ALL.len()],
    /// Nanoseconds since the epoch; `i64::MIN` before the first event.
    last_event_ns: AtomicI64,
    lost_ring_buffer: AtomicU64,
    lost_kernel_audit: AtomicU64,
    enrichment_misses: AtomicU64,
    sinks: Mutex<Vec<SinkState>>,
    /// Read at scrape time: it counts its own requests.
    runtimes: Option<Arc<Runtimes>>,
}

impl Metrics {
    pub fn new(runtimes: Option<Arc<Runtimes>>) -> Self {
        Self {
            events: (0..KINDS).map(|_| AtomicU64::new(0)).collect(),
            suppressed: Default::default(),
            last_event_ns: AtomicI64::new(i64::MIN),
            lost_ring_buffer: AtomicU64::new(0),
            lost_kernel_audit: AtomicU64::new(0),
            enrichment_misses: AtomicU64::new(0),
            sinks: Mutex::new(Vec::new()),
            runtimes,
        }
    }

    /// Takes the pipeline's counts as they are now.
    pub fn publish(
        &self,
        counts: &EventCounts,
        lost: LostByStage,
        enrichment_misses: u64,
        sinks: Vec<SinkState>,
    ) {
        for (shared, &count) in self.events.iter().zip(counts.by_kind.iter()) {
            shared.store(count, Relaxed);
        }
        for (shared, &count) in self.suppressed.iter().zip(&counts.suppressed) {
            shared.store(count, Relaxed);
        }
        if let Some(ns) = counts.last_event.and_then(|t| t.timestamp_nanos_opt()) {
            self.last_event_ns.store(ns, Relaxed);
        }
        self.lost_ring_buffer.store(lost.ring_buffer, Relaxed);
        self.lost_kernel_audit.store(lost.kernel_audit, Relaxed);
        self.enrichment_misses.store(enrichment_misses, Relaxed);
        *self.sinks.lock().unwrap_or_else(|e| e.into_inner()) = sinks;
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
