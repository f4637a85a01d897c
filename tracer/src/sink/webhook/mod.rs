//! `--webhook URL`: events POSTed in batches to an HTTP(S) receiver, as kube-apiserver's audit
//! webhook backend sends audit events.
//!
//! A batch goes out when it holds `--webhook-batch-max-size` events, or when its oldest event
//! has waited `--webhook-batch-max-wait`. Batches are sent one at a time, in order. A send that
//! fails with a 5xx, a timeout or a connection error is tried again after an exponential,
//! capped, jittered backoff; a 4xx is not. The modes differ in what waits:
//! - `batch`: the pipeline never waits; events that find the buffer full are counted as
//!   unwritten. A batch is given up after [`ATTEMPTS`] failed sends.
//! - `blocking`: the pipeline waits for room in the buffer; a batch is still given up after
//!   [`ATTEMPTS`] failed sends, and its events counted as unwritten.
//! - `blocking-strict`: the pipeline waits, and a batch is tried until it is sent or tracer stops.
//!
//! With `--webhook-spool DIR`, a batch whose send fails goes to disk at once, and so does every
//! batch after it until the spool is sent, keeping their order; the spool is sent first when the
//! receiver answers again, or by the next run. At stop, what is not sent (a single try each) is
//! spooled, or counted as unwritten.

mod backoff;
pub mod batch;
mod client;
mod spool;

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use thiserror::Error;
use tokio::sync::watch;

use super::{
    Progress, Writer,
    queue::{Received, Receiver},
};
use crate::{
    cli::webhook::{WebhookArgs, WebhookMode},
    events::Event,
};
use backoff::Backoff;
use batch::{Batch, Encoder};
pub use client::ClientError;
use client::{Client, ClientSettings, Outcome};
use spool::{Spool, SpoolError};

/// Sends of one batch, in the modes that give up: the first and four retries.
pub const ATTEMPTS: u32 = 5;
/// How long a writer with nothing to send sleeps before it looks again; new events wake it.
const IDLE: Duration = Duration::from_secs(3600);

#[derive(Debug, Error)]
pub enum WebhookError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

pub struct Webhook {
    mode: WebhookMode,
    max_size: usize,
    max_wait: Duration,
    buffer: usize,
    initial_backoff: Duration,
    client: Client,
    encoder: Encoder,
    spool: Option<Spool>,
    spool_dir: Option<PathBuf>,
}

impl Webhook {
    /// Checks the URL and reads every file the options name: a mistake fails here, at start.
    pub fn new(args: &WebhookArgs, url: &str) -> Result<Self, WebhookError> {
        let client = Client::new(&ClientSettings {
            url,
            ca_file: args.webhook_ca_file.as_deref(),
            client_cert: args
                .webhook_client_cert
                .as_deref()
                .zip(args.webhook_client_key.as_deref()),
            token_file: args.webhook_token_file.as_deref(),
        })?;
        let spool = args
            .webhook_spool
            .as_deref()
            .map(|dir| Spool::open(dir, args.webhook_spool_max_size))
            .transpose()?;
        if let Some(spool) = &spool {
            let earlier = spool.events_of_earlier_runs();
            if earlier > 0 {
                tracing::info!("{earlier} events an earlier run spooled are sent first");
            }
        }
        Ok(Self {
            mode: args.webhook_mode,
            max_size: args.webhook_batch_max_size as usize,
            max_wait: args.webhook_batch_max_wait,
            buffer: args.webhook_buffer_size as usize,
            initial_backoff: args.webhook_initial_backoff,
            client,
            encoder: Encoder::new(args.webhook_gzip),
            spool,
            spool_dir: args.webhook_spool.clone(),
        })
    }
}

impl Writer for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn capacity(&self) -> usize {
        self.buffer
    }

    fn blocking(&self) -> bool {
        self.mode != WebhookMode::Batch
    }

    fn run(self: Box<Self>, events: Receiver<Arc<Event>>, progress: watch::Sender<Progress>) {
        let backoff = Backoff::new(self.initial_backoff);
        let mut run = Run {
            hook: *self,
            events,
            progress,
            pending: VecDeque::new(),
            pending_since: Instant::now(),
            closed: false,
            down: false,
            backoff,
            largest_body: 0,
            counts: Counts::default(),
        };
        run.run();
    }
}

/// What the log says at the end.
#[derive(Default)]
struct Counts {
    /// This run's events in batches given up (counted as unwritten).
    given_up: u64,
    /// ... of which the spool had no room for.
    spool_full: u64,
    /// Events earlier runs spooled, sent now.
    resent: u64,
    /// Events earlier runs spooled that the receiver refused.
    resent_refused: u64,
}

struct Run {
    hook: Webhook,
    events: Receiver<Arc<Event>>,
    progress: watch::Sender<Progress>,
    /// Events taken from the queue, not yet in a batch.
    pending: VecDeque<Arc<Event>>,
    /// When the oldest of `pending` arrived, about.
    pending_since: Instant,
    /// The queue is closed: tracer is stopping.
    closed: bool,
    /// The last send failed and was worth retrying: the receiver is down, or unreachable.
    down: bool,
    backoff: Backoff,
    /// The largest body made so far: the room the spool keeps for the next batch.
    largest_body: usize,
    counts: Counts,
}

impl Run {
    fn run(&mut self) {
        while !self.closed {
            if self.hook.spool.as_ref().is_some_and(|s| !s.is_empty()) {
                self.send_spooled();
            } else if let Some(batch) = self.gather() {
                self.deliver(batch);
            }
        }
        self.stop();
        self.progress.send_modify(|p| p.finished = true);
    }

    /// Waits for a batch to fill or for its oldest event's wait to end; None once closed.
    fn gather(&mut self) -> Option<Batch> {
        loop {
            let full = self.pending.len() >= self.hook.max_size;
            let due = !self.pending.is_empty()
                && (self.closed || Instant::now() >= self.pending_since + self.hook.max_wait);
            if full || due {
                return Some(self.take_batch());
            }
            if self.closed {
                return None;
            }
            let deadline = if self.pending.is_empty() {
                Instant::now() + IDLE
            } else {
                self.pending_since + self.hook.max_wait
            };
            self.receive(deadline);
        }
    }

    fn receive(&mut self, deadline: Instant) {
        let was_empty = self.pending.is_empty();
        match self.events.recv_until(&mut self.pending, deadline) {
            Received::Items if was_empty => self.pending_since = Instant::now(),
            Received::Items | Received::Nothing => {}
            Received::Closed => self.closed = true,
        }
    }

    fn take_batch(&mut self) -> Batch {
        let n = self.pending.len().min(self.hook.max_size);
        let batch = self.hook.encoder.encode(self.pending.drain(..n));
        self.largest_body = self.largest_body.max(batch.body.len());
        // What is left arrived while the batch filled; waiting from now is close enough.
        self.pending_since = Instant::now();
        batch
    }

    /// Sends a batch made in this run, trying again as the mode says.
    fn deliver(&mut self, batch: Batch) {
        let mut attempts = 0;
        loop {
            if self.closed && self.down && self.hook.spool.is_some() {
                self.give_up(batch);
                return;
            }
            match self.hook.client.post(&batch) {
                Outcome::Accepted => {
                    self.progress.send_modify(|p| p.written += batch.events);
                    self.answered();
                    return;
                }
                Outcome::Refused => {
                    self.progress.send_modify(|p| p.failures += 1);
                    self.counts.given_up += batch.events;
                    return;
                }
                Outcome::Retry(why) => {
                    self.failed(&why);
                    attempts += 1;
                    let spool_room = self
                        .hook
                        .spool
                        .as_ref()
                        .is_some_and(|s| s.has_room(batch.body.len()));
                    let strict = self.hook.mode == WebhookMode::BlockingStrict;
                    // With room in the spool, the batch goes there at once: its retries then
                    // run from disk while new events join it there, instead of filling the
                    // buffer.
                    if self.closed || spool_room || (attempts >= ATTEMPTS && !strict) {
                        self.give_up(batch);
                        return;
                    }
                    self.progress.send_modify(|p| p.retries += 1);
                    let wait = self.backoff.next_wait();
                    if self.events.wait_closed(wait) {
                        self.closed = true;
                    }
                }
            }
        }
    }

    /// Sends the oldest spooled batch once; on a failure, waits out the backoff while new
    /// events go to the spool behind it.
    fn send_spooled(&mut self) {
        let Some(spool) = self.hook.spool.as_mut() else {
            return;
        };
        let Some(oldest) = spool.oldest() else { return };
        let (file, body) = match oldest {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(
                    "cannot read a spooled batch, so it is left out ({error}): check \
                     --webhook-spool's directory"
                );
                spool.remove_oldest();
                return;
            }
        };
        let batch = Batch {
            body,
            events: file.events,
            gzip: file.gzip,
        };
        match self.hook.client.post(&batch) {
            Outcome::Accepted => {
                spool.remove_oldest();
                if file.this_run {
                    self.progress.send_modify(|p| p.written += file.events);
                } else {
                    self.counts.resent += file.events;
                }
                self.answered();
            }
            Outcome::Refused => {
                spool.remove_oldest();
                self.progress.send_modify(|p| p.failures += 1);
                if file.this_run {
                    self.counts.given_up += file.events;
                } else {
                    self.counts.resent_refused += file.events;
                }
            }
            Outcome::Retry(why) => {
                self.failed(&why);
                self.progress.send_modify(|p| p.retries += 1);
                let wait = self.backoff.next_wait();
                self.wait_spooling(Instant::now() + wait);
            }
        }
    }

    /// Until `until`, moves new events to the spool in batches while it has room; once it has
    /// none, they stay in the queue (which then fills: counted, or the pipeline waits).
    fn wait_spooling(&mut self, until: Instant) {
        while !self.closed && Instant::now() < until {
            let room = self
                .hook
                .spool
                .as_ref()
                .is_some_and(|s| s.has_room(self.largest_body.max(1)));
            if !room {
                if self
                    .events
                    .wait_closed(until.saturating_duration_since(Instant::now()))
                {
                    self.closed = true;
                }
                return;
            }
            let due = !self.pending.is_empty()
                && Instant::now() >= self.pending_since + self.hook.max_wait;
            if self.pending.len() >= self.hook.max_size || due {
                let batch = self.take_batch();
                self.spool(batch);
                continue;
            }
            let deadline = if self.pending.is_empty() {
                until
            } else {
                until.min(self.pending_since + self.hook.max_wait)
            };
            self.receive(deadline);
        }
    }

    /// Tracer is stopping: every event left goes out with one try, or to the spool when the
    /// receiver is down or the spool must keep the order; what neither takes is unwritten.
    fn stop(&mut self) {
        while self.events.recv_until(&mut self.pending, Instant::now()) == Received::Items {}
        while !self.pending.is_empty() {
            let batch = self.take_batch();
            let spool_first = self
                .hook
                .spool
                .as_ref()
                .is_some_and(|s| self.down || !s.is_empty());
            if spool_first {
                self.give_up(batch);
            } else {
                self.deliver(batch);
            }
        }
        let deferred = self
            .hook
            .spool
            .as_ref()
            .map_or(0, Spool::events_of_this_run);
        self.progress.send_modify(|p| p.deferred = deferred);
        self.report(deferred);
    }

    fn report(&self, deferred: u64) {
        let counts = &self.counts;
        let dir = self
            .hook
            .spool_dir
            .as_deref()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        if counts.resent > 0 {
            tracing::info!("sent {} events an earlier run had spooled", counts.resent);
        }
        if counts.resent_refused > 0 {
            tracing::warn!(
                "the webhook receiver refused {} events an earlier run had spooled; they are \
                 gone",
                counts.resent_refused
            );
        }
        if deferred > 0 {
            tracing::warn!(
                "{deferred} events are spooled in {dir}: the next run with --webhook-spool {dir} \
                 sends them"
            );
        }
        if counts.spool_full > 0 {
            tracing::warn!(
                "the webhook spool was full: {} events could not be kept and are counted as \
                 unwritten; raise --webhook-spool-max-size",
                counts.spool_full
            );
        }
    }

    /// A batch that will not be sent now: to the spool if it fits, else counted as unwritten.
    fn give_up(&mut self, batch: Batch) {
        if self.hook.spool.is_some() {
            self.spool(batch);
            return;
        }
        if self.counts.given_up == 0 && !self.closed {
            tracing::warn!(
                "gave up a batch of {} events after {ATTEMPTS} failed sends to the webhook: \
                 they are counted as unwritten; --webhook-spool DIR keeps such batches on disk, \
                 --webhook-mode blocking-strict keeps trying",
                batch.events
            );
        }
        self.counts.given_up += batch.events;
    }

    fn spool(&mut self, batch: Batch) {
        let Some(spool) = self.hook.spool.as_mut() else {
            return;
        };
        match spool.push(batch) {
            Ok(()) => {}
            Err((batch, None)) => {
                self.counts.spool_full += batch.events;
                self.counts.given_up += batch.events;
            }
            Err((batch, Some(error))) => {
                if self.counts.given_up == 0 {
                    tracing::warn!(
                        "cannot write a batch to the webhook spool ({error}): its events are \
                         counted as unwritten; check the spool's directory and free disk"
                    );
                }
                self.counts.given_up += batch.events;
            }
        }
    }

    fn failed(&mut self, why: &str) {
        self.progress.send_modify(|p| p.failures += 1);
        if !self.down {
            tracing::warn!(
                "cannot send events to the webhook ({why}): trying again with backoff; check \
                 that the receiver runs and answers at the --webhook URL"
            );
            self.down = true;
        }
    }

    fn answered(&mut self) {
        if self.down {
            tracing::info!("the webhook receiver answers again");
            self.down = false;
        }
        self.backoff.reset();
    }
}
