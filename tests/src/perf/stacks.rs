//! What `--stack` costs: the kernel program's time per event with every event's stack read,
//! against without, in the same boot; and tracer's memory and CPU while it symbolizes every
//! event of a burst (the files are read once, then answers come from its caches).

use std::{io, thread};

use crate::perf::{
    Measurement, Section, calls::CallPath, details, process, runs::Lab, tracer_run::RunningTracer,
};

/// Logged calls in the symbolized burst.
const BURST: u32 = 20_000;

pub fn stack_cost(lab: &Lab, probe: &str) -> io::Result<()> {
    let (without, _) = details::hook_ns_per_event(lab, probe, &[])?;
    let (with, _) = details::hook_ns_per_event(lab, probe, &["--stack=all"])?;
    let per_event = [without, with];
    lab.report(
        Measurement::new(
            Section::Kernel,
            "seccomp hook program with every event's stack ÷ without",
            probe,
            per_event[1] / per_event[0],
            "×",
        )
        .with_note(format!(
            "{:.2} µs per event with, {:.2} µs without (bpf_stats); two frame-pointer walks, \
             one reading build ids, and the stack top",
            per_event[1] / 1000.0,
            per_event[0] / 1000.0
        )),
    );
    symbolized_burst(lab, probe)
}

/// A burst of logged calls with `--stack=all`: each event's stack is symbolized before it is
/// written.
fn symbolized_burst(lab: &Lab, probe: &str) -> io::Result<()> {
    let mut args = lab.tracer_args(probe);
    args.push("--stack=all");
    let tracer = RunningTracer::start(&lab.tracer, &args, lab.consumer_cpu)?;
    tracer.wait_attached()?;
    let cpu_before = process::cpu_time(tracer.pid())?;
    let calls = lab.scale.of(BURST);
    lab.time(CallPath::Log, calls, 1)?;
    // Measured once tracer is idle: under emulation the burst's last stacks may still be
    // symbolized long after the calls, and memory is given back only once they are.
    let cpu_after = settled_cpu_time(tracer.pid())?;
    let memory = process::memory(tracer.pid())?;
    let stopped = tracer.stop()?;
    let delivered = stopped.summary.delivered.max(1);
    lab.report(Measurement::new(
        Section::Userspace,
        "tracer CPU per event with --stack=all",
        probe,
        (cpu_after - cpu_before).as_secs_f64() * 1e6 / delivered as f64,
        "µs",
    ));
    lab.report(
        Measurement::new(
            Section::Memory,
            "RSS after symbolizing a burst's stacks",
            probe,
            memory.rss as f64 / (1024.0 * 1024.0),
            "MiB",
        )
        .with_note(format!(
            "{calls} logged calls, {} events, {} lost",
            stopped.summary.delivered, stopped.summary.lost
        )),
    );
    Ok(())
}

/// The process's CPU time once it stops growing: not one clock tick (10 ms) in the last 200 ms,
/// or 20 s went by.
fn settled_cpu_time(pid: u32) -> io::Result<std::time::Duration> {
    let step = std::time::Duration::from_millis(200);
    let mut last = process::cpu_time(pid)?;
    for _ in 0..100 {
        thread::sleep(step);
        let now = process::cpu_time(pid)?;
        if now.saturating_sub(last) < std::time::Duration::from_millis(1) {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}
