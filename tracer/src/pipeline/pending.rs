//! Events waiting, in order, for a runtime to name their container. The wait is bounded: an event
//! goes out with what is known once its deadline passes, so a slow or frozen runtime delays
//! events by at most that much and never stops them.

use std::collections::VecDeque;

use tokio::time::{Duration, Instant};

use crate::{
    enrich::{Enriched, Enricher},
    events::Event,
};

/// How long an event waits for its container's name. A runtime that was just restarted needs a
/// connection, a version negotiation and an inspect; under load or emulation that takes a few
/// hundred milliseconds, which a person looking for the culprit can wait.
pub const NAME_WAIT: Duration = Duration::from_millis(500);
/// Events held at most; past it the oldest goes out without waiting longer, so a flood while a
/// runtime is slow cannot grow memory without bound.
const MAX_WAITING: usize = 65536;

struct Waiting {
    event: Event,
    /// The container id a lookup is under way for; `None` once there is nothing to wait for
    /// (the event only keeps its place in line behind one that waits).
    lookup: Option<String>,
    deadline: Instant,
}

#[derive(Default)]
pub struct Pending {
    queue: VecDeque<Waiting>,
}

impl Pending {
    /// Takes an event as enrichment left it; hands it back at once when nothing is ahead of it
    /// and it waits for nothing.
    pub fn push(&mut self, event: Event, enriched: Enriched) -> Option<Event> {
        let lookup = match enriched {
            Enriched::Ready if self.queue.is_empty() => return Some(event),
            Enriched::Ready => None,
            Enriched::Waiting(id) => Some(id),
        };
        self.queue.push_back(Waiting {
            event,
            lookup,
            // Read only for events that wait: most never do.
            deadline: Instant::now() + NAME_WAIT,
        });
        None
    }

    /// A lookup for container `id` ended: the events that waited for it are complete.
    pub fn lookup_done(&mut self, id: &str, enricher: &mut Enricher) {
        for waiting in &mut self.queue {
            if waiting.lookup.as_deref() == Some(id) {
                enricher.finish(&mut waiting.event, id);
                waiting.lookup = None;
            }
        }
    }

    /// The next event that may go out now, in arrival order.
    pub fn pop_ready(&mut self, now: Instant, enricher: &mut Enricher) -> Option<Event> {
        let front = self.queue.front()?;
        let overdue = front.deadline <= now || self.queue.len() > MAX_WAITING;
        if front.lookup.is_some() && !overdue {
            return None;
        }
        self.pop_front(enricher)
    }

    /// The next event whatever it waits for, completed with what is known now.
    pub fn pop_front(&mut self, enricher: &mut Enricher) -> Option<Event> {
        let mut waiting = self.queue.pop_front()?;
        if let Some(id) = waiting.lookup.take() {
            enricher.finish(&mut waiting.event, &id);
        }
        Some(waiting.event)
    }

    /// When the event at the front stops waiting, if it waits.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue
            .front()
            .filter(|waiting| waiting.lookup.is_some())
            .map(|waiting| waiting.deadline)
    }
}
