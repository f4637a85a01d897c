//! Volume: `--dedup` and `--rate-limit` hold back repeated calls, and summary events count what
//! they held back, so a flood costs a few lines and hides nothing. A kill always goes out at
//! once, through both: noise must never hide or delay the call that ended a process.
//!
//! The pipeline hands over each event that passed the filter, before its stack is symbolized
//! (a held-back call's is never needed), with the time; summaries come out in time order as
//! their windows close ([`Volume::next_due`] says when), and all of them at stop.

pub mod bucket;
pub mod dedup;
pub mod key;
pub mod rate_limit;
mod schedule;
mod tally;

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use crate::events::{Event, SeccompAction, summary::Reason};
use dedup::Dedup;
pub use key::RateKeyKind;
use rate_limit::RateLimit;
pub use rate_limit::{BadRate, Rate};

/// Keys counted at once at most, by each of dedup and the rate limit: beyond them (a host with
/// tens of thousands of containers calling hundreds of calls each) new keys go out unheld, and
/// are counted, so memory stays bounded.
pub const MAX_KEYS: usize = 65_536;

/// What the flags asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VolumeOptions {
    pub dedup: Option<Duration>,
    pub rate_limit: Option<RateLimitOptions>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitOptions {
    pub rate: Rate,
    pub burst: u32,
    pub key: RateKeyKind,
}

impl VolumeOptions {
    pub fn any(&self) -> bool {
        self.dedup.is_some() || self.rate_limit.is_some()
    }
}

/// The time now, both ways: the monotonic clock windows are measured by, and the wall clock
/// summaries are dated by.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: Instant,
    pub wall: DateTime<Utc>,
}

impl Clock {
    pub fn read() -> Self {
        Self {
            now: Instant::now(),
            wall: Utc::now(),
        }
    }

    /// The wall time of `at`, a moment up to now.
    pub fn wall_at(&self, at: Instant) -> DateTime<Utc> {
        let ago = self.now.saturating_duration_since(at);
        self.wall - chrono::Duration::from_std(ago).unwrap_or_default()
    }
}

/// What became of a call handed to [`Volume::push`].
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "returned by value once per event, as the pipeline passes events: boxing would \
              allocate for every event"
)]
pub enum Verdict {
    Pass(Event),
    Held(Reason),
}

pub struct Volume {
    dedup: Option<Dedup>,
    rate_limit: Option<RateLimit>,
    /// Summaries due, in order, for the pipeline to send.
    due: VecDeque<Event>,
    unkept_warned: bool,
}

impl Volume {
    pub fn new(options: &VolumeOptions) -> Self {
        Self {
            dedup: options.dedup.map(Dedup::new),
            rate_limit: options
                .rate_limit
                .as_ref()
                .map(|o| RateLimit::new(o.rate, o.burst, o.key)),
            due: VecDeque::new(),
            unkept_warned: false,
        }
    }

    /// Takes a call at `clock`. Summaries that came due before it are queued first
    /// ([`Volume::pop_summary`]).
    pub fn push(&mut self, event: Event, clock: Clock) -> Verdict {
        self.summarize_due(clock);
        if matches!(
            event.code,
            SeccompAction::KillThread | SeccompAction::KillProcess
        ) {
            return Verdict::Pass(event);
        }
        let event = match &mut self.dedup {
            Some(dedup) => match dedup.push(event, clock.now) {
                Some(event) => event,
                None => return Verdict::Held(Reason::Dedup),
            },
            None => event,
        };
        let event = match &mut self.rate_limit {
            Some(limit) => match limit.push(event, clock.now) {
                Some(event) => event,
                None => return Verdict::Held(Reason::RateLimit),
            },
            None => event,
        };
        self.warn_unkept();
        Verdict::Pass(event)
    }

    /// Queues the summaries due by `clock`.
    pub fn summarize_due(&mut self, clock: Clock) {
        if let Some(dedup) = &mut self.dedup {
            dedup.close_due(clock, &mut self.due);
        }
        if let Some(limit) = &mut self.rate_limit {
            limit.report_due(clock, &mut self.due);
        }
    }

    /// The run is ending: queues a summary for everything held back.
    pub fn summarize_all(&mut self, clock: Clock) {
        if let Some(dedup) = &mut self.dedup {
            dedup.close_all(clock, &mut self.due);
        }
        if let Some(limit) = &mut self.rate_limit {
            limit.report_all(clock, &mut self.due);
        }
    }

    pub fn pop_summary(&mut self) -> Option<Event> {
        self.due.pop_front()
    }

    /// When the next summary is due.
    pub fn next_due(&self) -> Option<Instant> {
        let dedup = self.dedup.as_ref().and_then(Dedup::next_close);
        let limit = self.rate_limit.as_ref().and_then(RateLimit::next_report);
        dedup.into_iter().chain(limit).min()
    }

    fn warn_unkept(&mut self) {
        if self.unkept_warned {
            return;
        }
        let unkept = self.dedup.as_ref().map_or(0, |d| d.unkept)
            + self.rate_limit.as_ref().map_or(0, |r| r.unkept);
        if unkept > 0 {
            self.unkept_warned = true;
            tracing::warn!(
                "more than {MAX_KEYS} containers and calls at once: calls of new ones go out \
                 without --dedup or --rate-limit holding them back"
            );
        }
    }
}

#[cfg(test)]
pub mod tests_support {
    use chrono::DateTime;

    use super::tally::Tally;
    use crate::events::{Event, summary::Reason};

    /// `event` and `count - 1` more calls a second later, summarized two seconds after it.
    pub fn summary_of(event: Event, count: u64) -> Event {
        let at = |ns: i64| DateTime::from_timestamp_nanos(ns);
        let start = event.timestamp.timestamp_nanos_opt().unwrap();
        let mut tally = Tally::new(event.clone());
        let mut later = event;
        later.timestamp = at(start + 1_000_000_000);
        for _ in 1..count {
            tally.add(later.clone());
        }
        tally.into_summary(Reason::Dedup, at(start + 2_000_000_000))
    }
}

#[cfg(test)]
mod tests;
