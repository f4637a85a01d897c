//! The path every event takes, whatever its source: decode → enrich → (a bounded wait for a
//! runtime's answer) → filter → sinks, counted once, here. [`run`] drives it from a source until
//! the run stops, then drains the source to the end.

pub mod correlate;
pub mod logged_calls;
pub mod pending;
pub mod run;
pub mod summary;
mod symbolize;

use std::sync::Arc;

use tokio::time::Instant;

use crate::{
    enrich::{Enriched, Enricher},
    events::{Decoder, Event, Source},
    filter::Filter,
    sink::Sinks,
    source::RawRecord,
    stack::Symbolizer,
};
use correlate::Correlator;
use pending::Pending;
pub use summary::Summary;

/// Undecodable records are logged up to this many times, then only counted.
const UNDECODABLE_WARNINGS: u64 = 10;

pub struct Pipeline {
    decoder: Decoder,
    correlator: Correlator,
    enricher: Enricher,
    pending: Pending,
    filter: Filter,
    /// Present with `--stack`.
    symbolizer: Option<Symbolizer>,
    sinks: Sinks,
    summary: Summary,
}

impl Pipeline {
    pub fn new(
        decoder: Decoder,
        correlator: Correlator,
        enricher: Enricher,
        filter: Filter,
        sinks: Sinks,
    ) -> Self {
        Self {
            decoder,
            correlator,
            enricher,
            pending: Pending::default(),
            filter,
            symbolizer: None,
            sinks,
            summary: Summary::default(),
        }
    }

    /// With stacks: events that carry one get it symbolized before they go out.
    pub fn with_symbolizer(self, symbolizer: Symbolizer) -> Self {
        Self {
            symbolizer: Some(symbolizer),
            ..self
        }
    }

    /// Takes one record from the source.
    pub fn accept(&mut self, record: RawRecord<'_>) {
        self.summary.delivered += 1;
        match self.decoder.decode_record(record) {
            Ok(mut event) => {
                // Named before any wait for the call's other report: the caller and its
                // container may be gone once it is over. An entry needs no name: it only
                // lends its details to a record, which has its own.
                let enriched = if event.source == Source::SyscallEnter {
                    Enriched::Ready
                } else {
                    self.enricher.enrich(&mut event)
                };
                if let Some((event, enriched)) =
                    self.correlator.push(event, enriched, Instant::now())
                {
                    self.queue(event, enriched);
                }
            }
            Err(error) => {
                self.summary.undecodable += 1;
                if self.summary.undecodable <= UNDECODABLE_WARNINGS {
                    tracing::warn!(
                        "skipping an undecodable record: {}",
                        crate::error_chain::Chain(&error)
                    );
                }
            }
        }
    }

    /// Sends an enriched event on, or queues it until its runtime answers.
    fn queue(&mut self, event: Event, enriched: Enriched) {
        if let Some(event) = self.pending.push(event, enriched) {
            self.emit(event);
        }
    }

    /// When the next waiting event's wait ends, for a name or for its other report.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (
            self.pending.next_deadline(),
            self.correlator.next_deadline(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Events the sinks have written so far.
    pub fn written(&self) -> u64 {
        self.sinks.written()
    }

    /// After a batch: re-reads the wall clock and sends on what no longer waits.
    pub fn batch_done(&mut self) {
        self.decoder.refresh_clock();
        self.release_ready();
    }

    /// The kernel programs beside the audit records have lost `total` records so far.
    pub fn details_lost(&mut self, total: u64) {
        self.correlator.details_lost(total);
    }

    /// A runtime answered about container `id`.
    pub fn lookup_done(&mut self, id: &str) {
        self.pending.lookup_done(id, &mut self.enricher);
        self.release_ready();
    }

    /// Sends on every event whose wait is over.
    pub fn release_ready(&mut self) {
        let now = Instant::now();
        while let Some((event, enriched)) = self.correlator.pop_expired(now) {
            self.queue(event, enriched);
        }
        while let Some(event) = self.pending.pop_ready(now, &mut self.enricher) {
            self.emit(event);
        }
    }

    /// Sends on every waiting event with what is known now: the run is ending.
    fn release_all(&mut self) {
        while let Some((event, enriched)) = self.correlator.pop_any() {
            self.queue(event, enriched);
        }
        while let Some(event) = self.pending.pop_front(&mut self.enricher) {
            self.emit(event);
        }
        let unwanted = self.correlator.unwanted_entries();
        if unwanted > 0 {
            tracing::debug!(
                "{unwanted} entries of watched calls matched no logged call's record (calls \
                 the filter allowed, mostly)"
            );
        }
    }

    fn emit(&mut self, mut event: Event) {
        if self.filter.keep(&event) {
            if let Some(symbolizer) = &mut self.symbolizer {
                symbolize::symbolize(symbolizer, &mut event);
            }
            self.summary.shown += 1;
            self.sinks.send(&Arc::new(event));
        }
    }
}
