//! Container scenarios against runtimes other than Docker alone, with real daemons: a
//! standalone containerd driven with `ctr` (as kubelet's containers are, CRI labels and all),
//! podman through its Docker-compatible API, Docker and its own containerd asked together, and
//! `-r auto`. Each names containers and compares tracer's events with the kernel's own records.

use std::{path::Path, time::Duration};

use nix::{sys::signal, unistd::Pid};

use crate::{
    ctr::{Containerd, KUBELET_NAMESPACE},
    docker::{Dockerd, IMAGE},
    faults::random_container_id,
    kmsg::{AuditLog, UnlimitedPrintk},
    podman::{self, Podman},
    tracer::{Finished, RunningCount, Tracer, TracerEvent},
    workload::Workload,
};

/// Events reach tracer within milliseconds; containers start within seconds.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// What each scenario's containers run: a logged `mkdir`, then an `unshare` seccomp kills.
const MKDIR_THEN_UNSHARE: &str = "mkdir /tmp/dir42; unshare -i";

/// Runs scenarios with one tracer binary, hook and workload.
pub struct RuntimeScenarios<'a> {
    pub tracer: &'a Path,
    pub probe: &'a str,
    pub workload: &'a Workload,
}

impl RuntimeScenarios<'_> {
    fn start(&self, args: &[&str]) -> Tracer {
        Tracer::start_attached(self.tracer, self.probe, args)
    }

    /// A container in kubelet's namespace with the CRI labels, and one killed at once in
    /// another namespace: both named from containerd, the first with its pod.
    pub fn names_containerd_containers_in_every_namespace_with_their_pods(&self) {
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let containerd = Containerd::start();
        let image = containerd.import_into(KUBELET_NAMESPACE, &dockerd, IMAGE);
        containerd.import_from(&dockerd, IMAGE);
        let socket = containerd.socket();
        let tracer = self.start(&[
            "-o",
            "json",
            "-r",
            "containerd",
            "--containerd-socket",
            socket.to_str().expect("UTF-8 path"),
        ]);
        let mut audit = AuditLog::from_now();

        let pod_uid = "1f7c2d3e-5a6b-4c8d-9e0f-a1b2c3d4e5f6";
        let in_pod = random_container_id();
        let labels = [
            "io.kubernetes.pod.namespace=shop".to_string(),
            "io.kubernetes.pod.name=web-0".to_string(),
            "io.kubernetes.container.name=api".to_string(),
            format!("io.kubernetes.pod.uid={pod_uid}"),
            "team=payments".to_string(),
        ];
        let mut run = vec!["run", "--rm", "--seccomp", "--seccomp-profile"];
        run.push(profile.to_str().expect("UTF-8 path"));
        for label in &labels {
            run.extend(["--label", label]);
        }
        run.extend([&image, &in_pod, "/bin/sh", "-c", MKDIR_THEN_UNSHARE]);
        // The shell ends as its killed child did: the status says nothing here.
        let _ = containerd.ctr_in(KUBELET_NAMESPACE, &run);

        let killed = random_container_id();
        let _ = containerd.ctr(&[
            "run",
            "--rm",
            "--seccomp",
            "--seccomp-profile",
            profile.to_str().expect("UTF-8 path"),
            &image,
            &killed,
            "/bin/unshare",
            "-i",
        ]);

        tracer.wait_for_events(EVENT_TIMEOUT, |events| events.len() >= 3);
        audit.wait_for(EVENT_TIMEOUT, |records| records.len() >= 3);
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let context = context(&finished, &containerd.log());
        assert_like_the_kernel(&finished, &audit, &context);

        let pod_events = events_of(&finished.events, &in_pod);
        assert_eq!(
            calls(&pod_events),
            [pair("mkdir", "log"), pair("unshare", "kill_thread")],
            "{context}"
        );
        for event in &pod_events {
            let container = event.container.as_ref().expect("named");
            assert_eq!(container["runtime"], "containerd", "{context}");
            assert_eq!(container["name"], "api", "the CRI name: {context}");
            assert_eq!(container["image"], image.as_str(), "{context}");
            assert_eq!(container["labels"]["team"], "payments", "{context}");
            assert_eq!(
                event.k8s,
                Some(serde_json::json!({
                    "namespace": "shop",
                    "pod": "web-0",
                    "container": "api",
                    "pod_uid": pod_uid
                })),
                "{context}"
            );
        }
        let killed_events = events_of(&finished.events, &killed);
        assert_eq!(
            calls(&killed_events),
            [pair("unshare", "kill_thread")],
            "the container killed at once: {context}"
        );
        let container = killed_events[0].container.as_ref().expect("named");
        assert_eq!(
            container["name"],
            killed.as_str(),
            "no name label: the id: {context}"
        );
        assert_eq!(killed_events[0].k8s, None, "no CRI labels: {context}");
    }

    /// containerd frozen, then stopped: events keep flowing (a container known before the
    /// freeze named all along) with one warning, and a container started once it is back is
    /// named.
    pub fn survives_containerd_frozen_stopped_and_restarted_with_one_warning(&self) {
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let mut containerd = Containerd::start();
        let image = containerd.import_from(&dockerd, IMAGE);
        let socket = containerd.socket();
        let tracer = self.start(&[
            "-o",
            "json",
            "--host",
            "-r",
            "containerd",
            "--containerd-socket",
            socket.to_str().expect("UTF-8 path"),
        ]);
        let host_event = |tracer: &Tracer, what: &str| {
            let run = self.workload.run(&["log"]);
            run.assert_ended_as_planned();
            let pid = run.plan.pid;
            assert!(
                tracer.wait_for_events(EVENT_TIMEOUT, |events| events.iter().any(|e| e.pid == pid)),
                "no event while containerd was {what}; stderr:\n{}",
                tracer.stderr_text()
            );
        };

        // A container known before containerd freezes stays named while it is frozen: its
        // `mkdir` comes two seconds after its start, by when containerd answers nothing.
        let known = random_container_id();
        let started = containerd.ctr(&[
            "run",
            "-d",
            "--seccomp",
            "--seccomp-profile",
            profile.to_str().expect("UTF-8 path"),
            &image,
            &known,
            "/bin/sh",
            "-c",
            "sleep 2; mkdir /tmp/while-frozen; sleep 60",
        ]);
        assert!(
            started.status.success(),
            "ctr run -d failed: {}",
            String::from_utf8_lossy(&started.stderr)
        );
        let pid = Pid::from_raw(containerd.pid().expect("running") as i32);
        signal::kill(pid, signal::Signal::SIGSTOP).expect("freezing containerd");
        host_event(&tracer, "frozen");
        let named_while_frozen = tracer.wait_for_events(EVENT_TIMEOUT, |events| {
            !events_of(events, &known).is_empty()
        });
        signal::kill(pid, signal::Signal::SIGCONT).expect("thawing containerd");
        assert!(
            named_while_frozen,
            "no named event of container {known} while containerd was frozen; stderr:\n{}",
            tracer.stderr_text()
        );

        containerd.stop();
        host_event(&tracer, "stopped");
        containerd.restart();
        let after = random_container_id();
        let _ = containerd.ctr(&[
            "run",
            "--rm",
            "--seccomp",
            "--seccomp-profile",
            profile.to_str().expect("UTF-8 path"),
            &image,
            &after,
            "/bin/mkdir",
            "/tmp/x",
        ]);
        tracer.wait_for_events(EVENT_TIMEOUT, |events| {
            !events_of(events, &after).is_empty()
        });
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let context = context(&finished, &containerd.log());
        assert_eq!(
            calls(&events_of(&finished.events, &after)),
            [pair("mkdir", "log")],
            "a container after the restart: {context}"
        );
        let warnings = finished
            .stderr
            .iter()
            .filter(|l| l.contains("WARN") && l.contains("containerd"))
            .count();
        assert_eq!(warnings, 1, "one warning for the outage: {context}");
    }

    /// A container making 1,000 logged calls costs a bounded number of containerd API
    /// requests, counted against a run with no container.
    pub fn asks_containerd_about_a_container_a_bounded_number_of_times(&self) {
        const CALLS: usize = 1000;
        /// Its creation's questions (the container, and its task, not started yet); one more
        /// should a lookup for its first call come before the event stream, and look in another
        /// namespace first.
        const ALLOWED: u64 = 3;
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let containerd = Containerd::start();
        let image = containerd.import_from(&dockerd, IMAGE);
        let socket = containerd.socket();
        let args = [
            "-o",
            "json",
            "-r",
            "containerd",
            "--containerd-socket",
            socket.to_str().expect("UTF-8 path"),
        ];
        let containerd_calls = |finished: &Finished| {
            finished
                .expect_summary()
                .containerd_api_calls
                .unwrap_or_else(|| {
                    panic!(
                        "the summary does not count containerd API calls; stderr:\n{}",
                        finished.stderr_text()
                    )
                })
        };

        let idle = self.start(&args);
        std::thread::sleep(Duration::from_secs(2));
        let idle = idle.stop();
        idle.assert_stopped_cleanly();
        let idle_calls = containerd_calls(&idle);

        // Why a call went unnamed, in the failure's message.
        let tracer = Tracer::start_attached_logging(
            self.tracer,
            self.probe,
            &args,
            "info,tracer::enrich=debug",
        );
        let id = random_container_id();
        containerd.run_logged_mkdirs(&image, &id, CALLS);
        let mut named = RunningCount::new(|e: &TracerEvent| is_mkdir(e) && is_in(e, &id));
        tracer.wait_for_events(EVENT_TIMEOUT, |events| named.update(events) >= CALLS);
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let shown = events_of(&finished.events, &id)
            .into_iter()
            .filter(|e| is_mkdir(e))
            .count();
        // Which calls went unnamed, and where in the run: the first (naming races the start),
        // the last (the caller gone from /proc), or between.
        let unnamed: Vec<String> = finished
            .events
            .iter()
            .filter(|e| is_mkdir(e))
            .enumerate()
            .filter(|(_, e)| !is_in(e, &id))
            .map(|(at, e)| {
                format!(
                    "#{at} pid {} mntns {:?} cgroup {:?} container {:?}",
                    e.pid, e.mntns_id, e.cgroup_id, e.container
                )
            })
            .collect();
        assert_eq!(
            shown,
            CALLS,
            "tracer named {shown} of the container's {CALLS} logged mkdir calls; the others: \
             {unnamed:#?}; stderr:\n{}",
            finished.stderr_text()
        );
        let calls = containerd_calls(&finished);
        let for_container = calls.saturating_sub(idle_calls);
        eprintln!(
            "containerd API calls: {idle_calls} with no container, {calls} with one that made \
             {CALLS} logged calls"
        );
        assert!(
            (1..=ALLOWED).contains(&for_container),
            "tracer made {calls} containerd API calls, {idle_calls} of them as it does with no \
             container, so {for_container} for container {id}, which made {CALLS} logged calls: \
             at least one is needed to name it, at most {ALLOWED}; stderr:\n{}",
            finished.stderr_text()
        );
    }

    /// `-r docker,containerd` on Docker's own containerd, whose `moby` namespace holds Docker's
    /// containers too: each event is reported once, named as Docker names it.
    pub fn names_a_docker_container_once_with_dockers_name(&self) {
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let containerd_socket = dockerd.containerd_socket();
        assert!(
            containerd_socket.exists(),
            "dockerd's containerd is not at {}; dockerd's log:\n{}",
            containerd_socket.display(),
            dockerd.log()
        );
        let docker_socket = dockerd.socket();
        let tracer = self.start(&[
            "-o",
            "json",
            "-r",
            "docker,containerd",
            "--docker-socket",
            docker_socket.to_str().expect("UTF-8 path"),
            "--containerd-socket",
            containerd_socket.to_str().expect("UTF-8 path"),
        ]);
        let mut audit = AuditLog::from_now();
        let seccomp = format!("seccomp={}", profile.display());
        let _ = dockerd.docker(&[
            "run",
            "--name",
            "docker_named",
            "--network",
            "none",
            "--security-opt",
            &seccomp,
            IMAGE,
            "sh",
            "-c",
            MKDIR_THEN_UNSHARE,
        ]);
        tracer.wait_for_events(EVENT_TIMEOUT, |events| events.len() >= 2);
        audit.wait_for(EVENT_TIMEOUT, |records| records.len() >= 2);
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let context = context(&finished, "");
        assert_like_the_kernel(&finished, &audit, &context);
        let named: Vec<(String, String)> = finished
            .events
            .iter()
            .map(|e| {
                let container = e.container.as_ref();
                let text = |key: &str| {
                    container
                        .and_then(|c| c[key].as_str())
                        .unwrap_or("")
                        .to_owned()
                };
                (text("runtime"), text("name"))
            })
            .collect();
        assert_eq!(
            named,
            [
                ("docker".to_string(), "docker_named".to_string()),
                ("docker".to_string(), "docker_named".to_string())
            ],
            "{context}"
        );
        let summary = finished.expect_summary();
        assert!(
            summary.docker_api_calls.is_some() && summary.containerd_api_calls.is_some(),
            "both runtimes are asked: {summary:?}"
        );
    }

    /// `-r auto` with only containerd's socket present asks containerd alone, and names its
    /// container.
    pub fn auto_asks_the_runtimes_whose_sockets_exist(&self) {
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let containerd = Containerd::start();
        let image = containerd.import_from(&dockerd, IMAGE);
        let socket = containerd.socket();
        let tracer = self.start(&[
            "-o",
            "json",
            "-r",
            "auto",
            "--docker-socket",
            "/nonexistent/docker.sock",
            "--podman-socket",
            "/nonexistent/podman.sock",
            "--containerd-socket",
            socket.to_str().expect("UTF-8 path"),
        ]);
        let id = random_container_id();
        let _ = containerd.ctr(&[
            "run",
            "--rm",
            "--seccomp",
            "--seccomp-profile",
            profile.to_str().expect("UTF-8 path"),
            &image,
            &id,
            "/bin/mkdir",
            "/tmp/x",
        ]);
        tracer.wait_for_events(EVENT_TIMEOUT, |events| !events_of(events, &id).is_empty());
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let context = context(&finished, &containerd.log());
        assert_eq!(
            calls(&events_of(&finished.events, &id)),
            [pair("mkdir", "log")],
            "{context}"
        );
        assert!(
            finished
                .stderr
                .iter()
                .any(|l| l.contains("-r auto: naming containers through containerd")),
            "{context}"
        );
        let summary = finished.expect_summary();
        assert_eq!(
            (summary.docker_api_calls, summary.podman_api_calls),
            (None, None),
            "no socket, no question: {summary:?}"
        );
        assert!(summary.containerd_api_calls.is_some(), "{summary:?}");
    }

    /// podman's containers, one killed at once, named through its Docker-compatible API with
    /// podman's names, images and labels.
    pub fn names_podman_containers_through_its_docker_api(&self) {
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let podman = Podman::start();
        let image = podman.load_from(&dockerd, IMAGE);
        let socket = podman.socket();
        let tracer = self.start(&[
            "-o",
            "json",
            "-r",
            "podman",
            "--podman-socket",
            socket.to_str().expect("UTF-8 path"),
        ]);
        let mut audit = AuditLog::from_now();
        let seccomp = format!("seccomp={}", profile.display());
        let run = |name: &str, command: &[&str]| {
            let mut args = vec!["run", "--name", name, "--network", "none"];
            args.extend(podman::ULIMITS);
            args.extend([
                "--label",
                "team=payments",
                "--security-opt",
                &seccomp,
                &image,
            ]);
            args.extend(command);
            // The container ends as its killed process did: the status says nothing here.
            let output = podman.podman(&args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !stderr.contains("Error: "),
                "podman run {name} failed: {stderr}"
            );
        };
        run("podman_logged", &["sh", "-c", MKDIR_THEN_UNSHARE]);
        run("podman_killed", &["unshare", "-i"]);
        tracer.wait_for_events(EVENT_TIMEOUT, |events| events.len() >= 3);
        audit.wait_for(EVENT_TIMEOUT, |records| records.len() >= 3);
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let context = context(&finished, &podman.log());
        assert_like_the_kernel(&finished, &audit, &context);
        for (name, expected) in [
            (
                "podman_logged",
                vec![pair("mkdir", "log"), pair("unshare", "kill_thread")],
            ),
            ("podman_killed", vec![pair("unshare", "kill_thread")]),
        ] {
            let events: Vec<&TracerEvent> = finished
                .events
                .iter()
                .filter(|e| e.container.as_ref().is_some_and(|c| c["name"] == name))
                .collect();
            assert_eq!(calls(&events), expected, "{name}: {context}");
            let container = events[0].container.as_ref().expect("named");
            assert_eq!(container["runtime"], "podman", "{context}");
            assert_eq!(container["image"], image.as_str(), "{context}");
            assert_eq!(container["labels"]["team"], "payments", "{context}");
        }
    }
}

fn context(finished: &Finished, daemon_log: &str) -> String {
    let tail: Vec<&str> = daemon_log.lines().rev().take(20).collect();
    format!(
        "events: {:#?}\nstderr:\n{}\ndaemon's last log lines (newest first):\n{}",
        finished.events,
        finished.stderr_text(),
        tail.join("\n")
    )
}

/// Exactly the kernel's records, each once: by pid and call.
fn assert_like_the_kernel(finished: &Finished, audit: &AuditLog, context: &str) {
    let mut kernel: Vec<_> = audit.records.iter().map(|r| (r.pid, r.syscall)).collect();
    let mut seen: Vec<_> = finished
        .events
        .iter()
        .map(|e| (e.pid, e.syscall_nr))
        .collect();
    kernel.sort_unstable();
    seen.sort_unstable();
    assert_eq!(
        seen, kernel,
        "tracer's events differ from the kernel's records\n{context}"
    );
}

fn is_in(event: &TracerEvent, id: &str) -> bool {
    event.container.as_ref().is_some_and(|c| c["id"] == id)
}

fn is_mkdir(event: &TracerEvent) -> bool {
    ["mkdir", "mkdirat"].contains(&event.syscall.as_str()) && event.code == "log"
}

fn events_of<'a>(events: &'a [TracerEvent], id: &str) -> Vec<&'a TracerEvent> {
    events.iter().filter(|e| is_in(e, id)).collect()
}

fn pair(syscall: &str, code: &str) -> (String, String) {
    (syscall.to_string(), code.to_string())
}

fn calls(events: &[&TracerEvent]) -> Vec<(String, String)> {
    let mut calls: Vec<_> = events
        .iter()
        .map(|e| (e.syscall.clone(), e.code.clone()))
        .collect();
    calls.sort();
    calls
}
