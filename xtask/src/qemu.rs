//! Boots a kernel with an initramfs under qemu, streams its console, and watches it for the
//! init's results and for signs that the VM itself broke.

use std::{
    io::{BufRead as _, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{
    libtest::{Counts, Tally},
    process,
    target::Arch,
};

/// Console text that means the kernel, not the code under test, failed. Software emulation is
/// racy while probes patch kernel text, so these happen now and then without any bug of ours.
const LAB_FAILURES: &[&str] = &["Oops", "Kernel panic", "soft lockup", "BUG:"];
/// How long to keep reading after a kernel failure, so the log shows its trace.
const TRACE_GRACE: Duration = Duration::from_secs(5);
/// How long `poweroff -f` may take once init has reported.
const POWEROFF_GRACE: Duration = Duration::from_secs(30);

pub struct Boot<'a> {
    /// Prefixes each console line, to tell VMs apart in the log.
    pub label: &'a str,
    /// The guest's architecture: which emulator, machine and console.
    pub arch: Arch,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// Kernel parameters beyond the lab's own.
    pub parameters: &'a str,
    pub cpus: Cpus,
    pub timeout: Duration,
}

/// How the guest's CPUs are emulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpus {
    /// One vCPU: with two, emulated kernel text patching races (Oops or soft lockups), so the
    /// tests, which attach probes again and again, run on one.
    One,
    /// Two vCPUs, each on a host thread of its own (`-accel tcg,thread=multi`): a consumer and
    /// the workload it watches then really run at the same time. Prone to the race above.
    TwoThreads,
}

impl Cpus {
    fn args(self) -> &'static [&'static str] {
        match self {
            Self::One => &["-smp", "1"],
            Self::TwoThreads => &["-smp", "2", "-accel", "tcg,thread=multi"],
        }
    }

    /// How the VM ran, as a reader of its results needs to know it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::One => "qemu TCG, 1 vCPU",
            Self::TwoThreads => "qemu TCG, 2 vCPUs (thread=multi)",
        }
    }
}

/// What init reported for one probe, and the tests the guest ran for it.
#[derive(Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub probe: String,
    pub passed: bool,
    pub tests: Counts,
}

/// What init reported, and how the VM ended.
pub struct Report {
    /// One for each `init: result` line, in order.
    pub results: Vec<ProbeResult>,
    /// The probe whose tests were running when the VM ended without its result, and the tests
    /// that had reported by then (an executable cut short counts as one failure).
    pub interrupted: Option<ProbeResult>,
    pub end: End,
    /// From starting qemu to the final `init:` line, or to the failure.
    pub elapsed: Duration,
    /// Every console line, for results init prints in forms of their own.
    pub console: Vec<String>,
}

pub enum End {
    Success,
    Failure,
    /// The VM broke or hung: a problem of the lab, not a test result.
    Lab(String),
}

/// Kills and reaps qemu however we leave, so no VM outlives us.
struct Vm(Child);

impl Drop for Vm {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// The emulator, its machine arguments, and the kernel's console for `arch`.
fn machine(arch: Arch) -> (&'static str, &'static [&'static str], &'static str) {
    match arch {
        Arch::X86_64 => ("qemu-system-x86_64", &[], "ttyS0"),
        // The generic virtual board, with every CPU feature TCG emulates (the kernel's
        // compat mode needs AArch32 at EL0, which `max` has).
        Arch::Aarch64 => (
            "qemu-system-aarch64",
            &["-M", "virt", "-cpu", "max"],
            "ttyAMA0",
        ),
    }
}

pub fn boot(boot: &Boot) -> Result<Report> {
    let (emulator, machine, console) = machine(boot.arch);
    let mut cmd = Command::new(emulator);
    // dockerd, containerd and their images live in RAM beside the unpacked initramfs.
    cmd.args(machine)
        .args(["-m", "2048"])
        .args(boot.cpus.args())
        .args(["-nographic", "-no-reboot", "-nic", "none"])
        .arg("-kernel")
        .arg(boot.kernel)
        .arg("-initrd")
        .arg(boot.initrd)
        .arg("-append")
        .arg(
            format!(
                "console={console} quiet panic=-1 apparmor=0 {}",
                boot.parameters
            )
            .trim_end(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let line = process::display(&cmd);
    eprintln!("$ {line}");
    let started = Instant::now();
    let mut vm = Vm(cmd
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?);

    let console = console_lines(&mut vm.0);
    let mut watch = Watch::default();
    let mut deadline = started + boot.timeout;
    let mut lines = Vec::new();
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match console.recv_timeout(wait) {
            Ok(text) => {
                println!("[{}] {text}", boot.label);
                let ended = watch.end.is_none() && watch.line(&text);
                lines.push(text);
                if watch.end.is_none() {
                    // A guest that prints is not hung, however slow the emulation: the
                    // timeout counts the silence since its last line.
                    deadline = Instant::now() + boot.timeout;
                }
                if ended {
                    watch.elapsed = started.elapsed();
                    let grace = match watch.end {
                        Some(End::Lab(_)) => TRACE_GRACE,
                        _ => POWEROFF_GRACE,
                    };
                    deadline = deadline.min(Instant::now() + grace);
                }
            }
            // Both pipes closed: qemu has exited.
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                if watch.end.is_none() {
                    watch.elapsed = started.elapsed();
                    watch.end = Some(End::Lab(format!(
                        "no result, and nothing printed for {} s{}",
                        boot.timeout.as_secs(),
                        watch.running_probe()
                    )));
                } else if !matches!(watch.end, Some(End::Lab(_))) {
                    eprintln!(
                        "warning: {}: qemu did not power off; killing it",
                        boot.label
                    );
                }
                break;
            }
        }
    }
    drop(vm);

    let end = match watch.end.take() {
        Some(end) => end,
        None => {
            watch.elapsed = started.elapsed();
            End::Lab(format!(
                "qemu exited before init reported{}",
                watch.running_probe()
            ))
        }
    };
    let interrupted = watch.interrupted();
    Ok(Report {
        results: watch.results,
        interrupted,
        end,
        elapsed: watch.elapsed,
        console: lines,
    })
}

/// qemu's output (the guest's serial console, and qemu's own errors) as sanitized lines. The
/// channel disconnects once qemu has exited and closed both pipes.
fn console_lines(qemu: &mut Child) -> Receiver<String> {
    let (lines, console) = mpsc::channel();
    let stdout = qemu
        .stdout
        .take()
        .map(|out| Box::new(out) as Box<dyn Read + Send>);
    let stderr = qemu
        .stderr
        .take()
        .map(|err| Box::new(err) as Box<dyn Read + Send>);
    for pipe in [stdout, stderr].into_iter().flatten() {
        let lines = lines.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            while reader
                .read_until(b'\n', &mut buf)
                .is_ok_and(|read| read > 0)
            {
                if lines.send(sanitize(&buf)).is_err() {
                    break;
                }
                buf.clear();
            }
        });
    }
    console
}

#[derive(Default)]
struct Watch {
    results: Vec<ProbeResult>,
    current: Option<String>,
    /// The libtest output of the probe under test.
    tally: Tally,
    end: Option<End>,
    elapsed: Duration,
}

impl Watch {
    /// Takes in one console line; true when it ended the run.
    fn line(&mut self, text: &str) -> bool {
        if let Some(pattern) = LAB_FAILURES.iter().find(|pattern| text.contains(*pattern)) {
            self.end = Some(End::Lab(format!(
                "{pattern:?} on the console{}: {}",
                self.running_probe(),
                text.trim()
            )));
            return true;
        }
        // The firmware leaves its last line unterminated, so init's first line can follow it.
        let Some((_, init)) = text.split_once("init: ") else {
            self.tally.line(text);
            return false;
        };
        let words: Vec<&str> = init.split_whitespace().collect();
        match words.as_slice() {
            ["probe", probe] => {
                self.current = Some((*probe).to_owned());
                self.tally = Tally::default();
            }
            ["result", probe, outcome @ ("passed" | "failed")] => {
                let mut tally = std::mem::take(&mut self.tally);
                tally.end();
                self.results.push(ProbeResult {
                    probe: (*probe).to_owned(),
                    passed: *outcome == "passed",
                    tests: tally.total(),
                });
                self.current = None;
            }
            ["success"] => self.end = Some(End::Success),
            ["failure"] => self.end = Some(End::Failure),
            _ => {}
        }
        self.end.is_some()
    }

    fn interrupted(&mut self) -> Option<ProbeResult> {
        let probe = self.current.take()?;
        let mut tally = std::mem::take(&mut self.tally);
        tally.end();
        Some(ProbeResult {
            probe,
            passed: false,
            tests: tally.total(),
        })
    }

    fn running_probe(&self) -> String {
        self.current
            .as_ref()
            .map(|probe| format!(" while testing probe {probe}"))
            .unwrap_or_default()
    }
}

/// Console bytes as one printable line: without the line ending, and without the terminal
/// control sequences the firmware sends, which would otherwise clear or garble a terminal.
fn sanitize(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI sequences run to a final byte in '@'..='~'; others are one character.
                if chars.next_if_eq(&'[').is_some() {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\t' => clean.push(c),
            c if c.is_control() => {}
            c => clean.push(c),
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_line_ending_and_escape_sequences() {
        assert_eq!(sanitize(b"init: success\r\n"), "init: success");
        assert_eq!(
            sanitize(b"\x1bc\x1b[?7l\x1b[2JSeaBIOS (version 1.16)\r\n"),
            "SeaBIOS (version 1.16)"
        );
    }

    #[test]
    fn watch_collects_results_and_the_final_line() {
        let mut watch = Watch::default();
        for line in [
            "init: probe fentry",
            "running 2 tests",
            "test every_action_matches ... ok",
            "test tiny_ring_buffer ... ok",
            "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
            "running 1 test",
            "test names_containers ... ok",
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
            "init: result fentry passed",
        ] {
            assert!(!watch.line(line));
        }
        assert!(!watch.line("init: probe kprobe"));
        assert!(!watch.line("running 2 tests"));
        assert!(!watch.line(
            "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out"
        ));
        // The second executable dies without a result line.
        assert!(!watch.line("running 1 test"));
        assert!(!watch.line("init: result kprobe failed"));
        assert!(watch.line("init: failure"));
        let counts = |passed, failed| Counts {
            passed,
            failed,
            skipped: 0,
        };
        assert_eq!(
            watch.results,
            [
                ProbeResult {
                    probe: "fentry".into(),
                    passed: true,
                    tests: counts(3, 0)
                },
                ProbeResult {
                    probe: "kprobe".into(),
                    passed: false,
                    tests: counts(1, 2)
                }
            ]
        );
        assert!(matches!(watch.end, Some(End::Failure)));
        assert_eq!(watch.interrupted(), None);
    }

    #[test]
    fn watch_names_the_probe_a_kernel_failure_interrupted() {
        let mut watch = Watch::default();
        watch.line("Booting from ROM...init: probe kprobe");
        watch.line("running 2 tests");
        assert!(watch.line("[   12.5] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"));
        let Some(End::Lab(reason)) = &watch.end else {
            panic!("a kernel Oops must end the run as a lab failure");
        };
        assert!(reason.contains("while testing probe kprobe"), "{reason}");
        let interrupted = watch.interrupted().expect("kprobe was interrupted");
        assert_eq!(interrupted.probe, "kprobe");
        assert!(!interrupted.passed);
        assert_eq!(
            interrupted.tests,
            Counts {
                passed: 0,
                failed: 1,
                skipped: 0
            }
        );
    }
}
