//! Names the code behind an event's stack, once the event is to be shown: where the caller's
//! files are is known by then (its container is named), and events filtered out cost nothing.
//!
//! Symbolizing reads files, and the first stack of a large binary can take a second: it runs
//! on a thread of its own, so sources and other events never wait on it. Events keep their
//! order: one behind a stack being symbolized waits with it. A stack not symbolized within
//! [`SYMBOLIZE_WAIT`], or that finds the thread's queue full, goes out with its frames as the
//! kernel read them (addresses, build ids, file offsets), and is counted.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::{Path, PathBuf},
    sync::mpsc as std_mpsc,
    thread,
};

use tokio::{
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::{
    events::Event,
    stack::{Frame, Places, RawStack, Symbolizer},
};

/// How long an event waits for its stack's names.
pub const SYMBOLIZE_WAIT: Duration = Duration::from_secs(2);
/// Stacks waiting for the thread at most, and events waiting here: a burst past them goes
/// out unsymbolized, so a flood of stacks holds a bounded amount of memory.
const QUEUE: usize = 1024;

struct Request {
    id: u64,
    stack: RawStack,
    places: Places,
}

struct Done {
    id: u64,
    frames: Vec<Frame>,
}

struct Waiting {
    event: Event,
    /// The request its stack was sent as; `None` for an event that only keeps its place.
    id: Option<u64>,
    /// Its frames as the kernel read them, in case the names come too late.
    as_read: Vec<Frame>,
    deadline: Instant,
}

pub struct StackStage {
    requests: std_mpsc::SyncSender<Request>,
    done: mpsc::UnboundedReceiver<Done>,
    finished: HashMap<u64, Vec<Frame>>,
    /// Requests whose event went out without waiting longer: their answers are dropped.
    abandoned: HashSet<u64>,
    waiting: VecDeque<Waiting>,
    next_id: u64,
    /// Stacks that went out as the kernel read them.
    pub unsymbolized: u64,
    /// Whether a flood of stacks has waited since the queue was last empty.
    held_many: bool,
}

/// Events waiting at once past which, once they are gone, freed memory is given back.
const FLOOD: usize = 64;

impl StackStage {
    /// Starts the symbolizing thread.
    pub fn start() -> std::io::Result<Self> {
        let (requests, incoming) = std_mpsc::sync_channel::<Request>(QUEUE);
        let (finished, done) = mpsc::unbounded_channel();
        thread::Builder::new()
            .name("symbolizer".into())
            .spawn(move || {
                // Created here: blazesym's symbolizer may not cross threads.
                let mut symbolizer = Symbolizer::new();
                for request in incoming {
                    let frames = symbolizer.symbolize(&request.stack, &request.places);
                    if finished
                        .send(Done {
                            id: request.id,
                            frames,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            })?;
        Ok(Self::over(requests, done))
    }

    fn over(requests: std_mpsc::SyncSender<Request>, done: mpsc::UnboundedReceiver<Done>) -> Self {
        Self {
            requests,
            done,
            finished: HashMap::new(),
            abandoned: HashSet::new(),
            waiting: VecDeque::new(),
            next_id: 0,
            unsymbolized: 0,
            held_many: false,
        }
    }

    /// Takes an event to be shown; gives it back at once when nothing waits before it and it
    /// has no stack to name.
    pub fn push(&mut self, mut event: Event, now: Instant) -> Option<Event> {
        let Some(stack) = event.raw_stack.take() else {
            if self.waiting.is_empty() {
                return Some(event);
            }
            self.waiting.push_back(Waiting {
                event,
                id: None,
                as_read: Vec::new(),
                deadline: now,
            });
            return None;
        };
        let as_read: Vec<Frame> = stack.frames.iter().map(Frame::unsymbolized).collect();
        let id = self.next_id;
        self.next_id += 1;
        let request = Request {
            id,
            places: places(&event),
            stack,
        };
        // Not sent when the queue is full or the thread is gone: it goes out as read.
        let sent = self.requests.try_send(request).is_ok().then_some(id);
        self.waiting.push_back(Waiting {
            event,
            id: sent,
            as_read,
            deadline: now + SYMBOLIZE_WAIT,
        });
        self.held_many |= self.waiting.len() >= FLOOD;
        self.pop_ready(now)
    }

    /// The next event that no longer waits, in the order they came.
    pub fn pop_ready(&mut self, now: Instant) -> Option<Event> {
        while let Ok(done) = self.done.try_recv() {
            self.take(done);
        }
        let full = self.waiting.len() > QUEUE;
        let front = self.waiting.front()?;
        let ready = full
            || match front.id {
                // Not sent (the queue was full): nothing to wait for.
                None => true,
                Some(id) => self.finished.contains_key(&id) || front.deadline <= now,
            };
        if !ready {
            return None;
        }
        let Waiting {
            mut event,
            id,
            as_read,
            ..
        } = self.waiting.pop_front()?;
        match (id.and_then(|id| self.finished.remove(&id)), id) {
            (Some(frames), _) => event.stack = Some(frames),
            (None, Some(id)) => {
                self.abandoned.insert(id);
                self.unsymbolized += 1;
                event.stack = Some(as_read);
            }
            (None, None) if !as_read.is_empty() => {
                self.unsymbolized += 1;
                event.stack = Some(as_read);
            }
            (None, None) => {}
        }
        if self.waiting.is_empty() && std::mem::take(&mut self.held_many) {
            // A flood of stacks is over: what it held goes back to the system.
            crate::memory::return_freed();
        }
        Some(event)
    }

    fn take(&mut self, done: Done) {
        if !self.abandoned.remove(&done.id) {
            self.finished.insert(done.id, done.frames);
        }
    }

    /// When the first waiting event's wait ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.waiting.front().map(|w| w.deadline)
    }

    /// Waits until the symbolizing thread finished something.
    pub async fn symbolized(&mut self) {
        match self.done.recv().await {
            Some(done) => self.take(done),
            None => std::future::pending().await,
        }
    }

    /// Whether anything waits.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }
}

/// Waits until the stage, if there is one, has symbolized a stack.
pub async fn symbolized(stacks: &mut Option<StackStage>) {
    match stacks {
        Some(stacks) => stacks.symbolized().await,
        None => std::future::pending().await,
    }
}

/// Where the caller's files may be: through its own root while it lives, in its container's
/// directories, or on the host.
fn places(event: &Event) -> Places {
    let own_root = PathBuf::from(format!("/proc/{}/root", event.pid));
    let mut roots: Vec<PathBuf> = Vec::new();
    if own_root.exists() {
        roots.push(own_root);
    }
    match &event.container {
        Some(container) => roots.extend(container.file_dirs.iter().cloned()),
        // A host process, or one no runtime named: the host's files are the best guess left.
        None => roots.push(Path::new("/").to_owned()),
    }
    Places {
        pid: event.pid,
        roots,
        exe: event.exe.clone().filter(|exe| exe.starts_with('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{stack::RawFrame, test_support::sample_event};

    /// A stage whose thread never answers: the requests pile up in `_unserved`.
    fn stalled() -> (StackStage, std_mpsc::Receiver<Request>) {
        let (requests, unserved) = std_mpsc::sync_channel(1);
        let (_finished, done) = mpsc::unbounded_channel();
        (StackStage::over(requests, done), unserved)
    }

    fn with_stack(pid: u32) -> Event {
        let mut event = sample_event();
        event.pid = pid;
        event.raw_stack = Some(RawStack {
            frames: vec![RawFrame {
                ip: 0x1234,
                module: None,
            }],
            ..RawStack::default()
        });
        event
    }

    fn plain(pid: u32) -> Event {
        let mut event = sample_event();
        event.pid = pid;
        event
    }

    #[tokio::test]
    async fn events_keep_their_order_behind_a_stack_being_named() {
        let mut stage = StackStage::start().unwrap();
        let now = Instant::now();
        // Nothing waits: an event without a stack goes through at once.
        assert_eq!(stage.push(plain(1), now).map(|e| e.pid), Some(1));
        let first = stage.push(with_stack(u32::MAX - 1), now);
        let second = stage.push(plain(2), now);
        let mut out: Vec<Event> = first.into_iter().chain(second).collect();
        while out.len() < 2 {
            tokio::time::timeout(SYMBOLIZE_WAIT, stage.symbolized())
                .await
                .expect("the thread answers");
            out.extend(std::iter::from_fn(|| stage.pop_ready(Instant::now())));
        }
        assert_eq!(
            out.iter().map(|e| e.pid).collect::<Vec<_>>(),
            [u32::MAX - 1, 2]
        );
        let stack = out[0].stack.as_ref().expect("the stack is named");
        assert_eq!(stack[0].ip, 0x1234);
        assert_eq!(stage.unsymbolized, 0);
        assert!(!stage.is_waiting());
    }

    #[tokio::test]
    async fn a_stack_not_named_in_time_goes_out_as_read_and_is_counted() {
        let (mut stage, _unserved) = stalled();
        let now = Instant::now();
        assert!(stage.push(with_stack(7), now).is_none());
        assert!(stage.push(plain(8), now).is_none());
        assert_eq!(stage.next_deadline(), Some(now + SYMBOLIZE_WAIT));
        assert!(stage.pop_ready(now + SYMBOLIZE_WAIT / 2).is_none());
        let late = stage
            .pop_ready(now + SYMBOLIZE_WAIT)
            .expect("its wait is over");
        assert_eq!(late.pid, 7);
        assert_eq!(
            late.stack,
            Some(vec![Frame {
                ip: 0x1234,
                ..Frame::default()
            }])
        );
        assert_eq!(
            stage.pop_ready(now + SYMBOLIZE_WAIT).map(|e| e.pid),
            Some(8)
        );
        assert_eq!(stage.unsymbolized, 1);
    }

    #[tokio::test]
    async fn a_flood_of_events_behind_a_stack_holds_a_bounded_number() {
        let (mut stage, _unserved) = stalled();
        let now = Instant::now();
        assert!(stage.push(with_stack(1), now).is_none());
        let mut out = Vec::new();
        for pid in 2..=(QUEUE as u32 + 1) {
            out.extend(stage.push(plain(pid), now));
        }
        assert!(out.is_empty(), "the queue holds {QUEUE}");
        // One more: the stack goes out as read, and what waited behind it follows, in order.
        out.extend(stage.push(plain(QUEUE as u32 + 2), now));
        out.extend(std::iter::from_fn(|| stage.pop_ready(now)));
        assert_eq!(out.len(), QUEUE + 2);
        assert_eq!(out[0].pid, 1);
        assert!(out.windows(2).all(|w| w[0].pid < w[1].pid));
        assert_eq!(stage.unsymbolized, 1);
        assert!(stage.waiting.len() <= QUEUE);
    }

    #[tokio::test]
    async fn a_full_queue_sends_the_stack_on_as_read_at_once() {
        let (mut stage, _unserved) = stalled();
        let now = Instant::now();
        // The channel holds one request; the second finds it full.
        assert!(stage.push(with_stack(1), now).is_none());
        assert!(stage.push(with_stack(2), now).is_none());
        let first = stage.pop_ready(now + SYMBOLIZE_WAIT).unwrap();
        let second = stage.pop_ready(now).expect("nothing to wait for");
        assert_eq!((first.pid, second.pid), (1, 2));
        assert!(second.stack.is_some());
        assert_eq!(stage.unsymbolized, 2);
    }
}
