//! `--rate-limit N/s`: a token bucket per key (container × syscall by default), `N` tokens a
//! second and `--rate-limit-burst` at most. A call that finds its bucket empty is held back;
//! a second after the first of them, one summary counts what the key held back.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    str::FromStr,
    time::{Duration, Instant},
};

use crate::events::{Event, summary::Reason};

use super::{
    Clock, MAX_KEYS,
    bucket::TokenBucket,
    key::{RateKey, RateKeyKind},
    schedule::Schedule,
    tally::Tally,
};

/// How long after a key's first held-back call its summary goes out.
pub const REPORT_AFTER: Duration = Duration::from_secs(1);

/// A rate: `N/s`, `N/m` or `N/h`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rate: use calls per second, minute or hour, such as 100/s, 30/m or 10/h")]
pub struct BadRate(String);

impl FromStr for Rate {
    type Err = BadRate;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadRate(text.to_owned());
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let seconds = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return Err(bad()),
        };
        let count: f64 = count.trim().parse().map_err(|_| bad())?;
        if !count.is_finite() || count <= 0.0 {
            return Err(bad());
        }
        Ok(Self {
            per_second: count / seconds,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.per_second)
    }
}

struct Limited {
    bucket: TokenBucket,
    held: Option<Tally>,
}

pub struct RateLimit {
    rate: Rate,
    burst: u32,
    kind: RateKeyKind,
    keys: HashMap<RateKey, Limited>,
    /// When each key that held calls back reports them.
    reports: Schedule<RateKey>,
    /// Calls that went out unlimited because [`MAX_KEYS`] keys were in use.
    pub unkept: u64,
}

impl RateLimit {
    pub fn new(rate: Rate, burst: u32, kind: RateKeyKind) -> Self {
        Self {
            rate,
            burst,
            kind,
            keys: HashMap::new(),
            reports: Schedule::default(),
            unkept: 0,
        }
    }

    /// Some(event) when it goes out; None when it is held back.
    pub fn push(&mut self, event: Event, now: Instant) -> Option<Event> {
        let key = RateKey::of(&event, self.kind);
        if !self.keys.contains_key(&key) && self.keys.len() >= MAX_KEYS {
            self.forget_idle(now);
            if self.keys.len() >= MAX_KEYS {
                self.unkept += 1;
                return Some(event);
            }
        }
        let (rate, burst) = (self.rate.per_second, self.burst);
        let limited = self.keys.entry(key.clone()).or_insert_with(|| Limited {
            bucket: TokenBucket::new(rate, burst, now),
            held: None,
        });
        if limited.bucket.take(now) {
            return Some(event);
        }
        match &mut limited.held {
            Some(tally) => tally.add(event),
            None => {
                limited.held = Some(Tally::new(event));
                self.reports.at(now + REPORT_AFTER, key);
            }
        }
        None
    }

    /// Buckets that are full again and hold nothing back are as good as new: forgotten.
    fn forget_idle(&mut self, now: Instant) {
        self.keys
            .retain(|_, limited| limited.held.is_some() || !limited.bucket.is_full(now));
    }

    /// The summaries due by `clock.now`.
    pub fn report_due(&mut self, clock: Clock, out: &mut VecDeque<Event>) {
        while let Some((due, key)) = self.reports.pop_due(clock.now) {
            if let Some(held) = self.keys.get_mut(&key).and_then(|l| l.held.take()) {
                out.push_back(held.into_summary(Reason::RateLimit, clock.wall_at(due)));
            }
        }
    }

    pub fn next_report(&self) -> Option<Instant> {
        self.reports.next()
    }

    /// The run is ending: every key's summary, dated now.
    pub fn report_all(&mut self, clock: Clock, out: &mut VecDeque<Event>) {
        for key in self.reports.drain() {
            if let Some(held) = self.keys.get_mut(&key).and_then(|l| l.held.take()) {
                out.push_back(held.into_summary(Reason::RateLimit, clock.wall));
            }
        }
    }
}
