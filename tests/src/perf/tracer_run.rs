//! tracer as the lab runs it: events to /dev/null, its log read for the `attached` line and the
//! closing summary, optionally held on one CPU away from the workload.

use std::{
    io::{self, BufRead as _, BufReader},
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Condvar, Mutex},
    thread,
    time::{Duration, Instant},
};

use nix::{sys::signal::Signal, unistd::Pid};

use crate::{
    perf::calls::pin_to_cpu,
    tracer::{Summary, parse_attached, parse_summary},
};

const ATTACH_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    attached_at: Option<Instant>,
    closed: bool,
    /// When an event holding the watched text was printed.
    seen_at: Option<Instant>,
}

/// A running tracer. Dropping it kills the process.
pub struct RunningTracer {
    child: Child,
    log: Arc<(Mutex<Log>, Condvar)>,
    started: Instant,
}

/// How tracer ended.
pub struct Stopped {
    pub summary: Summary,
    pub log: String,
}

impl RunningTracer {
    /// Starts `tracer audit seccomp ARGS -o json` with its events going to /dev/null.
    pub fn start(bin: &Path, args: &[&str], cpu: Option<usize>) -> io::Result<Self> {
        Self::start_watching(bin, args, cpu, None)
    }

    /// Like [`RunningTracer::start`], but reads the events and notes when the first one that
    /// holds `watched` is printed.
    pub fn start_watching(
        bin: &Path,
        args: &[&str],
        cpu: Option<usize>,
        watched: Option<String>,
    ) -> io::Result<Self> {
        let mut all = vec!["audit", "seccomp", "-o", "json"];
        all.extend_from_slice(args);
        Self::spawn(bin, &all, cpu, watched)
    }

    /// Starts `tracer ARGS`, another subcommand than `audit seccomp`.
    pub fn start_subcommand(bin: &Path, args: &[&str], cpu: Option<usize>) -> io::Result<Self> {
        Self::spawn(bin, args, cpu, None)
    }

    fn spawn(
        bin: &Path,
        args: &[&str],
        cpu: Option<usize>,
        watched: Option<String>,
    ) -> io::Result<Self> {
        let mut command = Command::new(bin);
        command
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(if watched.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped());
        if let Some(cpu) = cpu {
            // SAFETY: sched_setaffinity is async-signal-safe and touches only the child.
            unsafe { command.pre_exec(move || pin_to_cpu(cpu)) };
        }
        let started = Instant::now();
        let mut child = command.spawn()?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new((Mutex::new(Log::default()), Condvar::new()));
        if let (Some(watched), Some(stdout)) = (watched, child.stdout.take()) {
            let events_log = Arc::clone(&log);
            thread::spawn(move || {
                let (lock, changed) = &*events_log;
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.contains(&watched) {
                        let mut log = lock.lock().unwrap_or_else(|e| e.into_inner());
                        log.seen_at.get_or_insert_with(Instant::now);
                        changed.notify_all();
                    }
                }
            });
        }
        let reader_log = Arc::clone(&log);
        thread::spawn(move || {
            let (lock, changed) = &*reader_log;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = lock.lock().unwrap_or_else(|e| e.into_inner());
                if log.attached_at.is_none() && parse_attached(&line).is_some() {
                    log.attached_at = Some(Instant::now());
                }
                log.lines.push(line);
                changed.notify_all();
            }
            lock.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
            changed.notify_all();
        });
        Ok(Self {
            child,
            log,
            started,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the `attached` line; returns the time from exec to it.
    pub fn wait_attached(&self) -> io::Result<Duration> {
        let at = self.wait_log(
            self.started + ATTACH_TIMEOUT,
            "tracer did not attach",
            |log| log.attached_at,
        )?;
        Ok(at - self.started)
    }

    /// Waits until `found` gives an instant from the log, or fails when tracer's log ends or
    /// the deadline passes.
    fn wait_log(
        &self,
        deadline: Instant,
        failure: &str,
        found: impl Fn(&Log) -> Option<Instant>,
    ) -> io::Result<Instant> {
        let (lock, changed) = &*self.log;
        let mut log = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(at) = found(&log) {
                return Ok(at);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if log.closed || left.is_zero() {
                return Err(io::Error::other(format!(
                    "{failure}; its log:\n{}",
                    log.lines.join("\n")
                )));
            }
            log = changed
                .wait_timeout(log, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until an event holding the watched text is printed; returns when it was.
    pub fn wait_seen(&self, timeout: Duration) -> io::Result<Instant> {
        self.wait_log(
            Instant::now() + timeout,
            "tracer printed no event with the watched text",
            |log| log.seen_at,
        )
    }

    /// Stops tracer with SIGINT and reads its summary.
    pub fn stop(self) -> io::Result<Stopped> {
        let (_, text, lines) = self.interrupt()?;
        let summary = lines
            .iter()
            .rev()
            .find_map(|line| parse_summary(line))
            .ok_or_else(|| io::Error::other(format!("tracer printed no summary:\n{text}")))?;
        Ok(Stopped { summary, log: text })
    }

    /// Stops tracer with SIGINT and returns how it ended and its log.
    pub fn stop_and_read_log(self) -> io::Result<(std::process::ExitStatus, String)> {
        let (status, text, _) = self.interrupt()?;
        Ok((status, text))
    }

    /// Sends SIGINT, waits for the exit, and returns how it ended and its log.
    fn interrupt(mut self) -> io::Result<(std::process::ExitStatus, String, Vec<String>)> {
        nix::sys::signal::kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT)
            .map_err(io::Error::from)?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err(io::Error::other(
                    "tracer did not stop within a minute of SIGINT",
                ));
            }
            thread::sleep(Duration::from_millis(20));
        };
        let (lock, changed) = &*self.log;
        let mut log = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !log.closed {
            log = changed
                .wait_timeout(log, Duration::from_secs(5))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let text = log.lines.join("\n");
        Ok((status, text, log.lines.clone()))
    }
}

impl Drop for RunningTracer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
