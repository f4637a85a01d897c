//! The path every event takes, whatever its source: decode → enrich → (a bounded wait for a
//! runtime's answer) → filter → rules → volume (`--dedup`, `--rate-limit`) → symbolize a stack →
//! sinks, counted once, here. [`run`] drives it from a source until the run stops, then drains
//! the source to the end.

pub mod correlate;
pub mod logged_calls;
pub mod pending;
pub mod run;
pub mod summary;
pub mod symbolize;

use std::sync::Arc;

use tokio::time::Instant;

use crate::{
    enrich::{Enriched, Enricher},
    events::{Decoder, Event, Source},
    filter::{Filter, profile_check::ProfileCheck},
    metrics::{
        LostByStage, Metrics,
        counts::{EventCounts, Suppressed},
    },
    rules::RuleSet,
    sink::Sinks,
    source::RawRecord,
    volume::{Clock, Verdict, Volume},
};
use correlate::Correlator;
use pending::Pending;
pub use summary::Summary;
use symbolize::StackStage;

/// Undecodable records are logged up to this many times, then only counted.
const UNDECODABLE_WARNINGS: u64 = 10;

pub struct Pipeline {
    decoder: Decoder,
    correlator: Correlator,
    enricher: Enricher,
    pending: Pending,
    filter: Filter,
    /// Present with `--stack`.
    stacks: Option<StackStage>,
    /// Present with `--check`.
    check: Option<ProfileCheck>,
    /// Present with `--dedup` or `--rate-limit`.
    volume: Option<Volume>,
    /// Present with `--rules`.
    rules: Option<RuleSet>,
    sinks: Sinks,
    summary: Summary,
    counts: EventCounts,
    /// Present with `--metrics-addr`: where the counts are published.
    metrics: Option<Arc<Metrics>>,
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
            stacks: None,
            check: None,
            volume: None,
            rules: None,
            sinks,
            summary: Summary::default(),
            counts: EventCounts::default(),
            metrics: None,
        }
    }

    /// With metrics: the counts are published to `metrics` by [`Pipeline::publish_metrics`].
    pub fn with_metrics(self, metrics: Arc<Metrics>) -> Self {
        Self {
            metrics: Some(metrics),
            ..self
        }
    }

    pub fn has_metrics(&self) -> bool {
        self.metrics.is_some()
    }

    /// Copies the counts, the sinks' states and the source's `lost` to the metrics.
    pub fn publish_metrics(&self, lost: LostByStage) {
        if let Some(metrics) = &self.metrics {
            metrics.publish(
                &self.counts,
                lost,
                self.enricher.misses(),
                self.sinks.states(),
            );
        }
    }

    /// With a profile check: only the calls the profile would refuse go out.
    pub fn with_check(self, check: ProfileCheck) -> Self {
        Self {
            check: Some(check),
            ..self
        }
    }

    /// Puts what the profile check found into the summary; call it once every event went by.
    pub fn conclude_check(&mut self) {
        self.summary.check = self.check.as_ref().map(ProfileCheck::outcome);
    }

    /// With `--dedup` or `--rate-limit`: repeated calls are held back and counted in summaries.
    pub fn with_volume(self, volume: Volume) -> Self {
        Self {
            volume: Some(volume),
            ..self
        }
    }

    /// With rules: the first rule an event matches decides what it carries, or drops it.
    pub fn with_rules(self, rules: RuleSet) -> Self {
        Self {
            rules: Some(rules),
            ..self
        }
    }

    /// With stacks: events that carry one get it symbolized before they go out.
    pub fn with_stacks(self, stacks: StackStage) -> Self {
        Self {
            stacks: Some(stacks),
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
        self.counts.event(&event);
        if let Some(event) = self.pending.push(event, enriched) {
            self.emit(event);
        }
    }

    /// When the next waiting event's wait ends, for a name or for its other report.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.pending.next_deadline(),
            self.correlator.next_deadline(),
            self.stacks.as_ref().and_then(StackStage::next_deadline),
            self.volume
                .as_ref()
                .and_then(Volume::next_due)
                .map(Instant::from_std),
        ]
        .into_iter()
        .flatten()
        .min()
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
        if let Some(volume) = &mut self.volume {
            volume.summarize_due(Clock::read());
            self.send_summaries(now);
        }
        self.release_symbolized(now);
    }

    /// Sends on every waiting event with what is known now: the run is ending.
    fn release_all(&mut self) {
        while let Some((event, enriched)) = self.correlator.pop_any() {
            self.queue(event, enriched);
        }
        while let Some(event) = self.pending.pop_front(&mut self.enricher) {
            self.emit(event);
        }
        if let Some(volume) = &mut self.volume {
            // Nothing held back is left uncounted at stop.
            volume.summarize_all(Clock::read());
            self.send_summaries(Instant::now());
        }
        let unmatched = self.correlator.unmatched_trap_signals();
        if unmatched > 0 {
            tracing::debug!(
                "{unmatched} traps seen raising SIGSYS matched no audit record (filters that do \
                 not log traps; --all-denials reports them)"
            );
        }
        let unwanted = self.correlator.unwanted_entries();
        if unwanted > 0 {
            tracing::debug!(
                "{unwanted} entries of watched calls matched no logged call's record (calls \
                 the filter allowed, mostly)"
            );
        }
    }

    fn emit(&mut self, event: Event) {
        if !self.filter.keep(&event) {
            self.counts.suppressed(Suppressed::Filter);
            return;
        }
        if let Some(check) = &mut self.check
            && !check.keep(&event)
        {
            self.counts.suppressed(Suppressed::Check);
            return;
        }
        let Some(event) = self.apply_rules(event) else {
            return;
        };
        let now = Instant::now();
        let Some(event) = self.limit_volume(event, now) else {
            return;
        };
        self.symbolize_and_send(event, now);
    }

    /// `--dedup` and `--rate-limit` (volume/): the event, or None when it is held back and
    /// counted. Summaries that came due before it go out first.
    fn limit_volume(&mut self, event: Event, now: Instant) -> Option<Event> {
        let Some(volume) = self.volume.as_mut() else {
            return Some(event);
        };
        let verdict = volume.push(event, Clock::read());
        self.send_summaries(now);
        match verdict {
            Verdict::Pass(event) => Some(event),
            Verdict::Held(reason) => {
                self.counts.suppressed(Suppressed::held_back(reason));
                self.summary.held_back(reason);
                None
            }
        }
    }

    /// Sends on the summaries the volume stage has ready, as events.
    fn send_summaries(&mut self, now: Instant) {
        while let Some(summary) = self.volume.as_mut().and_then(Volume::pop_summary) {
            self.summary.summaries += 1;
            self.symbolize_and_send(summary, now);
        }
    }

    fn symbolize_and_send(&mut self, event: Event, now: Instant) {
        let event = match &mut self.stacks {
            Some(stacks) => match stacks.push(event, now) {
                Some(event) => event,
                None => return,
            },
            None => event,
        };
        self.send(event);
        // A full queue lets more than one go.
        self.release_symbolized(now);
    }

    /// `--rules`, after the filter and before the stack is symbolized: an event whose level is
    /// below `full` loses its stack here, unsymbolized. `None` when its level is `none`,
    /// counted.
    fn apply_rules(&mut self, event: Event) -> Option<Event> {
        let Some(rules) = &self.rules else {
            return Some(event);
        };
        let kept = rules.apply(event);
        if kept.is_none() {
            self.counts.suppressed(Suppressed::Rule);
            self.summary.dropped_by_rules += 1;
        }
        kept
    }

    fn send(&mut self, event: Event) {
        if event.summary.is_none() {
            self.summary.shown += 1;
        }
        self.sinks.send(&Arc::new(event));
    }

    /// Sends on the events whose stacks are named, or whose wait for them is over.
    fn release_symbolized(&mut self, now: Instant) {
        while let Some(event) = self.stacks.as_mut().and_then(|s| s.pop_ready(now)) {
            self.send(event);
        }
        if let Some(stacks) = &self.stacks {
            self.summary.unsymbolized = stacks.unsymbolized;
        }
    }

    /// Sends on every event still waiting for its stack's names, waiting for them until
    /// `until` at most: the run is ending.
    pub async fn finish_stacks(&mut self, until: Instant) {
        loop {
            let Some(stacks) = self.stacks.as_mut() else {
                return;
            };
            if !stacks.is_waiting() {
                break;
            }
            if Instant::now() >= until {
                // Every wait ends by then: what is not named goes out as the kernel read it.
                self.release_symbolized(until + symbolize::SYMBOLIZE_WAIT);
                break;
            }
            tokio::select! {
                () = stacks.symbolized() => {}
                () = tokio::time::sleep_until(until) => {}
            }
            self.release_symbolized(Instant::now());
        }
        self.release_symbolized(Instant::now());
    }
}
