//! Drives a pipeline from a source: reads as records arrive, reports losses as they grow, and
//! stops on SIGINT, SIGTERM, `--timeout` or a sink whose reader is gone. Nothing it waits on can
//! hold up the others: runtime lookups and writes run elsewhere.

use std::{
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use anyhow::Context as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    time::{Instant, MissedTickBehavior},
};

use super::{Pipeline, Summary, symbolize};
use crate::source::{Losses, Source};

/// How often growth of the lost-event count is reported while running.
const LOSS_REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// At stop, how long the sinks may take to write what they hold; what is left is counted as
/// unwritten.
const FLUSH_DEADLINE: Duration = Duration::from_millis(500);
/// At stop, how long stacks may still take to be symbolized, within the second a stop takes.
const STACKS_AT_STOP: Duration = Duration::from_millis(300);

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Signal,
    Timeout,
    /// A sink's reader went away (`tracer ... | head`).
    ReaderGone,
}

/// The signals that stop a run. Installed before anything is attached, so a SIGINT that comes
/// right after tracer says it is attached stops it cleanly instead of killing it.
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    /// Set by the same signals, for a thread that waits where tokio cannot wake it (a pipeline
    /// waiting for room in a blocking sink's queue).
    received: Arc<AtomicBool>,
}

impl StopSignals {
    pub fn install() -> anyhow::Result<Self> {
        let received = Arc::new(AtomicBool::new(false));
        for signo in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signo, Arc::clone(&received))
                .context("handling SIGINT and SIGTERM")?;
        }
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
            received,
        })
    }

    /// Waits for SIGINT or SIGTERM.
    pub async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// Reads from `source` into `pipeline` until the run stops.
pub async fn stream(
    source: &mut Source,
    pipeline: &mut Pipeline,
    signals: &mut StopSignals,
    timeout: Option<Duration>,
) -> anyhow::Result<Stop> {
    let deadline = timeout.map(|t| Instant::now() + t);
    pipeline.sinks.wait_until(
        Arc::clone(&signals.received),
        deadline.map(Instant::into_std),
    );
    let mut loss_report = tokio::time::interval(LOSS_REPORT_INTERVAL);
    loss_report.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reported = Losses::default();
    loop {
        let wait_deadline = pipeline.next_deadline();
        tokio::select! {
            // Signals first: a flood of records must not delay a stop.
            biased;
            _ = signals.interrupt.recv() => return Ok(Stop::Signal),
            _ = signals.terminate.recv() => return Ok(Stop::Signal),
            () = sleep_until(deadline) => return Ok(Stop::Timeout),
            () = pipeline.sinks.reader_gone() => return Ok(Stop::ReaderGone),
            _ = loss_report.tick() => {
                let losses = source.losses()?;
                report_growth(&reported, &losses, source);
                reported = losses;
                if pipeline.has_metrics() {
                    pipeline.publish_metrics(source.lost_by_stage()?);
                }
            }
            id = pipeline.enricher.lookup_done() => pipeline.lookup_done(&id),
            () = symbolize::symbolized(&mut pipeline.stacks) => {
                pipeline.release_symbolized(Instant::now());
            }
            () = sleep_until(wait_deadline) => pipeline.release_ready(),
            ready = source.ready() => {
                ready?;
                source.read_ready(&mut |record| pipeline.accept(record)).await?;
                if let Some(lost) = source.details_lost()? {
                    pipeline.details_lost(lost);
                }
                pipeline.batch_done();
            }
        }
    }
}

/// Takes everything the source still holds (call it once the kernel programs are detached, so
/// nothing is written after it), sends every event on and lets the sinks write.
pub async fn finish(source: &mut Source, mut pipeline: Pipeline) -> anyhow::Result<Summary> {
    // Within the second a stop takes, no sink may hold up the last events: what does not fit
    // is counted as unwritten.
    pipeline.sinks.stop_waiting();
    source.drain(&mut |record| pipeline.accept(record)).await?;
    pipeline.release_all();
    pipeline
        .finish_stacks(Instant::now() + STACKS_AT_STOP)
        .await;
    pipeline.conclude_check();
    let losses = source.final_losses().await?;
    let totals = pipeline.sinks.close(FLUSH_DEADLINE).await;
    Ok(Summary {
        lost: losses.lost,
        counted_but_delivered: losses.counted_but_delivered,
        unwritten: totals.unwritten,
        spooled: totals.deferred,
        ..pipeline.summary
    })
}

fn report_growth(reported: &Losses, now: &Losses, source: &Source) {
    let new = now.lost.saturating_sub(reported.lost);
    if new > 0 {
        tracing::warn!("{new} events lost: {}", source.loss_advice());
    }
}

pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
