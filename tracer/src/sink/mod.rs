//! Where events go. Each sink formats and writes in a thread of its own, behind a bounded queue,
//! so a slow or stalled reader never holds up the pipeline; what a full queue cannot take is
//! counted as unwritten, never dropped silently. Several sinks can run at once. A sink the user
//! asked to block (`--webhook-mode blocking`) makes the pipeline wait for room in its queue
//! instead, until the run stops.

pub mod file;
pub mod live_table;
pub mod queue;
pub mod stdout;
pub mod webhook;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::events::Event;

/// Events a sink's queue holds before it counts new ones as unwritten: a burst of this size waits
/// for a slow reader instead of being lost. The queue takes memory only for what it holds.
pub const QUEUE_EVENTS: usize = 65536;
/// How long a writer told to stop has to finish the write it is in: one write of at most
/// PIPE_BUF bytes to a reader that is slow but alive.
const ABANDON_GRACE: Duration = Duration::from_millis(200);

/// How a sink's writer is doing, as it reports it.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Events written.
    pub written: u64,
    /// The reader is gone for good (a closed pipe): nothing more can be written.
    pub reader_gone: bool,
    /// The writer has written everything it was given, or given up.
    pub finished: bool,
    /// Writes or sends tried again after a failure (a receiver that was down, a full disk).
    pub retries: u64,
    /// Writes or sends that failed; what they held is written later, or counted as unwritten.
    pub failures: u64,
    /// Events kept (on disk) for a later run to write: neither written nor unwritten.
    pub deferred: u64,
}

/// A sink's writer: runs in its own thread until the queue closes.
pub trait Writer: Send + 'static {
    fn name(&self) -> &'static str;
    /// Events its queue holds before new ones are counted as unwritten.
    fn capacity(&self) -> usize {
        QUEUE_EVENTS
    }
    /// Whether the pipeline waits for room in its queue rather than count events as unwritten.
    fn blocking(&self) -> bool {
        false
    }
    fn run(self: Box<Self>, events: queue::Receiver<Arc<Event>>, progress: watch::Sender<Progress>);
}

struct Sink {
    name: &'static str,
    queue: Option<queue::Sender<Arc<Event>>>,
    blocking: bool,
    progress: watch::Receiver<Progress>,
    accepted: u64,
    rejected: u64,
    _thread: JoinHandle<()>,
}

/// What the sinks did, once closed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkTotals {
    /// Events some sink could not write: its queue was full, its reader was gone, or it was
    /// still writing when tracer had to stop.
    pub unwritten: u64,
    /// A sink's reader went away (e.g. `tracer ... | head`).
    pub reader_gone: bool,
    /// Events kept for a later run to write.
    pub deferred: u64,
}

/// One sink, as [`Sinks::states`] reports it.
#[derive(Clone, Debug)]
pub struct SinkState {
    pub name: &'static str,
    /// Events in its queue.
    pub queued: usize,
    /// Events its queue could not take so far.
    pub unwritten: u64,
    pub progress: Progress,
}

pub struct Sinks {
    sinks: Vec<Sink>,
    give_up: GiveUp,
}

/// When a blocking sink's full queue stops holding up the pipeline: the run is stopping. The
/// pipeline's runtime cannot see its signals while the thread waits, so the signals also set a
/// flag of their own.
#[derive(Default)]
struct GiveUp {
    signal: Option<Arc<AtomicBool>>,
    deadline: Option<Instant>,
    now: bool,
    warned: bool,
}

impl GiveUp {
    fn due(&self) -> bool {
        self.now
            || self
                .signal
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed))
            || self.deadline.is_some_and(|at| Instant::now() >= at)
    }
}

impl Sinks {
    pub fn start(writers: Vec<Box<dyn Writer>>) -> std::io::Result<Self> {
        let sinks = writers
            .into_iter()
            .map(|writer| {
                let (queue, events) = queue::bounded(writer.capacity());
                let (report, progress) = watch::channel(Progress::default());
                let name = writer.name();
                let blocking = writer.blocking();
                let thread = std::thread::Builder::new()
                    .name(format!("sink-{name}"))
                    .spawn(move || writer.run(events, report))?;
                Ok(Sink {
                    name,
                    queue: Some(queue),
                    blocking,
                    progress,
                    accepted: 0,
                    rejected: 0,
                    _thread: thread,
                })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self {
            sinks,
            give_up: GiveUp::default(),
        })
    }

    /// Blocking sinks stop holding up the pipeline once `signal` is set or at `deadline`.
    pub fn wait_until(&mut self, signal: Arc<AtomicBool>, deadline: Option<Instant>) {
        self.give_up.signal = Some(signal);
        self.give_up.deadline = deadline;
    }

    /// The run is stopping: from now on no sink holds up the pipeline.
    pub fn stop_waiting(&mut self) {
        self.give_up.now = true;
    }

    /// Hands an event to every sink; waits for room only in a blocking sink's queue.
    pub fn send(&mut self, event: &Arc<Event>) {
        let give_up = &mut self.give_up;
        for sink in &mut self.sinks {
            let Some(queue) = &sink.queue else {
                sink.rejected += 1;
                continue;
            };
            let sent = if sink.blocking {
                let sent = queue.send(Arc::clone(event));
                if sent == Err(queue::SendError::Full) {
                    if !give_up.warned {
                        tracing::warn!(
                            "the {} sink is full: tracer waits for it, reading no events \
                             meanwhile, as its blocking mode asks",
                            sink.name
                        );
                        give_up.warned = true;
                    }
                    let waiting = &*give_up;
                    queue.send_waiting(Arc::clone(event), &|| waiting.due())
                } else {
                    sent
                }
            } else {
                queue.send(Arc::clone(event))
            };
            match sent {
                Ok(()) => sink.accepted += 1,
                Err(queue::SendError::Full) => {
                    if sink.rejected == 0 {
                        tracing::warn!(
                            "the {} sink cannot keep up: events it cannot take are counted as \
                             unwritten",
                            sink.name
                        );
                    }
                    sink.rejected += 1;
                }
                Err(queue::SendError::Disconnected) => sink.rejected += 1,
            }
        }
    }

    /// Events the sinks have written so far, all sinks together.
    pub fn written(&self) -> u64 {
        self.sinks
            .iter()
            .map(|sink| sink.progress.borrow().written)
            .sum()
    }

    /// How each sink is doing now, for the metrics.
    pub fn states(&self) -> Vec<SinkState> {
        self.sinks
            .iter()
            .map(|sink| {
                let progress = sink.progress.borrow().clone();
                SinkState {
                    name: sink.name,
                    queued: sink.queue.as_ref().map_or(0, queue::Sender::queued),
                    unwritten: sink.rejected,
                    progress,
                }
            })
            .collect()
    }

    /// Resolves once a sink's reader is gone for good.
    pub async fn reader_gone(&mut self) {
        let waits = self.sinks.iter_mut().map(|sink| {
            Box::pin(async move {
                if sink.progress.wait_for(|p| p.reader_gone).await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
        });
        let waits: Vec<_> = waits.collect();
        if waits.is_empty() {
            return std::future::pending().await;
        }
        futures_util::future::select_all(waits).await;
    }

    /// Closes the queues and waits, at most `deadline`, for the writers to write what they hold.
    ///
    /// A writer still busy at the deadline is told to stop at its next write, and given a moment
    /// to do so: what it holds is then counted once, as unwritten, and never written after the
    /// count (a slow reader would otherwise receive events the summary calls unwritten).
    pub async fn close(mut self, deadline: Duration) -> SinkTotals {
        let mut abandon = Vec::with_capacity(self.sinks.len());
        for sink in &mut self.sinks {
            abandon.push(sink.queue.take());
        }
        // The queues are closed once their senders are gone; each is kept only to abandon it.
        let abandon: Vec<_> = abandon
            .into_iter()
            .map(|queue| queue.map(queue::Sender::into_abandon))
            .collect();
        let until = tokio::time::Instant::now() + deadline;
        let mut totals = SinkTotals::default();
        for (sink, abandon) in self.sinks.iter_mut().zip(abandon) {
            let finished = sink.progress.wait_for(|p| p.finished);
            if tokio::time::timeout_at(until, finished).await.is_err()
                && let Some(abandon) = abandon
            {
                abandon.abandon();
                let finished = sink.progress.wait_for(|p| p.finished);
                let _ = tokio::time::timeout(ABANDON_GRACE, finished).await;
            }
            let progress = sink.progress.borrow().clone();
            totals.unwritten += sink.rejected
                + sink
                    .accepted
                    .saturating_sub(progress.written + progress.deferred);
            totals.reader_gone |= progress.reader_gone;
            totals.deferred += progress.deferred;
        }
        totals
    }
}
