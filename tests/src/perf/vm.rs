//! The runs a VM adds to the host's: tracer's kernel programs on fentry and kprobe, timed by the
//! kernel's BPF statistics, beside the audited call with and without them, and auditd on the
//! same kernel. The VM's init runs this once per boot; the host reads the console.

use std::{
    io, thread,
    time::{Duration, Instant},
};

use nix::{
    sys::wait::waitpid,
    unistd::{ForkResult, fork},
};
use tracer_common::names;

use crate::perf::{
    Measurement, Section, bpf_stats,
    calls::{CallPath, online_cpus},
    details, recorder,
    runs::{self, Lab},
    stacks,
    tracer_run::RunningTracer,
};

/// The line a failed run ends with on the console; the host reports the rest of it.
pub const FAILED_PREFIX: &str = "perf-lab: failed: ";

/// The workload runs in the VM's only mount namespace, the host's: without `--host` the hooks
/// would drop every event before the ring buffer, and time only that.
pub const TRACER_ARGS: [&str; 1] = ["--host"];

const PROBES: [&str; 2] = ["fentry", "kprobe"];
const BURSTS: [u32; 2] = [20_000, 100_000];
/// Calls timed while the BPF statistics count, and their rounds.
const STATS_CALLS: u32 = 20_000;
const STATS_ROUNDS: u32 = 3;
/// Children forked and reaped while the exit tracepoint is timed.
const EXITS: u32 = 3_000;

/// Runs everything a VM measures, in an order that keeps each consumer alone on the kernel.
pub fn run(lab: &Lab) -> io::Result<()> {
    eprintln!(
        "perf-lab: vm, {} CPUs, workload on {:?}, consumer on {:?}",
        online_cpus(),
        lab.workload_cpu,
        lab.consumer_cpu
    );
    let baseline = runs::baseline(lab)?;
    for probe in PROBES {
        runs::tracer_costs(lab, probe, &mut |_| hook_cost(lab, probe, baseline))
            .map_err(|error| context(error, &format!("tracer on {probe}")))?;
    }
    for probe in PROBES {
        details::hook_cost_by_details(lab, probe)
            .map_err(|error| context(error, &format!("details on {probe}")))?;
    }
    details::all_denials_cost(lab, "fentry").map_err(|error| context(error, "--all-denials"))?;
    stacks::stack_cost(lab, "fentry").map_err(|error| context(error, "--stack"))?;
    recorder::recorder_cost(lab, "sys_enter").map_err(|error| context(error, "profile record"))?;
    exit_cost(lab).map_err(|error| context(error, "the exit tracepoint"))?;
    runs::auditd_costs(lab).map_err(|error| context(error, "auditd"))?;
    for calls in BURSTS {
        let calls = lab.scale.of(calls);
        for probe in PROBES {
            runs::tracer_burst(lab, probe, calls)
                .map_err(|error| context(error, &format!("a burst on {probe}")))?;
        }
        runs::auditd_burst(lab, calls).map_err(|error| context(error, "a burst with auditd"))?;
    }
    Ok(())
}

fn context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

/// The seccomp hook's own time per event, from the kernel's statistics over calls timed for
/// it alone, after the ratio was taken with the statistics off.
fn hook_cost(lab: &Lab, probe: &str, baseline_ns: f64) -> io::Result<()> {
    let program = match probe {
        "fentry" => names::FENTRY_PROGRAM,
        _ => names::KPROBE_PROGRAM,
    };
    let stats = bpf_stats::enable()?;
    let before = bpf_stats::of(program)?;
    let calls = lab.time(CallPath::Log, lab.scale.of(STATS_CALLS), STATS_ROUNDS)?;
    let after = bpf_stats::of(program)?;
    drop(stats);
    let ns = after.ns_per_run_since(before);
    let expected = u64::from(lab.scale.of(STATS_CALLS) * STATS_ROUNDS);
    let note = format!(
        "bpf_stats over {} runs for {expected} calls",
        after.runs_since(before)
    );
    lab.report(
        Measurement::new(
            Section::Kernel,
            "seccomp hook program per event",
            probe,
            ns / 1000.0,
            "µs",
        )
        .with_note(note),
    );
    lab.report(
        Measurement::new(
            Section::Kernel,
            "seccomp hook program ÷ LOG call without consumer",
            probe,
            ns / baseline_ns * 100.0,
            "%",
        )
        .with_note(format!(
            "LOG call {:.2} µs while counting",
            crate::perf::median(&calls.ns_per_call) / 1000.0
        )),
    );
    Ok(())
}

/// The exit tracepoint's time per process exit. tracer attaches it only for its audit source
/// (whose records may arrive after their process is gone), so it runs on that source here.
fn exit_cost(lab: &Lab) -> io::Result<()> {
    let tracer = RunningTracer::start(&lab.tracer, &lab.tracer_args("audit"), lab.consumer_cpu)?;
    tracer.wait_attached()?;
    let exits = lab.scale.of(EXITS);
    let stats = bpf_stats::enable()?;
    let before = exit_program_loaded()?;
    let started = Instant::now();
    for _ in 0..exits {
        fork_and_reap()?;
    }
    let elapsed = started.elapsed();
    let after = bpf_stats::of(names::EXIT_PROGRAM)?;
    drop(stats);
    tracer.stop()?;
    lab.report(
        Measurement::new(
            Section::Kernel,
            "exit tracepoint program per process exit",
            "audit",
            after.ns_per_run_since(before) / 1000.0,
            "µs",
        )
        .with_note(format!(
            "bpf_stats over {} runs for {exits} fork+exit+wait of {:.0} µs each",
            after.runs_since(before),
            elapsed.as_secs_f64() * 1e6 / f64::from(exits)
        )),
    );
    Ok(())
}

/// tracer attaches the exit tracepoint just after it reports the source attached.
fn exit_program_loaded() -> io::Result<bpf_stats::Counts> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match bpf_stats::of(names::EXIT_PROGRAM) {
            Ok(counts) => return Ok(counts),
            Err(error) if Instant::now() > deadline => return Err(error),
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn fork_and_reap() -> io::Result<()> {
    // SAFETY: the child only calls _exit, which is async-signal-safe.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Child => unsafe { libc::_exit(0) },
        ForkResult::Parent { child } => {
            waitpid(child, None).map_err(io::Error::from)?;
            Ok(())
        }
    }
}
