//! The host's runs: tracer's audit source against auditd on this kernel, and a container's
//! start to its first named event through a real dockerd.

use std::{
    io,
    time::{Duration, Instant},
};

use crate::{
    docker::{Dockerd, IMAGE},
    perf::{
        Measurement, Section,
        calls::online_cpus,
        details, recorder,
        runs::{self, Lab},
        tracer_run::RunningTracer,
        webhook,
    },
};

/// The source tracer uses on a kernel without kprobes or fentry.
const SOURCE: &str = "audit";
const BURSTS: [u32; 2] = [20_000, 100_000];
const CONTAINER_STARTS: u32 = 3;

/// Runs everything the host can run.
pub fn run(lab: &Lab, with_docker: bool) -> io::Result<()> {
    eprintln!(
        "perf-lab: host, {} CPUs, workload on {:?}, tracer on {:?}",
        online_cpus(),
        lab.workload_cpu,
        lab.consumer_cpu
    );
    runs::baseline(lab)?;
    runs::tracer_costs(lab, SOURCE, &mut |_| Ok(()))?;
    runs::auditd_costs(lab)?;
    details::all_denials_cost(lab, SOURCE)?;
    recorder::recorder_cost(lab, "sys_enter")?;
    for calls in BURSTS {
        let calls = lab.scale.of(calls);
        runs::tracer_burst(lab, SOURCE, calls)?;
        runs::auditd_burst(lab, calls)?;
    }
    webhook::full_buffer_rss(lab, SOURCE)?;
    if with_docker {
        container_to_named_event(lab)?;
    }
    Ok(())
}

/// From `docker run` to tracer's first event that carries the container's name.
fn container_to_named_event(lab: &Lab) -> io::Result<()> {
    let dockerd = Dockerd::start();
    dockerd.import_busybox();
    let profile = dockerd.seed_profile();
    let socket = dockerd.socket();
    let socket = socket.to_string_lossy();
    let mut named = Vec::new();
    let mut docker_run = Vec::new();
    for round in 0..CONTAINER_STARTS {
        let name = format!("perf-lab-first-{}-{round}", std::process::id());
        let tracer = RunningTracer::start_watching(
            &lab.tracer,
            &[
                "--probe",
                SOURCE,
                "-r",
                "docker",
                "--docker-socket",
                &socket,
            ],
            lab.consumer_cpu,
            Some(format!("\"{name}\"")),
        )?;
        tracer.wait_attached()?;
        let started = Instant::now();
        let output = dockerd
            .docker_command(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                "--security-opt",
                &format!("seccomp={}", profile.display()),
                IMAGE,
                "mkdir",
                "/tmp/perf-lab",
            ])
            .output()?;
        let returned = started.elapsed();
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "docker run failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let seen = tracer.wait_seen(Duration::from_secs(30))?;
        named.push((seen - started).as_secs_f64() * 1000.0);
        docker_run.push(returned.as_secs_f64() * 1000.0);
        tracer.stop()?;
        dockerd.docker(&["rm", "-f", &name]);
    }
    lab.report(
        Measurement::new(
            Section::Memory,
            "docker run → first event with the container's name",
            SOURCE,
            super::median(&named),
            "ms",
        )
        .with_note(format!(
            "`docker run -d` itself returned after {:.0} ms",
            super::median(&docker_run)
        )),
    );
    Ok(())
}
