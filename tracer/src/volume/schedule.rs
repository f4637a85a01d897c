//! When each key's summary is due: a min-heap of times, one entry per key that has one.

use std::{cmp::Reverse, collections::BinaryHeap, time::Instant};

struct Due<K> {
    at: Instant,
    /// Ties go in the order they were scheduled.
    seq: u64,
    key: K,
}

impl<K> PartialEq for Due<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<K> Eq for Due<K> {}
impl<K> PartialOrd for Due<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Due<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub struct Schedule<K> {
    heap: BinaryHeap<Reverse<Due<K>>>,
    seq: u64,
}

impl<K> Default for Schedule<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<K> Schedule<K> {
    pub fn at(&mut self, at: Instant, key: K) {
        self.seq += 1;
        self.heap.push(Reverse(Due {
            at,
            seq: self.seq,
            key,
        }));
    }

    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(due)| due.at)
    }

    /// The earliest key due at or before `now`, and when it was due.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, K)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(due)| (due.at, due.key))
    }

    /// Every key, earliest first.
    pub fn drain(&mut self) -> impl Iterator<Item = K> + '_ {
        std::iter::from_fn(|| self.heap.pop().map(|Reverse(due)| due.key))
    }
}
