//! The lab's runs, each on any kernel and source: the audited call timed without and with a
//! consumer, bursts, and tracer's CPU, memory and start time. `host` and the VM's init put them
//! together for what each machine can run.

use std::{
    io,
    path::PathBuf,
    thread,
    time::{Duration, Instant},
};

use crate::perf::{
    Measurement, Scale, Section,
    auditd::{self, Auditd},
    calls::{self, CallPath, CallTimes, Request},
    median, process,
    tracer_run::RunningTracer,
};

/// Calls per timed round and rounds per figure.
const CALLS_PER_ROUND: u32 = 20_000;
const ROUNDS: u32 = 7;
/// How long tracer may sit idle after attaching before its memory counts as steady.
const SETTLE: Duration = Duration::from_secs(1);

/// What every run needs.
pub struct Lab {
    /// The tracer executable.
    pub tracer: PathBuf,
    /// This executable, which times calls in a child of its own.
    pub exe: PathBuf,
    pub scale: Scale,
    /// Where auditd's log and other scratch files go.
    pub scratch: PathBuf,
    /// The workload's CPU, and the consumer's, kept apart where there are two.
    pub workload_cpu: Option<usize>,
    pub consumer_cpu: Option<usize>,
    /// What every tracer run gets besides `--probe`: a VM's workload runs in the host's mount
    /// namespace, whose events the eBPF hooks would otherwise drop in the kernel unmeasured.
    pub tracer_args: Vec<String>,
}

impl Lab {
    pub fn time(&self, path: CallPath, calls: u32, rounds: u32) -> io::Result<CallTimes> {
        self.time_where(path, calls, rounds, false)
    }

    /// Like [`Lab::time`], from a mount namespace of the child's own, as a container calls.
    pub fn time_in_own_mount_namespace(
        &self,
        path: CallPath,
        calls: u32,
        rounds: u32,
    ) -> io::Result<CallTimes> {
        self.time_where(path, calls, rounds, true)
    }

    fn time_where(
        &self,
        path: CallPath,
        calls: u32,
        rounds: u32,
        own_mount_namespace: bool,
    ) -> io::Result<CallTimes> {
        calls::time(
            &self.exe,
            Request {
                path,
                calls,
                rounds,
                cpu: self.workload_cpu,
                own_mount_namespace,
            },
        )
    }

    fn timed_rounds(&self, path: CallPath) -> io::Result<f64> {
        let times = self.time(path, self.scale.of(CALLS_PER_ROUND), ROUNDS)?;
        Ok(median(&times.ns_per_call))
    }

    /// tracer's arguments for a run on `probe`.
    pub fn tracer_args<'a>(&'a self, probe: &'a str) -> Vec<&'a str> {
        let mut args = vec!["--probe", probe];
        args.extend(self.tracer_args.iter().map(String::as_str));
        args
    }

    pub fn report(&self, measurement: Measurement) {
        measurement.report();
    }
}

/// The audited call with nothing listening but the kernel's own log, and the ALLOW floor, at
/// the start of a run. Each consumer's ratio takes its own baseline next to it.
pub fn baseline(lab: &Lab) -> io::Result<f64> {
    let floor = lab.timed_rounds(CallPath::Allow)?;
    lab.report(Measurement::new(
        Section::Kernel,
        "ALLOW call through the same filter (the floor)",
        "none",
        floor / 1000.0,
        "µs",
    ));
    let log = lab.timed_rounds(CallPath::Log)?;
    lab.report(Measurement::new(
        Section::Kernel,
        "LOG call, no consumer",
        "none",
        log / 1000.0,
        "µs",
    ));
    Ok(log)
}

/// The audited call while a consumer runs.
fn with_consumer(lab: &Lab, source: &str) -> io::Result<f64> {
    let with = lab.timed_rounds(CallPath::Log)?;
    lab.report(Measurement::new(
        Section::Kernel,
        "LOG call with the consumer",
        source,
        with / 1000.0,
        "µs",
    ));
    Ok(with)
}

/// The consumer's ratio against the call without it, timed right before the consumer starts
/// and again once it has gone, so that drift over the run (another load on the machine, a VM's
/// emulation) does not pass for the consumer's cost: the baseline is the mean of the two.
fn consumer_ratio(lab: &Lab, source: &str, with_ns: f64, before_ns: f64) -> io::Result<()> {
    let after = lab.timed_rounds(CallPath::Log)?;
    let baseline = (before_ns + after) / 2.0;
    lab.report(
        Measurement::new(
            Section::Kernel,
            "LOG call with the consumer ÷ without",
            source,
            with_ns / baseline,
            "×",
        )
        .with_note(format!(
            "without: {:.2} µs before, {:.2} µs after",
            before_ns / 1000.0,
            after / 1000.0
        )),
    );
    Ok(())
}

/// Starts tracer on `probe`, reports its start time and steady memory, and times the audited
/// call while it runs. `while_running` sees the running tracer before it stops (the VM reads
/// the kernel programs' statistics there).
pub fn tracer_costs(
    lab: &Lab,
    probe: &str,
    while_running: &mut dyn FnMut(&RunningTracer) -> io::Result<()>,
) -> io::Result<()> {
    let before = lab.timed_rounds(CallPath::Log)?;
    let tracer = RunningTracer::start(&lab.tracer, &lab.tracer_args(probe), lab.consumer_cpu)?;
    let attach = tracer.wait_attached()?;
    lab.report(Measurement::new(
        Section::Memory,
        "exec → attached",
        probe,
        attach.as_secs_f64() * 1000.0,
        "ms",
    ));
    thread::sleep(SETTLE);
    let memory = process::memory(tracer.pid())?;
    lab.report(Measurement::new(
        Section::Memory,
        "RSS, steady after attaching",
        probe,
        mib(memory.rss),
        "MiB",
    ));
    lab.report(Measurement::new(
        Section::Memory,
        "peak RSS while starting",
        probe,
        mib(memory.peak_rss),
        "MiB",
    ));
    let with = with_consumer(lab, probe)?;
    while_running(&tracer)?;
    let stopped = tracer.stop()?;
    consumer_ratio(lab, probe, with, before)?;
    lab.report(Measurement::new(
        Section::Burst,
        "lost while timing calls",
        probe,
        stopped.summary.lost as f64,
        "events",
    ));
    Ok(())
}

/// auditd's cost on the audited call, measured the same way.
pub fn auditd_costs(lab: &Lab) -> io::Result<()> {
    let before = lab.timed_rounds(CallPath::Log)?;
    let auditd = Auditd::start(&lab.scratch.join("auditd"))?;
    let with = with_consumer(lab, "auditd");
    auditd.stop()?;
    consumer_ratio(lab, "auditd", with?, before)
}

/// A burst of `calls` audited calls as fast as one thread makes them, with tracer on `probe`:
/// delivered and lost as tracer counts them, its CPU per event and its memory after.
pub fn tracer_burst(lab: &Lab, probe: &str, calls: u32) -> io::Result<()> {
    let tracer = RunningTracer::start(&lab.tracer, &lab.tracer_args(probe), lab.consumer_cpu)?;
    tracer.wait_attached()?;
    thread::sleep(SETTLE);
    let cpu_before = process::cpu_time(tracer.pid())?;
    let burst = lab.time(CallPath::Log, calls, 1)?;
    let cpu_after = settled_cpu_time(tracer.pid())?;
    let memory = process::memory(tracer.pid())?;
    let stopped = tracer.stop()?;
    let label = format!("{calls}-call burst");
    let summary = stopped.summary;
    report_burst(
        lab,
        calls,
        probe,
        (summary.delivered, summary.lost),
        format!("burst took {:.2} s", burst.seconds),
    );
    if summary.delivered > 0 {
        let per_event = (cpu_after - cpu_before).as_secs_f64() * 1e6 / summary.delivered as f64;
        lab.report(Measurement::new(
            Section::Userspace,
            &format!("tracer CPU per event ({label})"),
            probe,
            per_event,
            "µs",
        ));
    }
    lab.report(Measurement::new(
        Section::Memory,
        &format!("RSS after a {label}"),
        probe,
        mib(memory.rss),
        "MiB",
    ));
    lab.report(Measurement::new(
        Section::Memory,
        &format!("peak RSS through a {label}"),
        probe,
        mib(memory.peak_rss),
        "MiB",
    ));
    Ok(())
}

/// The same burst with auditd under its default configuration: the records it wrote and the
/// kernel's lost count.
pub fn auditd_burst(lab: &Lab, calls: u32) -> io::Result<()> {
    let auditd = Auditd::start(&lab.scratch.join("auditd"))?;
    let lost_before = auditd::status()?.lost;
    let burst = lab.time(CallPath::Log, calls, 1)?;
    // auditd flushes its log asynchronously; wait until the count stops moving.
    let mut written = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        thread::sleep(Duration::from_millis(500));
        let now = auditd.seccomp_records(burst.pid)?;
        if (now == written && now > 0) || now >= u64::from(calls) || Instant::now() > deadline {
            written = now;
            break;
        }
        written = now;
    }
    let lost = auditd::status()?.lost.saturating_sub(lost_before);
    auditd.stop()?;
    report_burst(
        lab,
        calls,
        "auditd",
        (written, lost),
        format!(
            "burst took {:.2} s; default auditd.conf, -b 8192 --backlog_wait_time 60000",
            burst.seconds
        ),
    );
    Ok(())
}

/// Delivered and lost in a burst of `calls`, with how long the burst took (said once, by the
/// delivered count).
fn report_burst(lab: &Lab, calls: u32, source: &str, (delivered, lost): (u64, u64), note: String) {
    let delivered = Measurement::new(
        Section::Burst,
        &format!("{calls}-call burst: delivered"),
        source,
        delivered as f64,
        "events",
    );
    lab.report(delivered.with_note(note));
    lab.report(Measurement::new(
        Section::Burst,
        &format!("{calls}-call burst: lost"),
        source,
        lost as f64,
        "events",
    ));
}

/// tracer's CPU time once it has stopped working through a burst.
fn settled_cpu_time(pid: u32) -> io::Result<Duration> {
    let mut last = process::cpu_time(pid)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        thread::sleep(Duration::from_millis(300));
        let now = process::cpu_time(pid)?;
        if now == last || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
