//! Where events go. Each sink formats and writes in a thread of its own, behind a bounded queue,
//! so a slow or stalled reader never holds up the pipeline; what a full queue cannot take is
//! counted as unwritten, never dropped silently. Several sinks can run at once.

pub mod file;
pub mod queue;
pub mod stdout;

use std::{sync::Arc, thread::JoinHandle, time::Duration};

use tokio::sync::watch;

use crate::events::Event;

/// Events a sink's queue holds before it counts new ones as unwritten: a burst of this size waits
/// for a slow reader instead of being lost. The queue takes memory only for what it holds.
pub const QUEUE_EVENTS: usize = 65536;

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
}

/// A sink's writer: runs in its own thread until the queue closes.
pub trait Writer: Send + 'static {
    fn name(&self) -> &'static str;
    /// Events its queue holds before new ones are counted as unwritten.
    fn capacity(&self) -> usize {
        QUEUE_EVENTS
    }
    fn run(self: Box<Self>, events: queue::Receiver<Arc<Event>>, progress: watch::Sender<Progress>);
}

struct Sink {
    name: &'static str,
    queue: Option<queue::Sender<Arc<Event>>>,
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
}

impl Sinks {
    pub fn start(writers: Vec<Box<dyn Writer>>) -> std::io::Result<Self> {
        let sinks = writers
            .into_iter()
            .map(|writer| {
                let (queue, events) = queue::bounded(writer.capacity());
                let (report, progress) = watch::channel(Progress::default());
                let name = writer.name();
                let thread = std::thread::Builder::new()
                    .name(format!("sink-{name}"))
                    .spawn(move || writer.run(events, report))?;
                Ok(Sink {
                    name,
                    queue: Some(queue),
                    progress,
                    accepted: 0,
                    rejected: 0,
                    _thread: thread,
                })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { sinks })
    }

    /// Hands an event to every sink without waiting.
    pub fn send(&mut self, event: &Arc<Event>) {
        for sink in &mut self.sinks {
            let Some(queue) = &sink.queue else {
                sink.rejected += 1;
                continue;
            };
            match queue.send(Arc::clone(event)) {
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
    pub async fn close(mut self, deadline: Duration) -> SinkTotals {
        for sink in &mut self.sinks {
            sink.queue = None;
        }
        let until = tokio::time::Instant::now() + deadline;
        let mut totals = SinkTotals::default();
        for sink in &mut self.sinks {
            let finished = sink.progress.wait_for(|p| p.finished);
            let _ = tokio::time::timeout_at(until, finished).await;
            let progress = sink.progress.borrow().clone();
            totals.unwritten += sink.rejected + sink.accepted.saturating_sub(progress.written);
            totals.reader_gone |= progress.reader_gone;
        }
        totals
    }
}
