//! What `tracer profile record` costs: its kernel program's time per call, from the kernel's
//! statistics, and a recorded workload's call with the recorder ÷ without it, in the same run.
//! The workload calls from a mount namespace of its own, as a container does: the recorder
//! leaves the host's out at its first check.

use std::{fs, io};

use tracer_common::names;

use crate::perf::{
    Measurement, Section, bpf_stats, calls::CallPath, median, runs::Lab, tracer_run::RunningTracer,
};

/// Calls per round and rounds of the timed loop.
const CALLS: u32 = 20_000;
const ROUNDS: u32 = 7;
/// Calls counted while the statistics run, apart from the timed ones (counting slows them).
const STATS_CALLS: u32 = 20_000;
const STATS_ROUNDS: u32 = 3;

pub fn recorder_cost(lab: &Lab, label: &str) -> io::Result<()> {
    let dir = std::env::temp_dir().join(format!("tracer-perf-recorder-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let before = timed(lab)?;
    let output_dir = dir
        .to_str()
        .ok_or_else(|| io::Error::other("a UTF-8 temp dir"))?;
    let tracer = RunningTracer::start_subcommand(
        &lab.tracer,
        &["profile", "record", "--output-dir", output_dir],
        lab.consumer_cpu,
    )?;
    tracer.wait_attached()?;
    let with = timed(lab)?;
    let stats = bpf_stats::enable()?;
    let counted_before = bpf_stats::of(names::RECORDER_PROGRAM)?;
    lab.time_in_own_mount_namespace(CallPath::Allow, lab.scale.of(STATS_CALLS), STATS_ROUNDS)?;
    let counted_after = bpf_stats::of(names::RECORDER_PROGRAM)?;
    drop(stats);
    let (status, log) = tracer.stop_and_read_log()?;
    // No container ran here, so there is nothing to write, which the recorder says.
    if !status.success() && !log.contains("nothing to write") {
        return Err(io::Error::other(format!(
            "profile record ended with {status}:\n{log}"
        )));
    }
    let after = timed(lab)?;
    let _ = fs::remove_dir_all(&dir);
    let without = (before + after) / 2.0;
    lab.report(
        Measurement::new(
            Section::Kernel,
            "call of a recorded workload with profile record ÷ without tracer",
            label,
            with / without,
            "×",
        )
        .with_note(format!(
            "an ALLOW call of a filtered task in its own mount namespace: {:.2} µs with; \
             without: {:.2} µs before, {:.2} µs after",
            with / 1000.0,
            before / 1000.0,
            after / 1000.0
        )),
    );
    lab.report(
        Measurement::new(
            Section::Kernel,
            "profile record's program per call",
            label,
            counted_after.ns_per_run_since(counted_before) / 1000.0,
            "µs",
        )
        .with_note(format!(
            "bpf_stats over {} runs, every call of the machine included",
            counted_after.runs_since(counted_before)
        )),
    );
    Ok(())
}

fn timed(lab: &Lab) -> io::Result<f64> {
    let times = lab.time_in_own_mount_namespace(CallPath::Allow, lab.scale.of(CALLS), ROUNDS)?;
    Ok(median(&times.ns_per_call))
}
