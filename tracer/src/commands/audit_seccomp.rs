//! `tracer audit seccomp`: kernel → ring buffer → decode → enrich → filter → output → stdout.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use aya::{
    Ebpf,
    maps::{HashMap, PerCpuArray},
};
use tokio::{
    io::unix::AsyncFd,
    signal::unix::{SignalKind, signal},
    time::{Instant, MissedTickBehavior},
};
use tracer_common::names;

use crate::{
    audit::source::AuditSource,
    cli::SeccompArgs,
    enrich::{ContainerIndex, DockerRuntime, Enricher, Runtime},
    events::{Decoder, Event, clock::WallClock},
    filter::{self, Filter, kernel::DropList},
    output::Formatter,
    probe::{self, hooks::Delivery, loader, offsets, privileges},
    ringbuf::{EventReader, LostCounter},
    sink::{Stdout, WriteOutcome},
};

/// How often growth of the lost-event count is reported while running.
const LOST_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Counts reported when the run ends.
#[derive(Debug, Default)]
pub struct Summary {
    pub delivered: u64,
    pub shown: u64,
    pub lost: u64,
    pub undecodable: u64,
    /// Docker API requests made, when Docker was asked.
    pub docker_api_calls: Option<u64>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events delivered, {} lost, {} shown",
            self.delivered, self.lost, self.shown
        )?;
        if let Some(calls) = self.docker_api_calls {
            write!(f, ", {calls} Docker API calls")?;
        }
        if self.undecodable > 0 {
            write!(f, ", {} undecodable", self.undecodable)?;
        }
        if self.lost > 0 {
            write!(f, " (see the warnings above for why events were lost)")?;
        }
        Ok(())
    }
}

enum Stop {
    Signal,
    Timeout,
    ReaderGone,
}

pub async fn run(args: SeccompArgs) -> anyhow::Result<()> {
    privileges::check()?;
    let offsets = offsets::from_running_kernel().context("reading kernel structure offsets")?;
    tracing::debug!(?offsets, "kernel structure offsets");
    let mut ebpf = loader::load(&offsets, args.ring_buffer_size)?;
    start_kernel_log(&mut ebpf);

    let host_mntns = filter::host_mount_namespace();
    let filter = Filter::new(args.host, host_mntns, args.containername.clone());
    let drop_list = DropList::new(
        HashMap::try_from(take_map(&mut ebpf, names::MNTNS_DROP_MAP)?)?,
        filter.clone(),
        host_mntns,
        args.host,
    )
    .context("filling the kernel's namespace drop list")?;
    let drop_list = Mutex::new(drop_list);
    let index = Arc::new(Mutex::new(ContainerIndex::with_listener(Box::new(
        move |mntns, container| {
            drop_list
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .update(mntns, container)
        },
    ))));
    let docker = args
        .runtimes
        .contains(&Runtime::Docker)
        .then(|| DockerRuntime::new(args.docker_socket.clone(), Arc::clone(&index)));
    let watcher = docker.as_ref().map(DockerRuntime::spawn_watcher);

    let node: Arc<str> = nix::unistd::gethostname()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
        .into();
    let attached = probe::attach(&mut ebpf, args.probe)?;
    let mut source = match attached.delivery {
        Delivery::RingBuffer { .. } => EventSource::RingBuffer {
            reader: EventReader::new(take_map(&mut ebpf, names::EVENTS_MAP)?.try_into()?)
                .context("watching the event ring buffer")?,
            lost: LostCounter::new(PerCpuArray::try_from(take_map(
                &mut ebpf,
                names::LOST_MAP,
            )?)?),
        },
        Delivery::Audit { records, exits } => {
            EventSource::Audit(AuditSource::new(records, exits, Arc::clone(&node)))
        }
    };

    let mut pipeline = Pipeline {
        decoder: Decoder::new(node, WallClock::now()),
        enricher: Enricher::new(index, docker.clone()),
        decoded: Vec::new(),
        filter,
        formatter: args.output.formatter(),
        buffer: Vec::with_capacity(64 * 1024),
        summary: Summary::default(),
    };
    pipeline.formatter.header(&mut pipeline.buffer);
    let mut stdout = Stdout::new();

    let stop = stream(&mut source, &mut pipeline, &mut stdout, args.timeout).await?;

    // Detach before the last read, so nothing written after it is left in the buffer.
    drop(ebpf);
    source.read_remaining(&mut pipeline);
    pipeline.process().await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    pipeline.summary.docker_api_calls = docker.as_ref().map(|d| d.api_calls());
    pipeline.summary.lost = source.total_lost()?;
    if !matches!(stop, Stop::ReaderGone)
        && stdout
            .write(&pipeline.take_output())
            .await
            .context("writing events to stdout")?
            == WriteOutcome::ReaderGone
    {
        tracing::debug!("stdout closed while flushing");
    }
    report(&pipeline.summary, &stop);
    Ok(())
}

async fn stream(
    source: &mut EventSource,
    pipeline: &mut Pipeline,
    stdout: &mut Stdout,
    timeout: Option<Duration>,
) -> anyhow::Result<Stop> {
    let mut interrupt = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut lost_report = tokio::time::interval(LOST_REPORT_INTERVAL);
    lost_report.set_missed_tick_behavior(MissedTickBehavior::Delay);

    // The header (if any) goes out at once, so a person sees the tracer is ready.
    if stdout.write(&pipeline.take_output()).await? == WriteOutcome::ReaderGone {
        return Ok(Stop::ReaderGone);
    }
    loop {
        tokio::select! {
            _ = interrupt.recv() => return Ok(Stop::Signal),
            _ = terminate.recv() => return Ok(Stop::Signal),
            () = sleep_until(deadline) => return Ok(Stop::Timeout),
            _ = lost_report.tick() => source.report_new_losses()?,
            batch = source.read_batch(pipeline) => {
                batch?;
                pipeline.process().await;
                let output = pipeline.take_output();
                match stdout.write(&output).await {
                    Ok(WriteOutcome::Written) => pipeline.recycle(output),
                    Ok(WriteOutcome::ReaderGone) => return Ok(Stop::ReaderGone),
                    Err(error) => return Err(error).context("writing events to stdout"),
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Where events come from: the kernel programs' ring buffer, or the kernel's audit records.
enum EventSource {
    RingBuffer {
        reader: EventReader,
        lost: LostCounter,
    },
    Audit(AuditSource),
}

impl EventSource {
    /// Waits for events and decodes them into the pipeline.
    async fn read_batch(&mut self, pipeline: &mut Pipeline) -> anyhow::Result<()> {
        match self {
            EventSource::RingBuffer { reader, .. } => {
                reader
                    .read_batch(|record| pipeline.push(record))
                    .await
                    .context("reading the event ring buffer")?;
                pipeline.decoder.refresh_clock();
            }
            EventSource::Audit(audit) => {
                let batch = audit.read_batch().await?;
                pipeline.summary.delivered += batch.events.len() as u64;
                pipeline.summary.undecodable += batch.undecodable;
                pipeline.decoded.extend(batch.events);
            }
        }
        Ok(())
    }

    /// Takes what is left once the source is detached, without waiting.
    fn read_remaining(&mut self, pipeline: &mut Pipeline) {
        match self {
            EventSource::RingBuffer { reader, .. } => {
                reader.read_remaining(|record| pipeline.push(record));
            }
            EventSource::Audit(audit) => {
                let batch = audit.read_remaining();
                pipeline.summary.delivered += batch.events.len() as u64;
                pipeline.summary.undecodable += batch.undecodable;
                pipeline.decoded.extend(batch.events);
            }
        }
    }

    fn report_new_losses(&mut self) -> anyhow::Result<()> {
        match self {
            EventSource::RingBuffer { lost, .. } => {
                let new = lost
                    .new_losses()
                    .context("reading the lost-event counter")?;
                if new > 0 {
                    tracing::warn!(
                        "{new} events lost: the ring buffer was full (raise --ring-buffer-size)"
                    );
                }
            }
            EventSource::Audit(audit) => audit.report_new_losses(),
        }
        Ok(())
    }

    fn total_lost(&self) -> anyhow::Result<u64> {
        match self {
            EventSource::RingBuffer { lost, .. } => {
                lost.total().context("reading the lost-event counter")
            }
            EventSource::Audit(audit) => Ok(audit.total_lost()),
        }
    }
}

/// decode → enrich → filter → format, into one buffer per batch.
struct Pipeline {
    decoder: Decoder,
    /// Decoded events waiting for enrichment, which may ask a runtime and so cannot happen
    /// while the ring buffer is borrowed.
    decoded: Vec<Event>,
    enricher: Enricher,
    filter: Filter,
    formatter: Box<dyn Formatter>,
    buffer: Vec<u8>,
    summary: Summary,
}

impl Pipeline {
    fn push(&mut self, record: &[u8]) {
        self.summary.delivered += 1;
        match self.decoder.decode_bytes(record) {
            Ok(event) => self.decoded.push(event),
            Err(error) => {
                self.summary.undecodable += 1;
                tracing::warn!("skipping an undecodable event: {error}");
            }
        }
    }

    async fn process(&mut self) {
        let mut events = std::mem::take(&mut self.decoded);
        for mut event in events.drain(..) {
            self.enricher.enrich(&mut event).await;
            if self.filter.keep(&event) {
                self.summary.shown += 1;
                self.formatter.event(&event, &mut self.buffer);
            }
        }
        self.decoded = events;
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer)
    }

    /// Gives a written buffer back, keeping its capacity for the next batch.
    fn recycle(&mut self, mut buffer: Vec<u8>) {
        buffer.clear();
        self.buffer = buffer;
    }
}

fn take_map(ebpf: &mut Ebpf, name: &str) -> anyhow::Result<aya::maps::Map> {
    ebpf.take_map(name)
        .with_context(|| format!("the kernel programs have no map {name}"))
}

/// Routes the kernel programs' diagnostics (aya-log) into our log.
fn start_kernel_log(ebpf: &mut Ebpf) {
    let logger = match aya_log::EbpfLogger::init(ebpf) {
        Ok(logger) => logger,
        Err(error) => {
            tracing::debug!("kernel program diagnostics unavailable: {error}");
            return;
        }
    };
    // SAFETY: the logger owns its ring buffer's file descriptor for as long as it lives, and the
    // AsyncFd owns the logger.
    let registered =
        unsafe { AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE) };
    let mut logger = match registered {
        Ok(logger) => logger,
        Err(error) => {
            tracing::debug!("cannot watch kernel program diagnostics: {error}");
            return;
        }
    };
    tokio::spawn(async move {
        while let Ok(mut guard) = logger.readable_mut().await {
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    });
}

/// The lost count always reaches stderr: a lost event must never go unnoticed.
fn report(summary: &Summary, stop: &Stop) {
    let quiet = matches!(stop, Stop::ReaderGone) && summary.lost == 0 && summary.undecodable == 0;
    if !quiet {
        eprintln!("tracer: {summary}");
    }
}
