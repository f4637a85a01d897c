//! The bounded queue between the pipeline and one sink's writer thread.
//!
//! std's `sync_channel` initialises every slot when it is made, so a queue sized for a long
//! burst is resident from the start, and it wakes the receiver for every event. This queue
//! grows only as far as a burst needs it, and wakes the writer only when it is asleep: a writer
//! that has just written waits a moment ([`LINGER`]) before it sleeps, so under a stream of
//! events it takes them in batches, and the pipeline never pays for a wake-up.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// How long a writer that found events looks again before it sleeps. Events arriving meanwhile
/// wait at most this long; the pipeline sends them without waking anyone.
pub const LINGER: Duration = Duration::from_millis(1);
/// How long a sender waiting for room sleeps before it asks again whether to give up: a stop
/// (a signal, `--timeout`) is seen within this.
const ROOM_WAIT_SLICE: Duration = Duration::from_millis(20);

/// What [`Receiver::recv_until`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Items were moved into the batch.
    Items,
    /// The deadline passed with nothing queued.
    Nothing,
    /// The queue is closed and empty.
    Closed,
}

/// Why [`Sender::send`] did not queue an item.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The queue holds its capacity already.
    Full,
    /// The receiver is gone.
    Disconnected,
}

struct State<T> {
    items: VecDeque<T>,
    /// The sender closed the queue: the receiver takes what is left, then stops.
    closed: bool,
    /// The receiver is gone.
    gone: bool,
    /// The receiver sleeps on the condition variable and must be woken for new items.
    asleep: bool,
    /// A sender waits for room and must be woken when items are taken.
    sender_waiting: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
    room: Condvar,
    capacity: usize,
    /// The sender gave up waiting for the writer: what the writer has not written yet is
    /// counted as unwritten, so it must not write it after all.
    abandoned: Arc<AtomicBool>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding the lock; a poisoned lock still holds consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A queue that holds at most `capacity` items.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            closed: false,
            gone: false,
            asleep: false,
            sender_waiting: false,
        }),
        wake: Condvar::new(),
        room: Condvar::new(),
        capacity,
        abandoned: Arc::new(AtomicBool::new(false)),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver {
            shared,
            lingered: false,
        },
    )
}

pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` without waiting.
    pub fn send(&self, item: T) -> Result<(), SendError> {
        let mut state = self.shared.lock();
        if state.gone {
            return Err(SendError::Disconnected);
        }
        if state.items.len() >= self.shared.capacity {
            return Err(SendError::Full);
        }
        state.items.push_back(item);
        if state.asleep {
            state.asleep = false;
            drop(state);
            self.shared.wake.notify_one();
        }
        Ok(())
    }
}

impl<T> Sender<T> {
    /// Queues `item`, waiting for room while the queue is full, until `give_up` says to stop
    /// waiting (it is asked at least every [`ROOM_WAIT_SLICE`]).
    pub fn send_waiting(&self, item: T, give_up: &dyn Fn() -> bool) -> Result<(), SendError> {
        let mut state = self.shared.lock();
        loop {
            if state.gone {
                return Err(SendError::Disconnected);
            }
            if state.items.len() < self.shared.capacity {
                state.items.push_back(item);
                if state.asleep {
                    state.asleep = false;
                    drop(state);
                    self.shared.wake.notify_one();
                }
                return Ok(());
            }
            if give_up() {
                return Err(SendError::Full);
            }
            state.sender_waiting = true;
            state = self
                .shared
                .room
                .wait_timeout(state, ROOM_WAIT_SLICE)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Items queued now.
    pub fn queued(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// Closes the queue, as dropping the sender does, keeping the means to tell the writer
    /// later to stop before it has written everything.
    pub fn into_abandon(self) -> Abandon {
        let flag = Arc::clone(&self.shared.abandoned);
        drop(self);
        Abandon(flag)
    }
}

/// What is left of a closed queue's sender: the means to abandon its writer.
pub struct Abandon(Arc<AtomicBool>);

impl Abandon {
    /// Tells the writer to write nothing more, not even what it has taken already.
    pub fn abandon(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        drop(state);
        self.shared.wake.notify_one();
    }
}

pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The last call found items: the next one lingers before it sleeps.
    lingered: bool,
}

impl<T> Receiver<T> {
    /// The sender has stopped counting on this writer ([`Sender::abandon`]): it must stop
    /// writing at once, because what it still holds is already counted as unwritten.
    pub fn abandoned(&self) -> bool {
        self.shared.abandoned.load(Ordering::Relaxed)
    }

    /// Moves every queued item into `batch` (which should be empty), waiting for some if there
    /// are none; false once the queue is closed and empty.
    pub fn recv_batch(&mut self, batch: &mut VecDeque<T>) -> bool {
        let mut state = self.shared.lock();
        if state.items.is_empty() && !state.closed && self.lingered {
            drop(state);
            std::thread::sleep(LINGER);
            state = self.shared.lock();
        }
        while state.items.is_empty() && !state.closed {
            state.asleep = true;
            state = self
                .shared
                .wake
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state.asleep = false;
        // Swapped, not copied: the two buffers take turns, so a steady stream allocates nothing.
        std::mem::swap(&mut state.items, batch);
        self.room_made(state);
        self.lingered = !batch.is_empty();
        !batch.is_empty()
    }

    /// Moves every queued item to the end of `batch`, waiting until `deadline` for some if there
    /// are none.
    pub fn recv_until(&mut self, batch: &mut VecDeque<T>, deadline: Instant) -> Received {
        let mut state = self.shared.lock();
        while state.items.is_empty() && !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Received::Nothing;
            }
            state.asleep = true;
            state = self
                .shared
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.asleep = false;
        if state.items.is_empty() {
            return Received::Closed;
        }
        batch.extend(state.items.drain(..));
        self.room_made(state);
        Received::Items
    }

    /// Waits until the queue is closed (true) or `timeout` passes (false), taking nothing.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        while !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .wake
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn room_made(&self, mut state: MutexGuard<'_, State<T>>) {
        if state.sender_waiting {
            state.sender_waiting = false;
            drop(state);
            self.shared.room.notify_one();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.lock().gone = true;
        self.shared.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_does_not_fit_and_delivers_the_rest_in_order() {
        let (sender, mut receiver) = bounded(2);
        assert_eq!(sender.send(1), Ok(()));
        assert_eq!(sender.send(2), Ok(()));
        assert_eq!(sender.send(3), Err(SendError::Full));
        let mut batch = VecDeque::new();
        assert!(receiver.recv_batch(&mut batch));
        assert_eq!(batch, [1, 2]);
        batch.clear();
        assert_eq!(sender.send(4), Ok(()));
        drop(sender);
        assert!(receiver.recv_batch(&mut batch));
        assert_eq!(batch, [4]);
        batch.clear();
        assert!(!receiver.recv_batch(&mut batch), "closed and empty");
    }

    #[test]
    fn wakes_a_sleeping_writer_and_reports_one_that_is_gone() {
        let (sender, mut receiver) = bounded(8);
        let writer = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut batch = VecDeque::new();
            while receiver.recv_batch(&mut batch) {
                seen.extend(batch.drain(..));
            }
            seen
        });
        for i in 0..100 {
            while sender.send(i) == Err(SendError::Full) {
                std::thread::yield_now();
            }
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(3));
            }
        }
        drop(sender);
        assert_eq!(writer.join().unwrap(), (0..100).collect::<Vec<_>>());

        let (sender, receiver) = bounded(8);
        drop(receiver);
        assert_eq!(sender.send(1), Err(SendError::Disconnected));
    }

    #[test]
    fn a_waiting_sender_gets_room_as_the_writer_takes_items_or_gives_up() {
        let (sender, mut receiver) = bounded(4);
        let writer = std::thread::spawn(move || {
            let mut seen = VecDeque::new();
            loop {
                let deadline = Instant::now() + Duration::from_secs(5);
                match receiver.recv_until(&mut seen, deadline) {
                    Received::Closed => return seen,
                    Received::Items => std::thread::sleep(Duration::from_millis(1)),
                    Received::Nothing => panic!("the sender stopped sending"),
                }
            }
        });
        for i in 0..200 {
            assert_eq!(sender.send_waiting(i, &|| false), Ok(()));
        }
        drop(sender);
        assert_eq!(
            writer.join().unwrap(),
            (0..200).collect::<VecDeque<_>>(),
            "every item, in order, none dropped"
        );

        let (sender, receiver) = bounded(1);
        assert_eq!(sender.send_waiting(1, &|| true), Ok(()));
        assert_eq!(sender.send_waiting(2, &|| true), Err(SendError::Full));
        assert!(!receiver.wait_closed(Duration::from_millis(1)));
        drop(sender);
        assert!(receiver.wait_closed(Duration::from_secs(5)));
    }
}
