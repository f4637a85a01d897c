//! `vm-test`: runs the kernel-hook tests on stock kernels under qemu, each requested probe on
//! each requested kernel, and sums up the results.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};

use crate::{
    arm64_guest, cargo,
    initramfs::{self, Binaries},
    kernels::{self, Apt, Kernel, KernelLine},
    libtest::Counts,
    qemu::{self, Boot, Cpus, End},
    scratch::ScratchDir,
    target::Arch,
};

const TEST_TARGET: &str = "kernel_hooks";
/// The container tests, run after the kernel-hook tests with each probe against a real dockerd.
const DOCKER_TEST_TARGET: &str = "docker_containers";
/// The runtime tests, of which the standalone containerd's scenario runs with one probe per
/// kernel (`initramfs::GUEST_RUNTIME_TESTS`).
const RUNTIMES_TEST_TARGET: &str = "container_runtimes";
/// The audit source's test, run in a boot of its own with auditing on from boot.
const AUDIT_TEST_TARGET: &str = "audit_boot";
/// A kernel booted with audit=1 and no audit daemon counts records it delivered as lost; the
/// audit run needs that state, which the eBPF runs must not have (every seccomp record would
/// bring syscall records with it).
const AUDIT_BOOT_PARAMETERS: &str = "audit=1 tracer.suite=audit";
const DEFAULT_TIMEOUT_SECS: u64 = 900;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Probe {
    Fentry,
    Kprobe,
    /// The kernel's own audit records, on a kernel booted with audit=1.
    Audit,
}

impl Probe {
    pub const ALL: [Self; 3] = [Self::Fentry, Self::Kprobe, Self::Audit];

    pub fn name(self) -> &'static str {
        match self {
            Self::Fentry => "fentry",
            Self::Kprobe => "kprobe",
            Self::Audit => "audit",
        }
    }
}

#[derive(Args)]
pub struct Options {
    /// Kernel line to boot; repeat for several. Default: all.
    #[arg(long = "kernel", value_enum)]
    kernels: Vec<KernelLine>,
    /// Probe to test; repeat for several. Default: all (arm64's 6.1 has no BPF trampolines:
    /// there fentry's result is whether tracer explains the refusal and falls back).
    #[arg(long = "probe", value_enum)]
    probes: Vec<Probe>,
    /// The guests' architecture: aarch64 cross-builds tracer and the kernel-hook tests and
    /// boots Debian's arm64 kernels under qemu-system-aarch64. Default: this machine's.
    #[arg(long, value_enum)]
    arch: Option<Arch>,
    /// Keep the initramfs and its tree under target/xtask.
    #[arg(long)]
    pub keep: bool,
    /// Seconds a VM may go without printing before it counts as hung (its tests print as
    /// they end, however slow the emulation).
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS)]
    timeout: u64,
    /// Each eBPF hook on one kernel only: fentry on the kernels that allow it, kprobe on the
    /// others (arm64's 6.1, where fentry's result is whether its refusal is explained). CI's
    /// arm64 subset.
    #[arg(long)]
    hooks_once: bool,
    /// Run this test executable in the VM instead of the one built from the
    /// kernel_hooks target.
    #[arg(long, hide = true)]
    test_binary: Option<PathBuf>,
}

impl Options {
    pub fn all(keep: bool) -> Self {
        Self {
            kernels: Vec::new(),
            probes: Vec::new(),
            arch: None,
            keep,
            timeout: DEFAULT_TIMEOUT_SECS,
            hooks_once: false,
            test_binary: None,
        }
    }

    /// What CI runs of the arm64 lab, to keep the whole run within its time: both kernels, each
    /// hook on one of them (`hooks_once`): 6.12 with fentry, 6.1 with kprobe and fentry's
    /// refusal explained; the kernel-hook tests against the kernel's records, arm32 calls and
    /// the detail tests included. Left to `cargo xtask vm-test --arch aarch64`: 6.12's kprobe
    /// boot (its arm64 register reads are 6.1's) and the audit source's boots (its record parser
    /// is the same on every architecture, and its arm mapping unit-tested).
    pub fn arm64_ci(keep: bool) -> Self {
        Self {
            kernels: KernelLine::ALL.to_vec(),
            probes: vec![Probe::Fentry, Probe::Kprobe],
            arch: Some(Arch::Aarch64),
            keep,
            timeout: DEFAULT_TIMEOUT_SECS,
            hooks_once: true,
            test_binary: None,
        }
    }
}

enum Outcome {
    Passed,
    Failed,
    /// The VM broke or hung, or no kernel could be had: no test result.
    Lab(String),
    /// The binaries or the initramfs could not be built.
    NotRun(String),
}

struct Run {
    kernel: KernelLine,
    probe: Probe,
    outcome: Outcome,
    /// What the guest's test executables reported for this run.
    tests: Counts,
}

/// Every kernel × probe run.
pub struct Summary {
    runs: Vec<Run>,
}

impl Summary {
    pub fn all_passed(&self) -> bool {
        self.runs
            .iter()
            .all(|run| matches!(run.outcome, Outcome::Passed))
    }

    /// The guests' tests, plus one failure for each run that failed without a failing test to
    /// show for it (a VM that broke or hung, a test executable that crashed), and one for
    /// nothing to boot at all.
    pub fn tests(&self) -> Counts {
        let mut total = Counts::default();
        let mut not_run = false;
        for run in &self.runs {
            let mut tests = run.tests;
            match run.outcome {
                Outcome::Passed => {}
                Outcome::Failed | Outcome::Lab(_) => tests.failed = tests.failed.max(1),
                Outcome::NotRun(_) => not_run = true,
            }
            total += tests;
        }
        if not_run {
            total.failed += 1;
        }
        total
    }
}

/// Runs the requested VMs one after another and prints a summary.
pub fn run(options: &Options) -> Result<Summary> {
    let arch = options.arch.unwrap_or_else(Arch::host);
    let lines = or_all(&options.kernels, &KernelLine::ALL);
    let probes = or_all(&options.probes, &Probe::ALL);
    let mut runs = Vec::new();
    eprintln!("vm-test: {} guests", arch.name());

    let mut apt = Apt::default();
    let kernels: Vec<(KernelLine, Result<Kernel>)> = lines
        .iter()
        .map(|&line| (line, kernels::fetch(line, arch, &mut apt)))
        .collect();

    let prepared = if arch == Arch::Aarch64 {
        prepare_arm64(options)
    } else {
        prepare(options, &probes)
    };
    match prepared {
        Ok((_scratch, initrd)) => {
            for (line, kernel) in kernels {
                match kernel {
                    Ok(kernel) => {
                        let (audit, ebpf): (Vec<Probe>, Vec<Probe>) =
                            probes.iter().partition(|&&probe| probe == Probe::Audit);
                        if arch == Arch::Aarch64 {
                            runs.extend(boot_arm64_ebpf(&kernel, &initrd, &ebpf, options));
                        } else if !ebpf.is_empty() {
                            runs.extend(boot(&kernel, &initrd, &ebpf, "", options.timeout));
                        }
                        if !audit.is_empty() {
                            runs.extend(boot(
                                &kernel,
                                &initrd,
                                &audit,
                                AUDIT_BOOT_PARAMETERS,
                                options.timeout,
                            ));
                        }
                    }
                    Err(err) => {
                        let reason = format!("no kernel: {err:#}");
                        eprintln!("LAB FAILURE: {}: {reason}", line.name());
                        runs.extend(every_probe(line, &probes, &reason));
                    }
                }
            }
        }
        Err(err) => {
            let reason = format!("{err:#}");
            eprintln!("vm-test: nothing to boot: {reason}");
            for &line in &lines {
                runs.extend(probes.iter().map(|&probe| Run {
                    kernel: line,
                    probe,
                    outcome: Outcome::NotRun(reason.clone()),
                    tests: Counts::default(),
                }));
            }
        }
    }

    let summary = Summary { runs };
    summarize(&lines, &probes, &summary);
    Ok(summary)
}

fn or_all<T: Copy + PartialEq>(chosen: &[T], all: &[T]) -> Vec<T> {
    if chosen.is_empty() {
        return all.to_vec();
    }
    let mut unique = Vec::new();
    for &item in chosen {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    unique
}

/// Whether `kernel` can attach fentry programs: Debian's arm64 6.1 has no BPF trampolines
/// (arm64 gained them in 6.4) and refuses them with ENOTSUPP.
fn allows_fentry(kernel: &Kernel) -> bool {
    !(kernel.arch == Arch::Aarch64 && kernel.line == KernelLine::V6_1)
}

/// The arm64 eBPF boot: the probes the kernel allows, named on its command line. On a kernel
/// that refuses fentry, fentry's result is whether tracer explains the refusal and `auto`
/// falls back to kprobe.
fn boot_arm64_ebpf(
    kernel: &Kernel,
    initrd: &Path,
    probes: &[Probe],
    options: &Options,
) -> Vec<Run> {
    let probes: &[Probe] =
        if options.hooks_once && allows_fentry(kernel) && probes.contains(&Probe::Fentry) {
            &[Probe::Fentry]
        } else {
            probes
        };
    if probes.is_empty() {
        return Vec::new();
    }
    let refuses_fentry = !allows_fentry(kernel) && probes.contains(&Probe::Fentry);
    let attached: Vec<&str> = probes
        .iter()
        .filter(|&&probe| !(refuses_fentry && probe == Probe::Fentry))
        .map(|probe| probe.name())
        .collect();
    let mut parameters = format!("{}={}", arm64_guest::PROBES_PARAMETER, attached.join(","));
    if refuses_fentry {
        eprintln!(
            "{} arm64: no BPF trampolines; fentry's result is whether its refusal is explained",
            kernel.line.name()
        );
        parameters.push(' ');
        parameters.push_str(arm64_guest::FENTRY_REFUSED_PARAMETER);
    }
    boot(kernel, initrd, probes, &parameters, options.timeout)
}

/// The cross-built binaries and the arm64 initramfs every arm64 kernel boots.
fn prepare_arm64(options: &Options) -> Result<(ScratchDir, PathBuf)> {
    let arch = Arch::Aarch64;
    let started = Instant::now();
    let tracer = cargo::build_tracer_for(false, arch)?;
    let workload = cargo::build_workload_for(arch)?;
    let test = match &options.test_binary {
        Some(path) => path.clone(),
        None => cargo::build_test_for(TEST_TARGET, arch)?,
    };
    let audit_test = cargo::build_test_for(AUDIT_TEST_TARGET, arch)?;
    eprintln!(
        "arm64 cross build: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let target = cargo::target_dir()?;
    let scratch = ScratchDir::new(&target.join("xtask"), "vm-test-arm64", options.keep)?;
    let binaries = arm64_guest::Binaries {
        tracer: &tracer,
        workload: &workload,
        test: &test,
        audit_test: &audit_test,
    };
    let initrd = arm64_guest::build(scratch.path(), &binaries)
        .context("cannot build the arm64 initramfs")?;
    Ok((scratch, initrd))
}

/// Builds the binaries and the initramfs every kernel boots.
fn prepare(options: &Options, probes: &[Probe]) -> Result<(ScratchDir, PathBuf)> {
    let tracer = cargo::build_tracer(false)?;
    let workload = cargo::build_workload()?;
    let test = match &options.test_binary {
        Some(path) => path.clone(),
        None => cargo::build_test(TEST_TARGET)?,
    };
    let docker_test = cargo::build_test(DOCKER_TEST_TARGET)?;
    let runtimes_test = cargo::build_test(RUNTIMES_TEST_TARGET)?;
    let audit_test = cargo::build_test(AUDIT_TEST_TARGET)?;
    let target = cargo::target_dir()?;
    let scratch = ScratchDir::new(&target.join("xtask"), "vm-test", options.keep)?;
    let started = Instant::now();
    let binaries = Binaries {
        tracer: &tracer,
        workload: &workload,
        test: &test,
        docker_test: &docker_test,
        runtimes_test: &runtimes_test,
        audit_test: &audit_test,
    };
    let initrd = initramfs::build(scratch.path(), &binaries, probes)
        .context("cannot build the initramfs")?;
    let size = initrd.metadata().map(|meta| meta.len()).unwrap_or(0);
    eprintln!(
        "initramfs: {} ({} MiB) in {:.1} s",
        initrd.display(),
        size >> 20,
        started.elapsed().as_secs_f64()
    );
    Ok((scratch, initrd))
}

fn boot(
    kernel: &Kernel,
    initrd: &Path,
    probes: &[Probe],
    parameters: &str,
    timeout: u64,
) -> Vec<Run> {
    let label = kernel.line.name();
    eprintln!("booting {} ({})", kernel.package, kernel.vmlinuz.display());
    let booted = qemu::boot(&Boot {
        label,
        arch: kernel.arch,
        kernel: &kernel.vmlinuz,
        initrd,
        parameters,
        cpus: Cpus::One,
        timeout: Duration::from_secs(timeout),
    });
    let report = match booted {
        Ok(report) => report,
        Err(err) => {
            let reason = format!("{err:#}");
            eprintln!("LAB FAILURE: {label}: {reason}");
            return every_probe(kernel.line, probes, &reason);
        }
    };
    let seconds = report.elapsed.as_secs_f64();
    let lab = match &report.end {
        End::Lab(reason) => {
            eprintln!("LAB FAILURE: {label}: {reason} (after {seconds:.1} s)");
            Some(reason.clone())
        }
        End::Success | End::Failure => {
            eprintln!("{label}: boot to result in {seconds:.1} s");
            None
        }
    };
    probes
        .iter()
        .map(|&probe| {
            let reported = report
                .results
                .iter()
                .find(|result| result.probe == probe.name());
            // The tests that reported before the VM broke still count.
            let interrupted = report
                .interrupted
                .as_ref()
                .filter(|result| result.probe == probe.name());
            let tests = reported
                .or(interrupted)
                .map_or_else(Counts::default, |result| result.tests);
            let outcome = match (reported.map(|result| result.passed), &lab) {
                (Some(true), _) => Outcome::Passed,
                (Some(false), _) => Outcome::Failed,
                (None, Some(reason)) => Outcome::Lab(reason.clone()),
                (None, None) => Outcome::Lab("init reported no result for this probe".into()),
            };
            Run {
                kernel: kernel.line,
                probe,
                outcome,
                tests,
            }
        })
        .collect()
}

fn every_probe(line: KernelLine, probes: &[Probe], reason: &str) -> Vec<Run> {
    probes
        .iter()
        .map(|&probe| Run {
            kernel: line,
            probe,
            outcome: Outcome::Lab(reason.to_owned()),
            tests: Counts::default(),
        })
        .collect()
}

/// Prints a kernel × probe table, the lab failures' reasons, the tests of each run, and the
/// final count.
fn summarize(lines: &[KernelLine], probes: &[Probe], summary: &Summary) {
    let runs = &summary.runs;
    let cell = |line: KernelLine, probe: Probe| {
        runs.iter()
            .find(|run| run.kernel == line && run.probe == probe)
            .map_or("-", |run| match run.outcome {
                Outcome::Passed => "passed",
                Outcome::Failed => "FAILED",
                Outcome::Lab(_) => "LAB FAILURE",
                Outcome::NotRun(_) => "NOT RUN",
            })
    };
    let width = probes
        .iter()
        .map(|probe| probe.name().len())
        .chain(["LAB FAILURE".len()])
        .max()
        .unwrap_or(0)
        + 2;
    let mut table = format!("\n{:<8}", "kernel");
    for probe in probes {
        table.push_str(&format!("{:<width$}", probe.name()));
    }
    for &line in lines {
        table.push_str(&format!("\n{:<8}", line.name()));
        for &probe in probes {
            table.push_str(&format!("{:<width$}", cell(line, probe)));
        }
    }
    for row in table.lines() {
        println!("{}", row.trim_end());
    }
    // One VM failure ends every probe that VM had left: name it once per kernel.
    let mut reasons: Vec<(&str, KernelLine, &str)> = Vec::new();
    for run in runs {
        let reason = match &run.outcome {
            Outcome::Lab(reason) => ("lab failure", run.kernel, reason.as_str()),
            Outcome::NotRun(reason) => ("not run", run.kernel, reason.as_str()),
            Outcome::Passed | Outcome::Failed => continue,
        };
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    }
    for (what, line, reason) in reasons {
        println!("{what} on {}: {reason}", line.name());
    }
    for run in runs {
        if !matches!(run.outcome, Outcome::NotRun(_)) {
            println!(
                "{} {}: tests {}",
                run.kernel.name(),
                run.probe.name(),
                run.tests
            );
        }
    }
    let passed = runs
        .iter()
        .filter(|run| matches!(run.outcome, Outcome::Passed))
        .count();
    println!(
        "vm-test: {passed} of {} kernel × probe runs passed; tests: {}",
        runs.len(),
        summary.tests()
    );
}
