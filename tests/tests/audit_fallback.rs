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
    containers::Scenarios,
    env,
    kmsg::{AuditLog, UnlimitedPrintk},
    tracer::{RunningCount, Tracer, TracerEvent},
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
    finished.assert_stopped_cleanly();

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
        .map(|e| (e.arch.as_deref().unwrap_or("null"), e.syscall.as_str()))
        .collect();
    assert_eq!(names.get("i386"), Some(&"getpid"), "{names:?}");
}

fn arch_of(event: &TracerEvent) -> u32 {
    match event.arch.as_deref().unwrap_or("null") {
        "x86_64" | "x32" => 0xc000_003e,
        "i386" => 0x4000_0003,
        other => panic!("unexpected arch {other}"),
    }
}

/// With the default receive buffer and a tracer that keeps reading, a burst costs nothing: every
/// call is delivered and none is counted lost.
#[test]
fn a_burst_is_delivered_whole_with_the_default_receive_buffer() {
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
    let mut of_workload = RunningCount::new(|e: &TracerEvent| e.pid == pid);
    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        of_workload.update(events) >= BURST_CALLS as usize
    });
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let summary = finished.expect_summary();
    let delivered = finished.events.iter().filter(|e| e.pid == pid).count() as u64;
    assert_eq!(
        (delivered, summary.lost),
        (u64::from(BURST_CALLS), 0),
        "(delivered, lost) of the workload's {BURST_CALLS} calls; summary {summary:?}; stderr:\n{}",
        finished.stderr_text()
    );
}

/// auditd running as the kernel's audit daemon, stopped when dropped, leaving the kernel's audit
/// switch as it found it (auditd turns it on).
struct Auditd(Child, String);

impl Auditd {
    fn start() -> Self {
        let status = Command::new("auditctl")
            .arg("-s")
            .output()
            .expect("auditctl -s");
        let enabled = String::from_utf8_lossy(&status.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("enabled ").map(str::to_owned))
            .unwrap_or_else(|| "0".into());
        let child = Command::new("auditd")
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting auditd (apt-get install auditd)");
        let auditd = Self(child, enabled);
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
        let _ = Command::new("auditctl").args(["-e", &self.1]).output();
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
    finished.assert_stopped_cleanly();
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

fn containers(test: impl FnOnce(&Scenarios)) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tracer = tracer_bin();
    let workload = workload();
    test(&Scenarios {
        tracer: &tracer,
        probe: "audit",
        workload: &workload,
    });
}

#[test]
fn names_containers_from_a_real_dockerd() {
    containers(|s| s.names_containers_from_a_real_dockerd());
}

#[test]
fn keeps_going_while_dockerd_is_down_and_names_again_when_it_is_back() {
    containers(|s| s.keeps_going_while_dockerd_is_down_and_names_again_when_it_is_back());
}

#[test]
fn names_containers_once_dockerd_starts_after_tracer() {
    containers(|s| s.names_containers_once_dockerd_starts_after_tracer());
}
