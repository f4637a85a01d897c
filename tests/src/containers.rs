//! Container scenarios against a real dockerd, shared by the test binaries that run them with
//! each event source: the audit fallback on this machine, fentry and kprobe in the VM lab.

use std::{path::Path, time::Duration};

use crate::{
    docker::{Dockerd, IMAGE},
    kmsg::{AuditLog, UnlimitedPrintk},
    tracer::{Finished, Tracer, TracerEvent},
    workload::Workload,
};

/// Events reach tracer within milliseconds; docker runs take seconds in an emulated VM.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs scenarios with one tracer binary, hook and workload.
pub struct Scenarios<'a> {
    pub tracer: &'a Path,
    pub probe: &'a str,
    pub workload: &'a Workload,
}

impl Scenarios<'_> {
    fn start(&self, args: &[&str]) -> Tracer {
        Tracer::start_attached(self.tracer, self.probe, args)
    }

    /// The seed scenario, a container killed at once, two of the same image, a rename, pod labels
    /// and `-c`, each checked against the kernel's own records.
    pub fn names_containers_from_a_real_dockerd(&self) {
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let seccomp = format!("seccomp={}", profile.display());
        let socket = dockerd.socket();
        let socket = socket.to_str().expect("UTF-8 path");
        let run_args = |name: &str| -> Vec<String> {
            [
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "none",
                "--security-opt",
                &seccomp,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        };
        let mut eager = run_args("eager_mclean");
        eager.extend(
            [
                "--label",
                "io.kubernetes.pod.namespace=default",
                "--label",
                "io.kubernetes.pod.name=mypod",
                "--label",
                "io.kubernetes.container.name=container1",
                IMAGE,
                "sleep",
                "1000",
            ]
            .map(String::from),
        );
        let eager: Vec<&str> = eager.iter().map(String::as_str).collect();
        let eager_id = dockerd.docker_ok(&eager);
        let mut twin = run_args("twin");
        twin.extend([IMAGE, "sleep", "1000"].map(String::from));
        let twin: Vec<&str> = twin.iter().map(String::as_str).collect();
        dockerd.docker_ok(&twin);

        let json = self.start(&["-o", "json", "--docker-socket", socket]);
        let columns = self.start(&["--docker-socket", socket]);
        let pods = self.start(&[
            "-o",
            "columns=k8s.namespace,k8s.pod,syscall,code",
            "--docker-socket",
            socket,
        ]);
        let only_twin = self.start(&["-o", "json", "-c", "twin", "--docker-socket", socket]);
        let mut audit = AuditLog::from_now();

        // The seed scenario, in both containers of the same image.
        for name in ["eager_mclean", "twin"] {
            let exec = dockerd.docker(&["exec", name, "sh", "-c", "mkdir /tmp/dir42; unshare -i"]);
            assert!(!exec.status.success(), "unshare was not killed in {name}");
        }
        // Containers seccomp kills at once: their only process dies before anyone can ask about
        // it, and the second may get the namespace number the first one freed.
        for name in ["killed_at_once", "killed_again"] {
            let killed = dockerd.docker(&[
                "run",
                "--name",
                name,
                "--network",
                "none",
                "--security-opt",
                &seccomp,
                IMAGE,
                "unshare",
                "-i",
            ]);
            assert!(!killed.status.success(), "unshare was not killed in {name}");
        }
        // A rename while tracer runs: later events carry the new name.
        dockerd.docker_ok(&["rename", "twin", "twin_renamed"]);
        let exec = dockerd.docker(&["exec", "twin_renamed", "mkdir", "/tmp/after-rename"]);
        assert!(exec.status.success(), "mkdir is only logged");

        json.wait_for_events(EVENT_TIMEOUT, |events| events.len() >= 7);
        audit.wait_for(EVENT_TIMEOUT, |records| records.len() >= 7);
        let json = json.stop();
        let columns = columns.stop();
        let pods = pods.stop();
        let only_twin = only_twin.stop();
        for finished in [&json, &columns, &pods, &only_twin] {
            finished.assert_stopped_cleanly();
        }
        let context = format!(
            "events: {:#?}\nstderr:\n{}",
            json.events,
            json.stderr_text()
        );

        // Exactly the kernel's records: seven calls, in four containers.
        let mut kernel: Vec<_> = audit.records.iter().map(|r| (r.pid, r.syscall)).collect();
        let mut seen: Vec<_> = json.events.iter().map(|e| (e.pid, e.syscall_nr)).collect();
        kernel.sort_unstable();
        seen.sort_unstable();
        assert_eq!(
            seen, kernel,
            "tracer's events differ from the kernel's records\n{context}"
        );

        let pair = |s: &str, c: &str| (s.to_string(), c.to_string());
        let eager_events = container_events(&json.events, "eager_mclean");
        assert_eq!(
            calls(&eager_events),
            [pair("mkdir", "log"), pair("unshare", "kill_thread")],
            "{context}"
        );
        let container = eager_events[0].container.as_ref().expect("a container");
        assert_eq!(container["id"], eager_id.as_str());
        assert_eq!(container["image"], IMAGE);
        assert_eq!(container["runtime"], "docker");
        assert_eq!(container["labels"]["io.kubernetes.pod.name"], "mypod");
        for name in ["killed_at_once", "killed_again"] {
            let killed_events = container_events(&json.events, name);
            assert_eq!(
                calls(&killed_events),
                [pair("unshare", "kill_thread")],
                "{name}: {context}"
            );
        }
        let twin_events = container_events(&json.events, "twin");
        assert_eq!(
            calls(&twin_events),
            [pair("mkdir", "log"), pair("unshare", "kill_thread")],
            "{context}"
        );
        let renamed = container_events(&json.events, "twin_renamed");
        assert_eq!(calls(&renamed), [pair("mkdir", "log")], "{context}");

        // What a person sees: the header, then the container's name on each of its lines.
        let rows: Vec<Vec<&str>> = columns_rows(&columns);
        assert_eq!(
            rows[0],
            [
                "RUNTIME.CONTAINERNAME",
                "PID",
                "TID",
                "COMM",
                "SYSCALL",
                "CODE"
            ]
        );
        for (name, call, code) in [
            ("eager_mclean", "mkdir", "log"),
            ("eager_mclean", "unshare", "kill_thread"),
            ("killed_at_once", "unshare", "kill_thread"),
        ] {
            assert!(
                rows.iter().any(|r| r.first() == Some(&name)
                    && r.get(r.len() - 2) == Some(&call)
                    && r.last() == Some(&code)),
                "no row {name} .. {call} {code} in:\n{rows:?}"
            );
        }
        let pod_rows = columns_rows(&pods);
        assert_eq!(pod_rows[0], ["K8S.NAMESPACE", "K8S.POD", "SYSCALL", "CODE"]);
        assert!(
            pod_rows.contains(&vec!["default", "mypod", "mkdir", "log"]),
            "{pod_rows:?}"
        );
        assert!(
            pod_rows.contains(&vec!["default", "mypod", "unshare", "kill_thread"]),
            "{pod_rows:?}"
        );

        // -c twin: only twin's events, though the kernel audited the others too.
        let names: Vec<_> = only_twin
            .events
            .iter()
            .map(|e| {
                e.container
                    .as_ref()
                    .and_then(|c| c["name"].as_str())
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert!(!names.is_empty(), "-c twin showed nothing");
        assert!(
            names.iter().all(|n| n == "twin" || n == "twin_renamed"),
            "-c twin showed {names:?}"
        );
    }

    pub fn keeps_going_while_dockerd_is_down_and_names_again_when_it_is_back(&self) {
        let mut dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let seccomp = format!("seccomp={}", profile.display());
        let socket = dockerd.socket();
        let tracer = self.start(&[
            "-o",
            "json",
            "--host",
            "--docker-socket",
            socket.to_str().unwrap(),
        ]);

        dockerd.stop();
        let run = self.workload.run(&["log"]);
        run.assert_ended_as_planned();
        let host_pid = run.plan.pid;
        assert!(
            tracer.wait_for_events(EVENT_TIMEOUT, |events| events
                .iter()
                .any(|e| e.pid == host_pid)),
            "no event while dockerd was down; stderr:\n{}",
            tracer.stderr_text()
        );

        dockerd.restart();
        let exec = dockerd.docker(&[
            "run",
            "--name",
            "after_restart",
            "--network",
            "none",
            "--security-opt",
            &seccomp,
            IMAGE,
            "mkdir",
            "/tmp/x",
        ]);
        assert!(exec.status.success(), "mkdir is only logged");
        tracer.wait_for_events(EVENT_TIMEOUT, |events| {
            !container_events(events, "after_restart").is_empty()
        });
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let host = finished
            .events
            .iter()
            .find(|e| e.pid == host_pid)
            .expect("host event");
        assert!(host.container.is_none(), "{host:?}");
        assert_eq!(
            calls(&container_events(&finished.events, "after_restart")),
            [("mkdir".to_string(), "log".to_string())],
            "events: {:#?}\nstderr:\n{}",
            finished.events,
            finished.stderr_text()
        );
        let warnings = finished
            .stderr
            .iter()
            .filter(|l| l.contains("WARN") && l.contains("dockerd"))
            .count();
        assert_eq!(
            warnings,
            1,
            "one warning per outage; stderr:\n{}",
            finished.stderr_text()
        );
    }

    pub fn names_containers_once_dockerd_starts_after_tracer(&self) {
        let mut dockerd = Dockerd::not_started();
        let socket = dockerd.socket();
        let tracer = self.start(&["-o", "json", "--docker-socket", socket.to_str().unwrap()]);
        dockerd.restart();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let seccomp = format!("seccomp={}", profile.display());
        let run = dockerd.docker(&[
            "run",
            "--name",
            "late_daemon",
            "--network",
            "none",
            "--security-opt",
            &seccomp,
            IMAGE,
            "mkdir",
            "/tmp/x",
        ]);
        assert!(run.status.success(), "mkdir is only logged");
        tracer.wait_for_events(EVENT_TIMEOUT, |events| {
            !container_events(events, "late_daemon").is_empty()
        });
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        assert_eq!(
            calls(&container_events(&finished.events, "late_daemon")),
            [("mkdir".to_string(), "log".to_string())],
            "events: {:#?}\nstderr:\n{}",
            finished.events,
            finished.stderr_text()
        );
        let warnings = finished
            .stderr
            .iter()
            .filter(|l| l.contains("WARN") && l.contains("dockerd"))
            .count();
        assert_eq!(
            warnings,
            1,
            "one warning for the outage; stderr:\n{}",
            finished.stderr_text()
        );
    }
}

fn container_events<'a>(events: &'a [TracerEvent], name: &str) -> Vec<&'a TracerEvent> {
    events
        .iter()
        .filter(|e| {
            e.container
                .as_ref()
                .and_then(|c| c.get("name"))
                .and_then(|n| n.as_str())
                == Some(name)
        })
        .collect()
}

fn calls(events: &[&TracerEvent]) -> Vec<(String, String)> {
    let mut calls: Vec<_> = events
        .iter()
        .map(|e| (e.syscall.clone(), e.code.clone()))
        .collect();
    calls.sort();
    calls
}

/// The rows of a columns output, split on blanks (the tests' names have none).
fn columns_rows(finished: &Finished) -> Vec<Vec<&str>> {
    finished
        .stdout_lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect()
}
