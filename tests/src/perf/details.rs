//! What an event's details cost the kernel program, and what `--all-denials` costs every call of
//! a filtered task: each figure against a baseline taken in the same boot.

use std::io;

use tracer_common::names;

use crate::perf::{
    Measurement, Section, bpf_stats, calls::CallPath, median, runs::Lab, tracer_run::RunningTracer,
};

/// Calls timed while the BPF statistics count, and their rounds.
const STATS_CALLS: u32 = 20_000;
const STATS_ROUNDS: u32 = 3;
/// Calls per round and rounds for the `--all-denials` ratio.
const CALLS: u32 = 20_000;
const ROUNDS: u32 = 7;

/// The seccomp hook's time per event with the base fields only, and with every detail, in the
/// same boot: the details may cost at most as much again as the base fields.
pub fn hook_cost_by_details(lab: &Lab, probe: &str) -> io::Result<()> {
    let mut per_level = Vec::new();
    for level in ["none", "all"] {
        let (ns, runs) = hook_ns_per_event(lab, probe, &["--kernel-details", level])?;
        lab.report(
            Measurement::new(
                Section::Kernel,
                &format!("hook program per event with details: {level}"),
                probe,
                ns / 1000.0,
                "µs",
            )
            .with_note(format!(
                "bpf_stats over {} runs; the timed call (getppid) takes no path, so 'all' \
                 reads registers, ids, exe and argv",
                runs
            )),
        );
        per_level.push(ns);
    }
    lab.report(Measurement::new(
        Section::Kernel,
        "seccomp hook program with details ÷ without",
        probe,
        per_level[1] / per_level[0],
        "×",
    ));
    Ok(())
}

/// The seccomp hook program's time per event, from the kernel's statistics, while tracer runs
/// on `probe` with `extra` arguments over a loop of logged calls; and how many runs it counted.
pub fn hook_ns_per_event(lab: &Lab, probe: &str, extra: &[&str]) -> io::Result<(f64, u64)> {
    let program = match probe {
        "fentry" => names::FENTRY_PROGRAM,
        _ => names::KPROBE_PROGRAM,
    };
    let mut args = lab.tracer_args(probe);
    args.extend(extra);
    let tracer = RunningTracer::start(&lab.tracer, &args, lab.consumer_cpu)?;
    tracer.wait_attached()?;
    let stats = bpf_stats::enable()?;
    let before = bpf_stats::of(program)?;
    lab.time(CallPath::Log, lab.scale.of(STATS_CALLS), STATS_ROUNDS)?;
    let after = bpf_stats::of(program)?;
    drop(stats);
    tracer.stop()?;
    Ok((after.ns_per_run_since(before), after.runs_since(before)))
}

/// A call the filter allows, made in a loop by a filtered task, without tracer and with
/// tracer `--all-denials` on `probe`: what every call of a container pays for it.
pub fn all_denials_cost(lab: &Lab, probe: &str) -> io::Result<()> {
    let before = timed(lab)?;
    let mut args = lab.tracer_args(probe);
    args.push("--all-denials");
    let tracer = RunningTracer::start(&lab.tracer, &args, lab.consumer_cpu)?;
    tracer.wait_attached()?;
    let with = timed(lab)?;
    let stopped = tracer.stop()?;
    let after = timed(lab)?;
    let without = (before + after) / 2.0;
    lab.report(
        Measurement::new(
            Section::Kernel,
            "ALLOW call of a filtered task with --all-denials ÷ without tracer",
            probe,
            with / without,
            "×",
        )
        .with_note(format!(
            "{:.2} µs with; without: {:.2} µs before, {:.2} µs after; {} events",
            with / 1000.0,
            before / 1000.0,
            after / 1000.0,
            stopped.summary.delivered
        )),
    );
    Ok(())
}

fn timed(lab: &Lab) -> io::Result<f64> {
    let times = lab.time(CallPath::Allow, lab.scale.of(CALLS), ROUNDS)?;
    Ok(median(&times.ns_per_call))
}
