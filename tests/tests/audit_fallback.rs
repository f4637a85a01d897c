//! The audit fallback source on the machine's own kernel, which offers no eBPF hook on
//! `audit_seccomp`: tracer reads the kernel's seccomp audit records and must report exactly the
//! calls the kernel audited, name their containers from a real dockerd, count what it loses, and
//! take nothing from a running auditd. Run as root by `cargo xtask test`.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use tracer_integration_tests::{
    docker::{Dockerd, IMAGE},
    env,
    kmsg::{AuditLog, UnlimitedPrintk},
    tracer::{Finished, Tracer, TracerEvent},
    workload::Workload,
};

const HOW_TO_RUN: &str = "run these tests as root with `cargo xtask test`, which builds tracer \
    and sets TRACER_BIN";
/// Records reach the multicast group within milliseconds; this only bounds a failing run.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
const BURST_CALLS: u32 = 20_000;

/// Each test reads the kernel log or starts daemons: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn tracer_bin() -> PathBuf {
    env::require_root(HOW_TO_RUN);
    env::required_file("TRACER_BIN", HOW_TO_RUN)
}

fn workload() -> Workload {
    Workload::new(env::file_or(
        "SECCOMP_WORKLOAD",
        env!("CARGO_BIN_EXE_seccomp-workload"),
        HOW_TO_RUN,
    ))
}

fn start(args: &[&str]) -> Tracer {
    let mut all = vec!["audit", "seccomp", "--probe", "audit"];
    all.extend_from_slice(args);
    let tracer = Tracer::start(&tracer_bin(), &all);
    assert_eq!(tracer.wait_attached(), "audit");
    tracer
}

#[track_caller]
fn assert_stopped_cleanly(finished: &Finished) {
    assert!(
        finished.status.success(),
        "tracer exited with {}; stderr:\n{}",
        finished.status,
        finished.stderr_text()
    );
}

#[test]
fn every_audited_call_is_reported_and_attributed_after_death() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let workload = workload();
    let tracer = start(&[
        "-o",
        "json",
        "--host",
        "-r",
        "docker",
        "--docker-socket",
        "/nonexistent",
    ]);
    let mut audit = AuditLog::from_now();
    let runs: Vec<_> = [
        &["log"][..],
        &["kill-thread"],
        &["kill-process"],
        &["trap"],
        &["errno"],
        &["i386"],
    ]
    .iter()
    .map(|args| {
        let run = workload.run(args);
        run.assert_ended_as_planned();
        run
    })
    .collect();
    let pids: Vec<u32> = runs.iter().map(|r| r.plan.pid).collect();
    let expected: usize = runs
        .iter()
        .flat_map(|r| &r.plan.expect)
        .map(|e| e.count as usize)
        .sum();
    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        events.iter().filter(|e| pids.contains(&e.pid)).count() >= expected
    });
    audit.wait_for(EVENT_TIMEOUT, |records| {
        records.iter().filter(|r| pids.contains(&r.pid)).count() >= expected
    });
    let finished = tracer.stop();
    assert_stopped_cleanly(&finished);

    let key = |pid: u32, nr: u64, arch: u32, code: u32| (pid, nr, arch, code);
    let mut kernel: Vec<_> = audit
        .of_pids(&pids)
        .map(|r| key(r.pid, r.syscall, r.arch, r.code))
        .collect();
    let mut seen: Vec<_> = finished
        .events
        .iter()
        .filter(|e| pids.contains(&e.pid))
        .map(|e| key(e.pid, e.syscall_nr, arch_of(e), e.code_raw))
        .collect();
    kernel.sort_unstable();
    seen.sort_unstable();
    assert_eq!(
        seen,
        kernel,
        "tracer's events (left) differ from the kernel's records (right); stderr:\n{}",
        finished.stderr_text()
    );
    assert_eq!(
        seen.len(),
        expected,
        "the workloads' plans and the kernel disagree"
    );

    let own_ns = env::mount_namespace();
    for event in finished.events.iter().filter(|e| pids.contains(&e.pid)) {
        assert_eq!(event.source, "audit", "{event:?}");
        assert_eq!(
            event.tid, None,
            "audit records do not name the thread: {event:?}"
        );
        assert_eq!(event.comm, workload.comm(), "{event:?}");
        assert_eq!(event.ppid, Some(std::process::id()), "{event:?}");
        // Killed workloads are gone when their record is read: the exit tracepoint kept this.
        assert_eq!(event.mntns_id, Some(own_ns), "{event:?}");
    }
    let names: BTreeMap<&str, &str> = finished
        .events
        .iter()
        .filter(|e| pids.contains(&e.pid))
        .map(|e| (e.arch.as_str(), e.syscall.as_str()))
        .collect();
    assert_eq!(names.get("i386"), Some(&"getpid"), "{names:?}");
}

fn arch_of(event: &TracerEvent) -> u32 {
    match event.arch.as_str() {
        "x86_64" | "x32" => 0xc000_003e,
        "i386" => 0x4000_0003,
        other => panic!("unexpected arch {other}"),
    }
}

#[test]
fn a_burst_is_delivered_or_counted_lost_call_for_call() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tracer = start(&[
        "-o",
        "json",
        "--host",
        "-r",
        "docker",
        "--docker-socket",
        "/nonexistent",
    ]);
    let calls = BURST_CALLS.to_string();
    let run = workload().run(&["burst", &calls]);
    run.assert_ended_as_planned();
    let pid = run.plan.pid;
    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        events.iter().filter(|e| e.pid == pid).count() >= BURST_CALLS as usize
    });
    let finished = tracer.stop();
    assert_stopped_cleanly(&finished);
    let summary = finished.expect_summary();
    let delivered = finished.events.iter().filter(|e| e.pid == pid).count() as u64;
    assert_eq!(
        delivered + summary.lost,
        u64::from(BURST_CALLS),
        "{delivered} delivered + {} lost != {BURST_CALLS} calls; stderr:\n{}",
        summary.lost,
        finished.stderr_text()
    );
}

/// auditd running as the kernel's audit daemon, stopped when dropped.
struct Auditd(Child);

impl Auditd {
    fn start() -> Self {
        let child = Command::new("auditd")
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting auditd (apt-get install auditd)");
        let auditd = Self(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !auditd.registered() {
            assert!(
                Instant::now() < deadline,
                "auditd did not register with the kernel"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        auditd
    }

    fn registered(&self) -> bool {
        let status = Command::new("auditctl")
            .arg("-s")
            .output()
            .expect("auditctl -s");
        String::from_utf8_lossy(&status.stdout).contains(&format!("pid {}", self.0.id()))
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

#[test]
fn coexists_with_a_running_auditd() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let auditd = Auditd::start();
    let tracer = start(&[
        "-o",
        "json",
        "--host",
        "-r",
        "docker",
        "--docker-socket",
        "/nonexistent",
    ]);
    let run = workload().run(&["log"]);
    run.assert_ended_as_planned();
    let pid = run.plan.pid;
    let got = tracer.wait_for_events(EVENT_TIMEOUT, |events| events.iter().any(|e| e.pid == pid));
    let finished = tracer.stop();
    assert_stopped_cleanly(&finished);
    assert!(
        got,
        "tracer saw nothing while auditd ran; stderr:\n{}",
        finished.stderr_text()
    );

    // auditd still received the record: tracer reads a copy and takes nothing away.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let needle = format!("pid={pid} ");
    loop {
        let log = std::fs::read_to_string("/var/log/audit/audit.log").unwrap_or_default();
        if log
            .lines()
            .any(|l| l.contains("type=SECCOMP") && l.contains(&needle))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "auditd's log has no SECCOMP record of pid {pid}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(auditd);
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

#[test]
fn names_containers_from_a_real_dockerd() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
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

    let json = start(&["-o", "json", "--docker-socket", socket]);
    let columns = start(&["--docker-socket", socket]);
    let pods = start(&[
        "-o",
        "columns=k8s.namespace,k8s.pod,syscall,code",
        "--docker-socket",
        socket,
    ]);
    let only_twin = start(&["-o", "json", "-c", "twin", "--docker-socket", socket]);
    let mut audit = AuditLog::from_now();

    // The seed scenario, in both containers of the same image.
    for name in ["eager_mclean", "twin"] {
        let exec = dockerd.docker(&["exec", name, "sh", "-c", "mkdir /tmp/dir42; unshare -i"]);
        assert!(!exec.status.success(), "unshare was not killed in {name}");
    }
    // A container seccomp kills at once: its only process dies before anyone can ask about it.
    let killed = dockerd.docker(&[
        "run",
        "--name",
        "killed_at_once",
        "--network",
        "none",
        "--security-opt",
        &seccomp,
        IMAGE,
        "unshare",
        "-i",
    ]);
    assert!(
        !killed.status.success(),
        "unshare was not killed in killed_at_once"
    );
    // A rename while tracer runs: later events carry the new name.
    dockerd.docker_ok(&["rename", "twin", "twin_renamed"]);
    let exec = dockerd.docker(&["exec", "twin_renamed", "mkdir", "/tmp/after-rename"]);
    assert!(exec.status.success(), "mkdir is only logged");

    json.wait_for_events(EVENT_TIMEOUT, |events| events.len() >= 6);
    audit.wait_for(EVENT_TIMEOUT, |records| records.len() >= 6);
    let json = json.stop();
    let columns = columns.stop();
    let pods = pods.stop();
    let only_twin = only_twin.stop();
    for finished in [&json, &columns, &pods, &only_twin] {
        assert_stopped_cleanly(finished);
    }
    let context = format!(
        "events: {:#?}\nstderr:\n{}",
        json.events,
        json.stderr_text()
    );

    // Exactly the kernel's records: six calls, in three containers.
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
    let killed_events = container_events(&json.events, "killed_at_once");
    assert_eq!(
        calls(&killed_events),
        [pair("unshare", "kill_thread")],
        "{context}"
    );
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

/// The rows of a columns output, split on blanks (the tests' names have none).
fn columns_rows(finished: &Finished) -> Vec<Vec<&str>> {
    finished
        .stdout_lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect()
}

#[test]
fn keeps_going_while_dockerd_is_down_and_names_again_when_it_is_back() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut dockerd = Dockerd::start();
    dockerd.import_busybox();
    let profile = dockerd.seed_profile();
    let seccomp = format!("seccomp={}", profile.display());
    let socket = dockerd.socket();
    let tracer = start(&[
        "-o",
        "json",
        "--host",
        "--docker-socket",
        socket.to_str().unwrap(),
    ]);

    dockerd.stop();
    let run = workload().run(&["log"]);
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
    assert_stopped_cleanly(&finished);
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

#[test]
fn names_containers_once_dockerd_starts_after_tracer() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut dockerd = Dockerd::not_started();
    let socket = dockerd.socket();
    let tracer = start(&["-o", "json", "--docker-socket", socket.to_str().unwrap()]);
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
    assert_stopped_cleanly(&finished);
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
