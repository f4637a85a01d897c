//! The webhook sink's memory at its worst in batch mode: the receiver is down and its buffer
//! (the default 10,000 events) is full, so tracer holds every event it can before counting the
//! rest as unwritten.

use std::{io, net::TcpListener, thread, time::Duration};

use crate::perf::{
    Measurement, Section, calls::CallPath, process, runs::Lab, tracer_run::RunningTracer,
};

/// Logged calls: twice the default buffer, so it fills.
const BURST: u32 = 20_000;

pub fn full_buffer_rss(lab: &Lab, probe: &str) -> io::Result<()> {
    // A port that refuses: bound, then released, so nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}/events");
    let mut args = lab.tracer_args(probe);
    // The lab's workload runs on the host: without --host its events never reach a sink.
    args.extend(["--host", "--webhook", &url]);
    let tracer = RunningTracer::start(&lab.tracer, &args, lab.consumer_cpu)?;
    tracer.wait_attached()?;
    let idle = process::memory(tracer.pid())?;
    let calls = lab.scale.of(BURST);
    lab.time(CallPath::Log, calls, 1)?;
    thread::sleep(Duration::from_millis(500));
    let full = process::memory(tracer.pid())?;
    let stopped = tracer.stop()?;
    lab.report(
        Measurement::new(
            Section::Memory,
            "RSS with the webhook's buffer full (receiver down)",
            probe,
            full.rss as f64 / (1024.0 * 1024.0),
            "MiB",
        )
        .with_note(format!(
            "{:.1} MiB before the burst; {calls} logged calls, {} events shown, {} unwritten",
            idle.rss as f64 / (1024.0 * 1024.0),
            stopped.summary.shown,
            stopped.summary.unwritten
        )),
    );
    Ok(())
}
