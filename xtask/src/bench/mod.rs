//! `bench`: the performance lab. Measures tracer on this host (the audit source against auditd,
//! a container's start to its first named event, the criterion benches) and on stock kernels
//! under qemu (both hooks against auditd), and writes the figures and the goals they meet to
//! docs/performance.md.

mod criterion;
mod goals;
mod table;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Stdio,
};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use tracer_integration_tests::perf::Measurement;

use crate::{cargo, process, vm_bench};

const TABLE: &str = "docs/performance.md";
const SMOKE_TABLE: &str = "performance-smoke.md";

#[derive(Args)]
pub struct Options {
    /// Only check that every part runs and writes its table: small bursts, short benches, one
    /// VM kernel. The table goes to target/xtask/performance-smoke.md.
    #[arg(long)]
    pub smoke: bool,
    /// Where to write the table instead.
    #[arg(long)]
    output: Option<PathBuf>,
}

impl Options {
    pub fn smoke() -> Self {
        Self {
            smoke: true,
            output: None,
        }
    }
}

/// The figures of one machine.
pub struct Machine {
    /// Which machine and how it ran; the part before the first comma heads its column.
    pub name: String,
    pub vm: bool,
    pub measurements: Vec<Measurement>,
    /// Why its run ended early, if it did.
    pub failure: Option<String>,
}

/// One bench run: what docs/performance.md shows.
pub struct Run {
    pub date: String,
    pub commit: String,
    pub host: String,
    pub smoke: bool,
    pub machines: Vec<Machine>,
}

/// Runs every part, writes the table, and fails when a part did not finish.
pub fn run(options: &Options) -> Result<PathBuf> {
    let tracer = cargo::build_tracer(true)?;
    let perf_lab = cargo::build_perf_lab()?;
    let scratch = cargo::target_dir()?.join("xtask").join("bench");
    fs::create_dir_all(&scratch)?;

    let mut host = host_machine(&perf_lab, &tracer, &scratch, options.smoke);
    match criterion::run(options.smoke) {
        Ok(measurements) => host.measurements.extend(measurements),
        Err(err) => append_failure(&mut host, &format!("criterion benches: {err:#}")),
    }
    let mut machines = vec![host];
    match vm_bench::run(options.smoke) {
        Ok(runs) => machines.extend(runs.into_iter().map(|run| Machine {
            name: run.machine,
            vm: true,
            measurements: run.measurements,
            failure: run.failure,
        })),
        Err(err) => machines.push(Machine {
            name: "VM lab".into(),
            vm: true,
            measurements: Vec::new(),
            failure: Some(format!("{err:#}")),
        }),
    }

    let run = Run {
        date: process::stdout(
            std::process::Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]),
        )?
        .trim()
        .to_owned(),
        commit: commit()?,
        host: host_description(),
        smoke: options.smoke,
        machines,
    };
    let output = match (&options.output, options.smoke) {
        (Some(path), _) => path.clone(),
        (None, true) => scratch.join(SMOKE_TABLE),
        (None, false) => cargo::workspace_root().join(TABLE),
    };
    fs::write(&output, table::render(&run))
        .with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!("bench: wrote {}", output.display());
    let unfinished: Vec<String> = run
        .machines
        .iter()
        .filter_map(|m| m.failure.as_ref().map(|f| format!("{}: {f}", m.name)))
        .chain(
            run.machines
                .iter()
                .filter(|m| m.measurements.is_empty())
                .map(|m| format!("{}: no figures", m.name)),
        )
        .collect();
    if !unfinished.is_empty() {
        bail!(
            "parts of the bench did not finish: {}",
            unfinished.join("; ")
        );
    }
    Ok(output)
}

fn host_machine(perf_lab: &Path, tracer: &Path, scratch: &Path, smoke: bool) -> Machine {
    let mut machine = Machine {
        name: format!("host {}, audit source", kernel_release()),
        vm: false,
        measurements: Vec::new(),
        failure: None,
    };
    let mut command = process::as_root(&perf_lab.to_string_lossy());
    command
        .arg("host")
        .arg("--tracer")
        .arg(tracer)
        .arg("--scratch")
        .arg(scratch.join("host"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if smoke {
        command.arg("--smoke");
    }
    eprintln!("$ {}", process::display(&command));
    match command.output() {
        Ok(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            machine.measurements = stdout.lines().filter_map(Measurement::parse_line).collect();
            if !output.status.success() {
                machine.failure = Some(format!("perf-lab host failed: {}", output.status));
            }
        }
        Err(err) => machine.failure = Some(format!("cannot start perf-lab: {err}")),
    }
    machine
}

fn append_failure(machine: &mut Machine, failure: &str) {
    machine.failure = Some(match machine.failure.take() {
        Some(before) => format!("{before}; {failure}"),
        None => failure.to_owned(),
    });
}

fn commit() -> Result<String> {
    let mut rev = std::process::Command::new("git");
    rev.current_dir(cargo::workspace_root())
        .args(["rev-parse", "--short=12", "HEAD"]);
    let hash = process::stdout(&mut rev)?.trim().to_owned();
    let mut status = std::process::Command::new("git");
    status.current_dir(cargo::workspace_root()).args([
        "status",
        "--porcelain",
        "--untracked-files=no",
    ]);
    let dirty = !process::stdout(&mut status)?.trim().is_empty();
    Ok(if dirty {
        format!("{hash} + local changes")
    } else {
        hash
    })
}

fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_else(|_| "unknown kernel".into())
}

/// CPU model, CPUs, memory and kernel of this machine.
fn host_description() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0.0, |kib| kib as f64 / (1024.0 * 1024.0));
    format!(
        "{model}, {cpus} CPUs, {memory_gib:.0} GiB, Linux {}",
        kernel_release()
    )
}
