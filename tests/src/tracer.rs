//! Runs the tracer binary: waits for it to attach, gathers its JSON events and its stderr, stops
//! it with SIGINT and reads its closing summary.

use std::{
    io::{BufRead as _, BufReader, Read},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard},
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

/// One line of `tracer audit seccomp -o json` (docs/events.md).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
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
    pub arch: String,
    pub code: String,
    pub code_raw: u32,
    pub signal: Option<String>,
    pub container: Option<serde_json::Value>,
}

/// The counts of the closing `N events delivered, M lost` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub delivered: u64,
    pub lost: u64,
}

/// Finds `N events delivered, M lost` in a line.
pub fn parse_summary(line: &str) -> Option<Summary> {
    let (before, after) = line.split_once(" events delivered, ")?;
    let delivered = before
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    let (lost, rest) = after.split_once(' ')?;
    rest.starts_with("lost").then_some(())?;
    Some(Summary {
        delivered,
        lost: lost.parse().ok()?,
    })
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

    pub fn spawn(mut command: Command) -> Self {
        let description = format!("{command:?}");
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {description}: {error}"));
        let shared = Arc::new(Shared::default());
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            read_lines(
                stdout,
                Arc::clone(&shared),
                |output, line| {
                    match serde_json::from_str::<TracerEvent>(&line) {
                        Ok(event) => output.events.push(event),
                        Err(error) => output.bad_stdout.push(format!("{line}  <- {error}")),
                    }
                    output.stdout_lines.push(line);
                },
                |output| output.stdout_closed = true,
            ),
            read_lines(
                stderr,
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
        }
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
    shared: Arc<Shared>,
    mut store: impl FnMut(&mut Output, String) + Send + 'static,
    closed: fn(&mut Output),
) -> JoinHandle<()> {
    std::thread::spawn(move || {
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
        let line = "tracer: 1954 events delivered, 46 lost to a full ring buffer, 1954 shown \
                    (raise --ring-buffer-size to lose fewer)";
        assert_eq!(
            parse_summary(line),
            Some(Summary {
                delivered: 1954,
                lost: 46
            })
        );
        assert_eq!(
            parse_summary("0 events delivered, 0 lost"),
            Some(Summary {
                delivered: 0,
                lost: 0
            })
        );
        assert_eq!(parse_summary("tracer: error: no usable hook"), None);
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
}
