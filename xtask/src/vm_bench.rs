//! The performance lab on stock kernels: boots each kernel line under qemu with two vCPUs, runs
//! `perf-lab vm` as its init, and collects the measurements the guest prints on the console.

use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};
use tracer_integration_tests::perf::{Measurement, vm::FAILED_PREFIX};

use crate::{
    cargo,
    initramfs::{self, BENCH_SMOKE_PARAMETER, BenchBinaries},
    kernels::{self, Apt, Kernel, KernelLine},
    qemu::{self, Boot, Cpus, End},
    scratch::ScratchDir,
    target::Arch,
};

/// Two vCPUs keep the consumer off the workload's CPU, so the ratio shows what tracer costs
/// the audited call, not what sharing one CPU with it costs.
const CPUS: Cpus = Cpus::TwoThreads;
/// Boots after the first that may end in the emulator's own failure while probes patch kernel
/// text (kernel-lab.md: an Oops in about one 6.12 boot of five with two vCPUs).
const RETRIES: u32 = 2;
const FULL_TIMEOUT: Duration = Duration::from_secs(1800);
const SMOKE_TIMEOUT: Duration = Duration::from_secs(600);

pub struct MachineRun {
    /// Says which machine and how it ran, e.g. "VM: Debian 6.12.57+deb13-cloud-amd64, qemu TCG, 2 vCPUs (thread=multi)".
    pub machine: String,
    pub measurements: Vec<Measurement>,
    /// Why this machine's run ended early, if it did (lab failure, a run that failed in the guest).
    pub failure: Option<String>,
}

/// Both kernel lines, fentry and kprobe and auditd on each; `smoke` boots only the 6.12 line at `Scale::Smoke`.
pub fn run(smoke: bool) -> Result<Vec<MachineRun>> {
    let lines: &[KernelLine] = if smoke {
        &[KernelLine::V6_12]
    } else {
        &KernelLine::ALL
    };
    let tracer = cargo::build_tracer(true)?;
    let perf_lab = cargo::build_perf_lab()?;
    let scratch = ScratchDir::new(&cargo::target_dir()?.join("xtask"), "vm-bench", false)?;
    let initrd = initramfs::build_bench(
        scratch.path(),
        &BenchBinaries {
            tracer: &tracer,
            perf_lab: &perf_lab,
        },
    )
    .context("cannot build the bench initramfs")?;
    let mut apt = Apt::default();
    let mut runs = Vec::new();
    for &line in lines {
        runs.push(match kernels::fetch(line, Arch::X86_64, &mut apt) {
            Ok(kernel) => machine_run(&kernel, &initrd, smoke),
            Err(error) => MachineRun {
                machine: format!("VM: Debian {} kernel", line.name()),
                measurements: Vec::new(),
                failure: Some(format!("no kernel: {error:#}")),
            },
        });
    }
    Ok(runs)
}

/// One kernel's boot, again where the emulator itself broke.
fn machine_run(kernel: &Kernel, initrd: &Path, smoke: bool) -> MachineRun {
    let machine = format!("VM: Debian {}, {}", release(kernel), CPUS.describe());
    let mut attempt = 0;
    loop {
        eprintln!("booting {} ({})", kernel.package, kernel.vmlinuz.display());
        let booted = qemu::boot(&Boot {
            label: kernel.line.name(),
            arch: kernel.arch,
            kernel: &kernel.vmlinuz,
            initrd,
            parameters: if smoke { BENCH_SMOKE_PARAMETER } else { "" },
            cpus: CPUS,
            timeout: if smoke { SMOKE_TIMEOUT } else { FULL_TIMEOUT },
        });
        let report = match booted {
            Ok(report) => report,
            Err(error) => {
                return MachineRun {
                    machine,
                    measurements: Vec::new(),
                    failure: Some(format!("{error:#}")),
                };
            }
        };
        let measurements: Vec<Measurement> = report
            .console
            .iter()
            .filter_map(|line| Measurement::parse_line(line))
            .collect();
        let failure = match &report.end {
            End::Success => None,
            End::Failure => Some(guest_failure(&report.console)),
            End::Lab(reason) => Some(format!("lab failure: {reason}")),
        };
        let retry = matches!(&report.end, End::Lab(reason) if emulator_race(reason));
        if retry && attempt < RETRIES {
            attempt += 1;
            eprintln!(
                "{}: {}; booting again ({attempt} of {RETRIES})",
                kernel.line.name(),
                failure.as_deref().unwrap_or_default()
            );
            continue;
        }
        let failure = failure.map(|failure| match attempt {
            0 => failure,
            n => format!("{failure} (after {n} earlier boots failed the same way)"),
        });
        return MachineRun {
            machine: match attempt {
                0 => machine,
                n => format!("{machine}, boot {} of {}", n + 1, RETRIES + 1),
            },
            measurements,
            failure,
        };
    }
}

/// The kernel release the vmlinuz is named after, e.g. "6.12.57+deb13-cloud-amd64".
fn release(kernel: &Kernel) -> String {
    kernel
        .vmlinuz
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix("vmlinuz-"))
        .map_or_else(|| kernel.package.clone(), str::to_owned)
}

/// The kernel failures two emulated vCPUs cause while probes patch kernel text.
fn emulator_race(reason: &str) -> bool {
    ["Oops", "soft lockup", "BUG:", "Kernel panic"]
        .iter()
        .any(|pattern| reason.contains(pattern))
}

/// What the guest said when its run failed.
fn guest_failure(console: &[String]) -> String {
    console
        .iter()
        .rev()
        .find_map(|line| line.split_once(FAILED_PREFIX).map(|(_, why)| why.trim()))
        .map_or_else(
            || "the guest's run failed without saying why".to_owned(),
            |why| format!("the guest's run failed: {why}"),
        )
}

/// Prints the runs for `cargo xtask vm-bench`, one measurement a line.
pub fn print(runs: &[MachineRun]) {
    for run in runs {
        println!("\n{}", run.machine);
        for m in &run.measurements {
            let note = m
                .note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default();
            println!(
                "  {:<8} {:<55} {:>10.3} {}{note}",
                m.source, m.metric, m.value, m.unit
            );
        }
        if let Some(failure) = &run.failure {
            println!("  FAILED: {failure}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_says_why_it_failed() {
        let console = [
            "[   3.1] perf: {}".to_owned(),
            format!("{FAILED_PREFIX}auditd: auditd did not enable auditing within 10 s"),
            "init: failure".to_owned(),
        ];
        assert_eq!(
            guest_failure(&console),
            "the guest's run failed: auditd: auditd did not enable auditing within 10 s"
        );
        assert_eq!(
            guest_failure(&[]),
            "the guest's run failed without saying why"
        );
    }

    #[test]
    fn only_kernel_failures_are_booted_again() {
        assert!(emulator_race(
            "\"Oops\" on the console: Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"
        ));
        assert!(!emulator_race("no result, and nothing printed for 600 s"));
    }
}
