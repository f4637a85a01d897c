//! Runs the tracer binary: waits for it to attach, gathers its JSON events and its stderr, stops
//! it with SIGINT and reads its closing summary.

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader, Read},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard, mpsc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use nix::{sys::signal::Signal, unistd::Pid};
use serde::Deserialize;

/// Loading and verifying the programs under software emulation (qemu without KVM) takes
/// seconds; this is far beyond that and still ends a hung run.
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(90);
/// Time to detach, drain the ring buffer and print the summary after SIGINT.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A frame of an event's `stack`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct StackFrame {
    pub ip: u64,
    pub module: Option<String>,
    pub build_id: Option<String>,
    pub file_offset: Option<u64>,
    pub function: Option<String>,
    pub function_offset: Option<u64>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
}

/// One line of `tracer audit seccomp -o json` (docs/events.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct TracerEvent {
    pub timestamp: String,
    pub node: String,
    pub source: String,
    pub pid: u32,
    pub tid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: u32,
    pub gid: u32,
    pub comm: String,
    pub mntns_id: Option<u64>,
    pub cgroup_id: Option<u64>,
    pub syscall: String,
    pub syscall_nr: u64,
    pub arch: Option<String>,
    pub code: String,
    pub code_raw: u32,
    pub signal: Option<String>,
    pub container: Option<serde_json::Value>,
    /// Where kubelet ran the container, from its labels.
    #[serde(default)]
    pub k8s: Option<serde_json::Value>,
    // Why the call failed and who made it. Absent from tracers that predate them, hence the
    // defaults; `fields` tells a null field from a missing one.
    #[serde(default)]
    pub errno: Option<i32>,
    #[serde(default)]
    pub errno_name: Option<String>,
    #[serde(default)]
    pub args: Option<Vec<u64>>,
    #[serde(default)]
    pub ip: Option<u64>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub path_truncated: Option<bool>,
    #[serde(default)]
    pub dirfd: Option<i32>,
    #[serde(default)]
    pub exe: Option<String>,
    #[serde(default)]
    pub cmdline: Option<String>,
    #[serde(default)]
    pub cmdline_truncated: Option<bool>,
    #[serde(default)]
    pub parent_comm: Option<String>,
    #[serde(default)]
    pub ns_pid: Option<u32>,
    #[serde(default)]
    pub ns_ppid: Option<u32>,
    #[serde(default)]
    pub stack: Option<Vec<StackFrame>>,
    /// `summary` on a summary event (`--dedup`, `--rate-limit`), absent on an event of one call.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub summary: Option<HeldBack>,
    // What a `--rules` rule added.
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub severity: Option<u8>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub message: Option<String>,
    /// The names of the fields the line had, null or not.
    #[serde(skip)]
    pub fields: BTreeSet<String>,
}

/// What a summary event counts (docs/events.md).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HeldBack {
    pub reason: String,
    pub count: u64,
    pub first: String,
    pub last: String,
    pub pids: Vec<u32>,
}

impl TracerEvent {
    /// Whether it is a summary event rather than one call.
    pub fn is_summary(&self) -> bool {
        self.kind.as_deref() == Some("summary")
    }

    /// The calls it stands for: one, or a summary's count.
    pub fn calls(&self) -> u64 {
        self.summary.as_ref().map_or(1, |held| held.count)
    }

    /// Reads one line of `-o json`.
    pub fn parse(line: &str) -> serde_json::Result<Self> {
        let value: serde_json::Value = serde_json::from_str(line)?;
        let fields = value
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default();
        let mut event: Self = serde_json::from_value(value)?;
        event.fields = fields;
        Ok(event)
    }

    /// Whether the line had `field`, even as null.
    pub fn has(&self, field: &str) -> bool {
        self.fields.contains(field)
    }
}

/// The counts of the closing summary line: `N events delivered, M lost, K shown`, then optional
/// parts `, {n} {words}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub delivered: u64,
    pub lost: u64,
    pub shown: u64,
    /// Events tracer received but could not decode.
    pub undecodable: u64,
    /// Events a sink could not take because its reader was too slow or gone.
    pub unwritten: u64,
    /// Requests made to the Docker API, when Docker was asked.
    pub docker_api_calls: Option<u64>,
    /// Requests made to containerd's API, when containerd was asked.
    pub containerd_api_calls: Option<u64>,
    /// Requests made to podman's API, when podman was asked.
    pub podman_api_calls: Option<u64>,
    /// Records the kernel counted as lost that the audit source received all the same.
    pub kernel_lost_but_delivered: u64,
    /// Events kept in the webhook's spool for the next run.
    pub spooled: u64,
    /// Calls `--dedup` and `--rate-limit` held back, and the summary events that counted them.
    pub held_by_dedup: u64,
    pub held_by_rate_limit: u64,
    pub summaries: u64,
}

/// Finds the summary in a line: `N events delivered, M lost, K shown[, n words]...`.
pub fn parse_summary(line: &str) -> Option<Summary> {
    let (before, after) = line.split_once(" events delivered, ")?;
    let mut summary = Summary {
        delivered: before
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?,
        ..Summary::default()
    };
    // A closing remark in parentheses is not a count.
    let counts = after.split(" (").next().unwrap_or(after);
    let mut parts = counts.split(", ");
    let (lost, words) = parts.next()?.split_once(' ')?;
    words.starts_with("lost").then_some(())?;
    summary.lost = lost.parse().ok()?;
    for part in parts {
        let Some((n, words)) = part.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match words.trim() {
            "shown" => summary.shown = n,
            "undecodable" => summary.undecodable = n,
            "unwritten" => summary.unwritten = n,
            "Docker API calls" => summary.docker_api_calls = Some(n),
            "containerd API calls" => summary.containerd_api_calls = Some(n),
            "podman API calls" => summary.podman_api_calls = Some(n),
            "counted lost by the kernel but delivered" => summary.kernel_lost_but_delivered = n,
            "spooled for the next run" => summary.spooled = n,
            "held back by --dedup" => summary.held_by_dedup = n,
            "held back by --rate-limit" => summary.held_by_rate_limit = n,
            "summaries" => summary.summaries = n,
            _ => {}
        }
    }
    Some(summary)
}

/// Counts the events that match a predicate as they arrive, looking at each event once: waiting
/// for tens of thousands of events by recounting them all on every new line takes minutes.
pub struct RunningCount<F> {
    looked_at: usize,
    count: usize,
    matches: F,
}

impl<F: FnMut(&TracerEvent) -> bool> RunningCount<F> {
    pub fn new(matches: F) -> Self {
        Self {
            looked_at: 0,
            count: 0,
            matches,
        }
    }

    /// The count over `events`, which must be the previous slice with lines added at its end.
    pub fn update(&mut self, events: &[TracerEvent]) -> usize {
        for event in events.get(self.looked_at..).unwrap_or_default() {
            if (self.matches)(event) {
                self.count += 1;
            }
        }
        self.looked_at = events.len();
        self.count
    }
}

/// Finds `attached HOOK on FUNCTION` in a log line.
pub fn parse_attached(line: &str) -> Option<(String, String)> {
    let (_, after) = line.split_once("attached ")?;
    let mut words = after.split_whitespace();
    let hook = words.next()?;
    (words.next()? == "on").then_some(())?;
    let function = words.next()?;
    Some((hook.into(), function.into()))
}

/// Removes terminal color sequences (`ESC [ ... letter`) a logger may add.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Default)]
struct Output {
    events: Vec<TracerEvent>,
    /// Lines of stdout that are not events, with the reason.
    bad_stdout: Vec<String>,
    /// Every line of stdout as printed, for column output.
    stdout_lines: Vec<String>,
    stderr: Vec<String>,
    stdout_closed: bool,
    stderr_closed: bool,
}

#[derive(Default)]
struct Shared {
    output: Mutex<Output>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Output> {
        self.output.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds or `timeout` passes; returns whether it holds.
    fn wait(&self, timeout: Duration, mut done: impl FnMut(&Output) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut output = self.lock();
        loop {
            if done(&output) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            output = self
                .changed
                .wait_timeout(output, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A running tracer. Dropping it kills the process.
pub struct Tracer {
    child: Option<Child>,
    description: String,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    /// While held, nothing reads the tracer's stdout; dropping it lets the reader start.
    stdout_gate: Option<mpsc::Sender<()>>,
}

/// How a tracer ended after SIGINT, and how long it took.
#[derive(Debug)]
pub struct TimedStop {
    /// From SIGINT until the process was seen to exit; `None` when it was still running at the
    /// end of the patience and was killed.
    pub exited_after: Option<Duration>,
    pub patience: Duration,
    pub finished: Finished,
}

/// A tracer that has exited, with everything it printed.
#[derive(Debug)]
pub struct Finished {
    pub description: String,
    pub status: ExitStatus,
    pub events: Vec<TracerEvent>,
    pub bad_stdout: Vec<String>,
    pub stdout_lines: Vec<String>,
    pub stderr: Vec<String>,
}

impl Finished {
    /// Asserts that tracer exited 0 (after SIGINT, `--timeout` or a closed stdout).
    #[track_caller]
    pub fn assert_stopped_cleanly(&self) {
        assert!(
            self.status.success(),
            "tracer exited with {}; stderr:\n{}",
            self.status,
            self.stderr_text()
        );
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.join("\n")
    }

    pub fn summary(&self) -> Option<Summary> {
        self.stderr
            .iter()
            .rev()
            .find_map(|line| parse_summary(line))
    }

    /// The summary line; panics with the whole stderr when there is none.
    #[track_caller]
    pub fn expect_summary(&self) -> Summary {
        self.summary().unwrap_or_else(|| {
            panic!(
                "{} printed no `N events delivered, M lost` summary; stderr:\n{}",
                self.description,
                self.stderr_text()
            )
        })
    }

    /// Panics unless stdout held only events.
    #[track_caller]
    pub fn assert_stdout_is_events(&self) {
        assert!(
            self.bad_stdout.is_empty(),
            "{} printed lines on stdout that are not events:\n{}",
            self.description,
            self.bad_stdout.join("\n")
        );
    }
}

impl Tracer {
    /// `tracer` with `args`, its stdio piped; add options before [`Tracer::spawn`].
    pub fn command(bin: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(bin);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The attach line is an info message: a RUST_LOG from the caller could hide it.
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        command
    }

    pub fn start(bin: &Path, args: &[&str]) -> Self {
        Self::spawn(Self::command(bin, args))
    }

    /// `tracer audit seccomp --probe PROBE ARGS...`, once it says it attached on that probe.
    pub fn start_attached(bin: &Path, probe: &str, args: &[&str]) -> Self {
        Self::start_attached_logging(bin, probe, args, "info")
    }

    /// [`Tracer::start_attached`] with `RUST_LOG=filter` (which must keep info messages), for
    /// a failure's message to say what tracer's debug messages said.
    pub fn start_attached_logging(bin: &Path, probe: &str, args: &[&str], filter: &str) -> Self {
        let mut all = vec!["audit", "seccomp", "--probe", probe];
        all.extend_from_slice(args);
        let mut command = Self::command(bin, &all);
        command.env("RUST_LOG", filter);
        let tracer = Self::spawn(command);
        assert_eq!(tracer.wait_attached(), probe);
        tracer
    }

    pub fn spawn(command: Command) -> Self {
        Self::spawn_gated(command, false)
    }

    /// Like [`Tracer::spawn`], but nothing reads the tracer's stdout until
    /// [`Tracer::release_stdout`]: a reader that stopped reading, as a pipe into a stalled
    /// program is. The pipe holds what the kernel buffers for it (64 KiB on Linux), then the
    /// tracer's writes block.
    pub fn spawn_with_stdout_unread(command: Command) -> Self {
        Self::spawn_gated(command, true)
    }

    fn spawn_gated(mut command: Command, hold_stdout: bool) -> Self {
        let description = format!("{command:?}");
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {description}: {error}"));
        let shared = Arc::new(Shared::default());
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (stdout_gate, gate) = if hold_stdout {
            let (sender, receiver) = mpsc::channel();
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        let readers = vec![
            read_lines(
                stdout,
                gate,
                Arc::clone(&shared),
                |output, line| {
                    match TracerEvent::parse(&line) {
                        Ok(event) => output.events.push(event),
                        Err(error) => output.bad_stdout.push(format!("{line}  <- {error}")),
                    }
                    output.stdout_lines.push(line);
                },
                |output| output.stdout_closed = true,
            ),
            read_lines(
                stderr,
                None,
                Arc::clone(&shared),
                |output, line| {
                    output.stderr.push(strip_ansi(&line));
                },
                |output| output.stderr_closed = true,
            ),
        ];
        Self {
            child: Some(child),
            description,
            shared,
            readers,
            stdout_gate,
        }
    }

    /// Lets the reader of a tracer started with [`Tracer::spawn_with_stdout_unread`] start.
    pub fn release_stdout(&mut self) {
        self.stdout_gate.take();
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    #[track_caller]
    pub fn signal(&self, signal: Signal) {
        nix::sys::signal::kill(Pid::from_raw(self.pid() as i32), signal).unwrap_or_else(|error| {
            panic!("cannot send {signal} to {}: {error}", self.description)
        });
    }

    /// The state letter of `/proc/PID/stat` (`T` when stopped by a signal), `None` once the
    /// process is gone.
    pub fn process_state(&self) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        stat[stat.rfind(')')? + 1..].trim_start().chars().next()
    }

    /// Waits until the process is stopped by a signal (SIGSTOP takes effect asynchronously).
    #[track_caller]
    pub fn wait_stopped(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.process_state() != Some('T') {
            assert!(
                Instant::now() < deadline,
                "{} did not stop within {timeout:?} of SIGSTOP (state {:?})",
                self.description,
                self.process_state()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits up to `timeout` for the process to exit, whether or not its output has been read;
    /// returns when it was seen to have exited.
    pub fn wait_process_exit(&mut self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("the tracer is running");
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Some(Instant::now()),
                Ok(None) => {}
                Err(error) => panic!("waiting for {}: {error}", self.description),
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends SIGINT and measures how long the process takes to exit; kills it when it is still
    /// running after `patience`, so a hung tracer still yields its output for the report.
    #[track_caller]
    pub fn interrupt_timed(mut self, patience: Duration) -> TimedStop {
        let sent = Instant::now();
        self.signal(Signal::SIGINT);
        let exited_after = self
            .wait_process_exit(patience)
            .map(|at| at.duration_since(sent));
        TimedStop {
            exited_after,
            patience,
            finished: self.finish(),
        }
    }

    /// Kills the process if it still runs, lets its stdout be read, and gathers everything it
    /// printed.
    #[track_caller]
    pub fn finish(mut self) -> Finished {
        if self.wait_process_exit(Duration::ZERO).is_none() {
            let child = self.child.as_mut().expect("the tracer is running");
            let _ = child.kill();
        }
        self.release_stdout();
        self.wait_exit(STOP_TIMEOUT)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the tracer is running").id()
    }

    pub fn stderr_text(&self) -> String {
        self.shared.lock().stderr.join("\n")
    }

    /// Waits for the `attached HOOK on FUNCTION` line; returns the hook. Panics with the
    /// tracer's stderr if it exits or takes too long.
    #[track_caller]
    pub fn wait_attached(&self) -> String {
        let mut attached = None;
        let mut exited = false;
        let settled = self.shared.wait(ATTACH_TIMEOUT, |output| {
            attached = output.stderr.iter().find_map(|line| parse_attached(line));
            exited = output.stderr_closed;
            attached.is_some() || exited
        });
        match attached {
            Some((hook, _function)) => hook,
            None if settled => panic!(
                "{} exited before attaching; stderr:\n{}",
                self.description,
                self.stderr_text()
            ),
            None => panic!(
                "{} did not attach within {ATTACH_TIMEOUT:?}; stderr so far:\n{}",
                self.description,
                self.stderr_text()
            ),
        }
    }

    /// The events printed so far.
    pub fn events(&self) -> Vec<TracerEvent> {
        self.shared.lock().events.clone()
    }

    /// Waits until `done` holds for the events so far, or `timeout` passes.
    pub fn wait_for_events(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[TracerEvent]) -> bool,
    ) -> bool {
        self.shared.wait(timeout, |output| {
            done(&output.events) || output.stdout_closed
        }) && done(&self.shared.lock().events)
    }

    /// Sends SIGINT and waits for the tracer to detach, flush and exit.
    #[track_caller]
    pub fn stop(self) -> Finished {
        nix::sys::signal::kill(Pid::from_raw(self.pid() as i32), Signal::SIGINT)
            .unwrap_or_else(|error| panic!("cannot send SIGINT to {}: {error}", self.description));
        self.wait_exit(STOP_TIMEOUT)
    }

    /// Waits for the tracer to exit by itself; kills it and panics after `timeout`.
    #[track_caller]
    pub fn wait_exit(mut self, timeout: Duration) -> Finished {
        self.release_stdout();
        let closed = self.shared.wait(timeout, |output| {
            output.stdout_closed && output.stderr_closed
        });
        if !closed {
            self.kill();
            panic!(
                "{} did not exit within {timeout:?}; killed it. stderr:\n{}",
                self.description,
                self.stderr_text()
            );
        }
        let mut child = self.child.take().expect("the tracer is running");
        let status = child
            .wait()
            .unwrap_or_else(|error| panic!("waiting for {}: {error}", self.description));
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let output = std::mem::take(&mut *self.shared.lock());
        Finished {
            description: self.description.clone(),
            status,
            events: output.events,
            bad_stdout: output.bad_stdout,
            stdout_lines: output.stdout_lines,
            stderr: output.stderr,
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // A test that panics mid-way must not leave a tracer attached to the kernel.
        self.kill();
    }
}

fn read_lines(
    stream: impl Read + Send + 'static,
    gate: Option<mpsc::Receiver<()>>,
    shared: Arc<Shared>,
    mut store: impl FnMut(&mut Output, String) + Send + 'static,
    closed: fn(&mut Output),
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        if let Some(gate) = gate {
            // Nothing is ever sent: the sender is dropped to open the gate.
            let _ = gate.recv();
        }
        let reader = BufReader::new(stream);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            store(&mut shared.lock(), line);
            shared.changed.notify_all();
        }
        closed(&mut shared.lock());
        shared.changed.notify_all();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_line() {
        let line = "tracer: 1954 events delivered, 46 lost, 1950 shown, 4 undecodable, \
                    120 unwritten, 3 Docker API calls, 5 containerd API calls, 17 counted lost by \
                    the kernel but delivered";
        assert_eq!(
            parse_summary(line),
            Some(Summary {
                delivered: 1954,
                lost: 46,
                shown: 1950,
                undecodable: 4,
                unwritten: 120,
                docker_api_calls: Some(3),
                containerd_api_calls: Some(5),
                podman_api_calls: None,
                kernel_lost_but_delivered: 17,
                spooled: 0,
                held_by_dedup: 0,
                held_by_rate_limit: 0,
                summaries: 0,
            })
        );
        assert_eq!(
            parse_summary(
                "tracer: 100001 events delivered, 0 lost, 2 shown, 99000 held back by --dedup, \
                 990 held back by --rate-limit, 7 summaries"
            ),
            Some(Summary {
                delivered: 100_001,
                shown: 2,
                held_by_dedup: 99_000,
                held_by_rate_limit: 990,
                summaries: 7,
                ..Summary::default()
            })
        );
        assert_eq!(
            parse_summary("2026-11-23T22:41:07Z tracer: 0 events delivered, 0 lost, 0 shown"),
            Some(Summary::default())
        );
        // A remark after the counts, and parts this parser does not know, are not counts.
        assert_eq!(
            parse_summary(
                "tracer: 10 events delivered, 2 lost, 8 shown, 5 frobnicated (see the warnings \
                 above for why events were lost)"
            ),
            Some(Summary {
                delivered: 10,
                lost: 2,
                shown: 8,
                ..Summary::default()
            })
        );
        assert_eq!(parse_summary("tracer: error: no usable hook"), None);
        assert_eq!(parse_summary("3 events delivered, many lost"), None);
    }

    #[test]
    fn counts_matching_events_once_each() {
        let line = r#"{"timestamp":"t","node":"n","source":"audit","pid":7,"tid":null,"ppid":null,"uid":0,"gid":0,"comm":"c","mntns_id":null,"cgroup_id":null,"syscall":"getppid","syscall_nr":110,"arch":"x86_64","code":"log","code_raw":2147221504,"signal":null,"container":null}"#;
        let event: TracerEvent = serde_json::from_str(line).unwrap();
        let other = TracerEvent {
            pid: 8,
            ..event.clone()
        };
        let mut events = vec![event.clone(), other.clone()];
        let mut count = RunningCount::new(|e: &TracerEvent| e.pid == 7);
        assert_eq!(count.update(&events), 1);
        assert_eq!(count.update(&events), 1, "the same events again");
        events.extend([event.clone(), other, event]);
        assert_eq!(count.update(&events), 3);
    }

    #[test]
    fn reads_the_attach_line() {
        let line = "2026-11-23T22:41:07.123456Z  INFO attached kprobe on audit_seccomp";
        assert_eq!(
            parse_attached(line),
            Some(("kprobe".into(), "audit_seccomp".into()))
        );
        assert_eq!(parse_attached("skipped fentry: refused"), None);
    }

    #[test]
    fn strips_colors() {
        assert_eq!(
            strip_ansi("\u{1b}[32m INFO\u{1b}[0m attached fentry on audit_seccomp"),
            " INFO attached fentry on audit_seccomp"
        );
    }

    #[test]
    fn reads_the_documented_event() {
        let line = r#"{"timestamp":"2026-11-23T22:41:07.123456789Z","node":"node-1","source":"fentry","pid":485855,"tid":485855,"ppid":485801,"uid":0,"gid":0,"comm":"unshare","mntns_id":4026532301,"cgroup_id":8721,"syscall":"unshare","syscall_nr":272,"arch":"x86_64","code":"kill_thread","code_raw":0,"signal":"SIGSYS","container":null}"#;
        let event: TracerEvent = serde_json::from_str(line).unwrap();
        assert_eq!(
            (event.pid, event.syscall_nr, event.code_raw),
            (485855, 272, 0)
        );
        assert_eq!(event.signal.as_deref(), Some("SIGSYS"));
    }

    #[test]
    fn tells_a_null_detail_from_a_missing_one() {
        let line = r#"{"timestamp":"t","node":"n","source":"fentry","pid":7,"tid":7,"ppid":1,"uid":0,"gid":0,"comm":"c","mntns_id":1,"cgroup_id":1,"syscall":"getpriority","syscall_nr":140,"arch":"x86_64","code":"errno","code_raw":327680,"signal":null,"container":null,"errno":1,"errno_name":"EPERM","args":[1229764173248856065,2459528346497712130,3689292519746568195,4919056692995424260,6148820866244280325,17754878580954759174],"ip":93896125848750,"path":null,"dirfd":null}"#;
        let event = TracerEvent::parse(line).unwrap();
        assert_eq!(event.args.as_ref().unwrap()[5], 0xf666_0000_0000_0006);
        assert_eq!(
            (event.errno, event.errno_name.as_deref()),
            (Some(1), Some("EPERM"))
        );
        assert!(event.has("path") && event.path.is_none());
        assert!(!event.has("exe"));
    }
}
