//! Questions to a container runtime, asked off the hot path: each runs in a task of its own, at
//! most one per container at a time, and a runtime's "no such container" is remembered, so a
//! container the runtime doesn't know costs one question, not one per event.

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use tokio::sync::mpsc;

use super::runtimes::{Learned, Runtimes};

/// A lookup that takes longer is abandoned (a runtime frozen or overloaded); the next event of
/// the container asks again.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many "no such container" answers are remembered.
const REMEMBERED_UNKNOWN: usize = 4096;

/// Where a container's name stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// A lookup is under way; [`Lookups::next_done`] says when it ends.
    Pending,
    /// The runtime said it has no such container.
    Unknown,
}

pub struct Lookups {
    runtimes: Arc<Runtimes>,
    in_flight: HashSet<String>,
    unknown: HashSet<String>,
    unknown_order: VecDeque<String>,
    done_tx: mpsc::UnboundedSender<(String, Option<Learned>)>,
    done_rx: mpsc::UnboundedReceiver<(String, Option<Learned>)>,
}

impl Lookups {
    pub fn new(runtimes: Arc<Runtimes>) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Self {
            runtimes,
            in_flight: HashSet::new(),
            unknown: HashSet::new(),
            unknown_order: VecDeque::new(),
            done_tx,
            done_rx,
        }
    }

    /// Asks the runtimes about container `id`, unless it is being asked already or every
    /// runtime said it doesn't know it.
    pub fn ask(&mut self, id: &str) -> Asked {
        if self.unknown.contains(id) {
            return Asked::Unknown;
        }
        if self.in_flight.insert(id.to_owned()) {
            let runtimes = Arc::clone(&self.runtimes);
            let done = self.done_tx.clone();
            let id = id.to_owned();
            tokio::spawn(async move {
                let learned = tokio::time::timeout(LOOKUP_TIMEOUT, runtimes.look_up(&id))
                    .await
                    .ok();
                let _ = done.send((id, learned));
            });
        }
        Asked::Pending
    }

    /// Waits for the next lookup to end and returns its container id; the index holds what it
    /// found.
    pub async fn next_done(&mut self) -> String {
        let (id, learned) = self.done_rx.recv().await.expect("the sender lives in self");
        self.in_flight.remove(&id);
        if learned == Some(Learned::Unknown) {
            self.remember_unknown(&id);
        }
        id
    }

    fn remember_unknown(&mut self, id: &str) {
        if self.unknown_order.len() == REMEMBERED_UNKNOWN
            && let Some(oldest) = self.unknown_order.pop_front()
        {
            self.unknown.remove(&oldest);
        }
        if self.unknown.insert(id.to_owned()) {
            self.unknown_order.push_back(id.to_owned());
        }
    }
}
