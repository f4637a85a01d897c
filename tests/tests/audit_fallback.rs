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

use chrono::Utc;
use tracer_integration_tests::{
    containers::Scenarios,
    env,
    kmsg::{AuditLog, UnlimitedPrintk},
    oracle::{Context, Report},
    plan::{LOGGED_TWICE_ARGS, Plan},
    tracer::{RunningCount, Tracer, TracerEvent},
    workload::{Run, Workload},
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
        // Audit records do not name the thread; a kill's details, read in the killed thread,
        // do.
        let killed = matches!(event.code.as_str(), "kill_process" | "kill_thread");
        assert_eq!(
            event.tid.is_some(),
            killed,
            "only kills know their thread on the audit source: {event:?}"
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

#[test]
fn names_the_function_that_made_a_killed_call() {
    containers(|s| s.names_the_function_that_made_a_killed_call());
}

/// One audit-source tracer with `extra` arguments over the scenarios (those in `under_sh` as
/// children of a shell); every event of theirs is held to the kernel's record of the same call
/// and to what the workloads say they did. Returns the runs and tracer's events of them.
fn details_match_the_truth(
    extra: &[&str],
    direct: &[&[&str]],
    under_sh: &[&[&str]],
) -> (Vec<Run>, Vec<TracerEvent>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let workload = workload();
    let all_denials = extra.contains(&"--all-denials");
    let mut args = vec![
        "-o",
        "json",
        "--host",
        "-r",
        "docker",
        "--docker-socket",
        "/nonexistent",
    ];
    args.extend_from_slice(extra);
    let tracer = start(&args);
    let mut audit = AuditLog::from_now();

    let started = Utc::now();
    let mut runs: Vec<Run> = direct
        .iter()
        .map(|args| {
            let run = workload.run(args);
            run.assert_ended_as_planned();
            run
        })
        .collect();
    for args in under_sh {
        let run = workload.run_as_child_of_sh(args);
        run.assert_ended_as_planned();
        runs.push(run);
    }
    let ended = Utc::now();

    let pids: Vec<u32> = runs.iter().map(|r| r.plan.pid).collect();
    let audited: usize = runs.iter().map(|r| r.plan.expected_events() as usize).sum();
    let unaudited: usize = runs
        .iter()
        .flat_map(|r| &r.plan.unaudited)
        .map(|e| e.count as usize)
        .sum();
    let reported = audited + if all_denials { unaudited } else { 0 };
    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        events.iter().filter(|e| pids.contains(&e.pid)).count() >= reported
    });
    audit.wait_for(EVENT_TIMEOUT, |records| {
        records.iter().filter(|r| pids.contains(&r.pid)).count() >= audited
    });
    // Events merged from the kernel programs may come a little after the record: give a
    // second event of the same call, which would be a fault, the time to show.
    std::thread::sleep(Duration::from_millis(500));
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();

    assert!(
        audit.unparsable.is_empty(),
        "the kernel wrote seccomp audit records this parser cannot read: {:?}",
        audit.unparsable
    );
    let truths: Vec<Plan> = runs.iter().map(Run::plan_with_truth).collect();
    let plans: Vec<&Plan> = truths.iter().collect();
    let kernel: Vec<_> = audit.of_pids(&pids).collect();
    let seen: Vec<&TracerEvent> = finished
        .events
        .iter()
        .filter(|e| pids.contains(&e.pid))
        .collect();
    let context = Context {
        source: "audit".into(),
        comm: workload.comm(),
        ppid: std::process::id(),
        mntns_id: env::mount_namespace(),
        node: env::hostname(),
        started,
        ended,
        all_denials,
        stack: extra.contains(&"--stack"),
    };
    let notes = format!(
        "workload pids: {}\nevents of the workloads:\n{}\ntracer stderr:\n{}",
        runs.iter()
            .map(|r| format!("{}={}", r.plan.scenario, r.plan.pid))
            .collect::<Vec<_>>()
            .join(" "),
        seen.iter()
            .map(|e| format!("  {e:?}"))
            .collect::<Vec<_>>()
            .join("\n"),
        finished.stderr_text()
    );
    Report::new(&plans, &kernel, &seen, &context).assert_ok(&notes);
    (runs, seen.into_iter().cloned().collect())
}

/// Without `--all-denials` the audit source knows of a refusal only what the kernel's record
/// says: exe and ip, the same as the record's, and null errno, args and path (the record has
/// `code=0x50000` whatever the errno). A kill brings the details of the killed process from
/// the exit tracepoint: its exe, argv, parent and ns ids. An unaudited refusal and a call the
/// kernel failed by itself are not reported.
#[test]
fn audit_source_has_the_records_exe_and_ip_and_a_killed_processs_details() {
    let tag = format!("--tag=audit-source-{}", std::process::id());
    let (runs, events) = details_match_the_truth(
        &[],
        &[&["errnos"], &["long-path"], &["args"], &["unaudited"]],
        &[&["killed-at-once", &tag]],
    );
    let killed = runs.last().expect("the killed-at-once run");
    let event = events
        .iter()
        .find(|e| e.pid == killed.plan.pid)
        .expect("the kill was reported");
    let exe = std::fs::canonicalize(&workload().path).expect("the workload exists");
    assert_eq!(event.exe.as_deref(), exe.to_str(), "{event:?}");
    assert_eq!(
        event.cmdline,
        Some(format!(
            "{} killed-at-once {tag}",
            workload().path.display()
        )),
        "{event:?}"
    );
    assert_eq!(event.parent_comm.as_deref(), Some("sh"), "{event:?}");
    assert_eq!(
        event.ppid, killed.parent,
        "the parent is the shell: {event:?}"
    );
    let refusals = events.iter().filter(|e| e.code == "errno").count();
    assert_eq!(
        refusals, 9,
        "four errnos, four path calls and one args call are refused and audited: {events:#?}"
    );
}

/// With `--all-denials` the audit source merges what its tracepoints saw into the records of
/// refusals: each audited call is reported once, with the errno the caller got, the argument
/// registers (x86-64 and i386) and the path cut at 255 bytes with its dirfd; the unaudited
/// refusal comes from syscall-exit with its errno, the unaudited trap, an
/// audited trap once; the kernel's own EPERM is not reported.
#[test]
fn audit_source_with_all_denials_has_every_refusals_details_once() {
    let (runs, events) = details_match_the_truth(
        &["--all-denials"],
        &[
            &["trap"],
            &["errnos"],
            &["args"],
            &["args-i386"],
            &["long-path"],
            &["unaudited"],
        ],
        &[],
    );
    let of = |scenario: &str| {
        let pid = runs
            .iter()
            .find(|r| r.plan.scenario == scenario)
            .map(|r| r.plan.pid)
            .expect("the scenario ran");
        events.iter().filter(move |e| e.pid == pid)
    };
    let errnos: Vec<_> = of("errnos")
        .map(|e| (e.syscall.as_str(), e.errno, e.errno_name.as_deref()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        errnos,
        [
            ("getpgid", Some(libc::EPERM), Some("EPERM")),
            ("getpriority", Some(libc::EXDEV), Some("EXDEV")),
            ("mkdir", Some(libc::EACCES), Some("EACCES")),
            ("unshare", Some(libc::ENOSYS), Some("ENOSYS")),
        ],
        "errnos of the audited refusals"
    );
    let unaudited: Vec<_> = of("unaudited")
        .map(|e| {
            (
                e.syscall.as_str(),
                e.source.as_str(),
                e.code.as_str(),
                e.errno,
                e.signal.as_deref(),
            )
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        unaudited,
        [
            ("getpgid", "syscall-exit", "trap", None, None),
            ("mkdirat", "syscall-exit", "errno", Some(libc::EROFS), None),
        ],
        "the unaudited workload's events"
    );
    let trapped: Vec<_> = of("trap")
        .map(|e| (e.syscall.as_str(), e.source.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        trapped,
        [("getpgid", "audit", "trap")],
        "an audited trap, seen by the audit record and at the call's exit, goes out once"
    );
    let long = of("long-path")
        .find(|e| e.syscall == "openat")
        .expect("the long path's call was reported");
    assert_eq!(
        (long.path.as_ref().map(String::len), long.path_truncated),
        (Some(255), Some(true)),
        "{long:?}"
    );
}

/// With `--all-denials` the audit source watches the entries of a call once it saw it logged:
/// the first logged getpriority has no details, the second, half a second later, exactly its
/// own arguments and thread.
#[test]
fn audit_source_with_all_denials_gives_a_watched_logged_call_its_details() {
    let (runs, events) = details_match_the_truth(&["--all-denials"], &[&["logged-twice"]], &[]);
    let run = &runs[0];
    let mut logged: Vec<&TracerEvent> = events.iter().filter(|e| e.pid == run.plan.pid).collect();
    logged.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    let seen: Vec<_> = logged
        .iter()
        .map(|e| (e.code.as_str(), e.args.clone(), e.tid))
        .collect();
    let tid = run.plan.expect[0].tid;
    assert_eq!(
        seen,
        [
            ("log", None, None),
            ("log", Some(LOGGED_TWICE_ARGS[1].to_vec()), Some(tid)),
        ],
        "{logged:#?}"
    );
}

// The workload makes i386 calls, which only an x86-64 kernel takes from a 64-bit program.
#[cfg(target_arch = "x86_64")]
#[test]
fn records_a_profile_that_runs_the_workload_and_checks_what_it_lacks() {
    containers(|s| s.records_a_profile_that_runs_the_workload_and_checks_what_it_lacks());
}

#[test]
fn numbers_pids_as_the_container_sees_them() {
    containers(|s| s.numbers_pids_as_the_container_sees_them());
}

#[test]
fn all_denials_reports_what_dockers_default_profile_refuses() {
    containers(|s| s.all_denials_reports_what_dockers_default_profile_refuses());
}

/// With `--stack` the audit source gives a kill and a trap the caller's stack: read as the
/// killed task exits, and as the trap raises SIGSYS (the record of the trap has no stack). The
/// first frame is where the record says the call was made, in the C library's `syscall()`,
/// and the next one the workload's function that called it.
#[test]
fn audit_source_with_stack_names_the_code_behind_a_kill_and_a_trap() {
    let (runs, events) =
        details_match_the_truth(&["--stack"], &[&["trap"], &["kill-process"]], &[]);
    for (scenario, caller) in [("trap", "trapped_getpgid"), ("kill-process", "raw_unshare")] {
        let pid = runs
            .iter()
            .find(|r| r.plan.scenario == scenario)
            .map(|r| r.plan.pid)
            .expect("the scenario ran");
        let event = events
            .iter()
            .find(|e| e.pid == pid)
            .unwrap_or_else(|| panic!("no event of {scenario}: {events:#?}"));
        let stack = event
            .stack
            .as_deref()
            .unwrap_or_else(|| panic!("{scenario}'s event has no stack: {event:#?}"));
        assert_eq!(
            stack.first().map(|f| f.ip),
            event.ip,
            "{scenario}: the first frame is the record's ip: {event:#?}"
        );
        let names: Vec<Option<&str>> = stack
            .iter()
            .take(2)
            .map(|f| f.function.as_deref())
            .collect();
        assert_eq!(names[0], Some("syscall"), "{scenario}: {stack:#?}");
        assert!(
            names
                .get(1)
                .copied()
                .flatten()
                .is_some_and(|name| name.contains(caller)),
            "{scenario}: the second frame is {caller}: {stack:#?}"
        );
    }
}
