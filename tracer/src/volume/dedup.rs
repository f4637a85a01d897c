//! `--dedup WINDOW`: the first call of a key (container × syscall × code × arch) goes out at
//! once and opens a window; the calls of that key within it are held back, and when it closes
//! one summary counts them. Calls that keep coming keep a window open after another, each
//! closed by one summary, so a flood is one event and a summary per window; a window that
//! closes with nothing held back closes the key, and its next call goes out at once.

use std::{
    collections::{HashMap, VecDeque, hash_map::Entry},
    time::{Duration, Instant},
};

use crate::events::{Event, summary::Reason};

use super::{Clock, MAX_KEYS, key::DedupKey, schedule::Schedule, tally::Tally};

pub struct Dedup {
    window: Duration,
    /// Keys with an open window, and what it held back so far.
    open: HashMap<DedupKey, Option<Tally>>,
    /// When each open window closes.
    closes: Schedule<DedupKey>,
    /// Calls that went out unheld because [`MAX_KEYS`] windows were open.
    pub unkept: u64,
}

impl Dedup {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            open: HashMap::new(),
            closes: Schedule::default(),
            unkept: 0,
        }
    }

    /// Some(event) when it goes out; None when it is held back. Call [`Dedup::close_due`] first,
    /// so the call lands in the window open at `now`.
    pub fn push(&mut self, event: Event, now: Instant) -> Option<Event> {
        let key = DedupKey::of(&event);
        if self.open.len() >= MAX_KEYS && !self.open.contains_key(&key) {
            self.unkept += 1;
            return Some(event);
        }
        match self.open.entry(key) {
            Entry::Occupied(mut window) => {
                match window.get_mut() {
                    Some(tally) => tally.add(event),
                    held @ None => *held = Some(Tally::new(event)),
                }
                None
            }
            Entry::Vacant(vacant) => {
                self.closes.at(now + self.window, vacant.key().clone());
                vacant.insert(None);
                Some(event)
            }
        }
    }

    /// Closes the windows due by `clock.now`, in the order they close, adding a summary to `out`
    /// for each that held calls back.
    pub fn close_due(&mut self, clock: Clock, out: &mut VecDeque<Event>) {
        while let Some((closed_at, key)) = self.closes.pop_due(clock.now) {
            let Some(held) = self.open.get_mut(&key).and_then(Option::take) else {
                // Nothing came in the window: the key's next call goes out at once.
                self.open.remove(&key);
                continue;
            };
            out.push_back(held.into_summary(Reason::Dedup, clock.wall_at(closed_at)));
            let next = closed_at + self.window;
            if next > clock.now {
                self.closes.at(next, key);
            } else {
                // The next window is over too, and nothing came in it (a call would have
                // closed this one before being counted).
                self.open.remove(&key);
            }
        }
    }

    /// When the next window closes.
    pub fn next_close(&self) -> Option<Instant> {
        self.closes.next()
    }

    /// The run is ending: a summary for every window that held calls back, dated now.
    pub fn close_all(&mut self, clock: Clock, out: &mut VecDeque<Event>) {
        for key in self.closes.drain() {
            if let Some(Some(held)) = self.open.remove(&key) {
                out.push_back(held.into_summary(Reason::Dedup, clock.wall));
            }
        }
        self.open.clear();
    }
}
