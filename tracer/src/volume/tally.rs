//! The calls of one key held back since its last summary, and the summary event they become.

use chrono::{DateTime, Utc};

use crate::events::{
    Event,
    summary::{EventType, HeldBack, Reason, SUMMARY_PIDS, Summarized},
};

pub struct Tally {
    count: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    pids: Vec<u32>,
    /// The last call held back: the summary reports its fields. Replaced, not cloned, so a
    /// flood costs no allocation here.
    latest: Event,
}

impl Tally {
    pub fn new(event: Event) -> Self {
        Self {
            count: 1,
            first: event.timestamp,
            last: event.timestamp,
            pids: vec![event.pid],
            latest: event,
        }
    }

    pub fn add(&mut self, event: Event) {
        self.count += 1;
        // Sources may hand calls over slightly out of order: the span covers them all.
        self.first = self.first.min(event.timestamp);
        self.last = self.last.max(event.timestamp);
        if self.pids.len() < SUMMARY_PIDS && !self.pids.contains(&event.pid) {
            self.pids.push(event.pid);
        }
        self.latest = event;
    }

    /// The summary event, dated `at`: when its window closed, or when tracer stopped.
    pub fn into_summary(self, reason: Reason, at: DateTime<Utc>) -> Event {
        let mut event = self.latest;
        event.timestamp = at;
        event.summary = Some(Box::new(Summarized {
            kind: EventType::Summary,
            summary: HeldBack {
                reason,
                count: self.count,
                first: self.first,
                last: self.last,
                pids: self.pids,
            },
        }));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_event;

    #[test]
    fn counts_spans_and_names_a_few_pids() {
        let at = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let call = |pid: u32, s: i64| {
            let mut event = sample_event();
            event.pid = pid;
            event.timestamp = at(s);
            event
        };
        let mut tally = Tally::new(call(10, 5));
        // Out of order, repeated pids, more pids than are named.
        for (pid, s) in [
            (11, 3),
            (10, 6),
            (12, 7),
            (13, 7),
            (14, 8),
            (15, 9),
            (16, 4),
        ] {
            tally.add(call(pid, s));
        }
        let summary = tally.into_summary(Reason::Dedup, at(20));
        assert_eq!(summary.timestamp, at(20));
        assert_eq!(summary.pid, 16, "the fields are the last call's");
        let held = &summary.summary.as_ref().unwrap().summary;
        assert_eq!(held.count, 8);
        assert_eq!((held.first, held.last), (at(3), at(9)));
        assert_eq!(held.pids, [10, 11, 12, 13, 14]);
    }
}
