//! tracer's kernel hooks against the kernel's own audit records, on a kernel where the hook
//! under test can attach: `cargo xtask vm-test` boots stock kernels under qemu and runs these
//! as root with TRACER_BIN, SECCOMP_WORKLOAD and TRACER_PROBE (fentry or kprobe) set.

use std::{
    io::{BufRead as _, BufReader, Read as _},
    process::{Child, ExitStatus},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tracer_integration_tests::{
    env,
    filter::action_name,
    kmsg::{AuditLog, UnlimitedPrintk},
    oracle::{Context, Report, Tally, kernel_vs_plan},
    plan::Plan,
    tracer::{ATTACH_TIMEOUT, STOP_TIMEOUT, Tracer, TracerEvent, parse_summary},
    workload::{Run, Workload},
};

const HOW_TO_RUN: &str = "run these tests with `cargo xtask vm-test`, which boots kernels with \
    kprobes and fentry under qemu and sets TRACER_BIN, SECCOMP_WORKLOAD and TRACER_PROBE";

/// Every scenario, each in its own process, so each pid stands for one action.
#[cfg(target_arch = "x86_64")]
const SCENARIOS: &[&[&str]] = &[
    &["log"],
    &["kill-thread"],
    &["kill-thread-in-thread"],
    &["kill-process"],
    &["trap"],
    &["errno"],
    &["i386"],
    &["x32"],
    &["burst", "3"],
];

/// arm64's scenarios: the same actions on arm64's numbers, and `arm`, an arm32 program's call
/// (arm32 number 64, getppid, which is write in arm64's table).
#[cfg(target_arch = "aarch64")]
const SCENARIOS: &[&[&str]] = &[
    &["log"],
    &["kill-thread"],
    &["kill-thread-in-thread"],
    &["kill-process"],
    &["trap"],
    &["errno"],
    &["arm"],
    &["burst", "3"],
];

/// The arch tracer names the machine's own calls with.
const NATIVE_ARCH: &str = if cfg!(target_arch = "aarch64") {
    "aarch64"
} else {
    "x86_64"
};

/// Events of the workloads arrive within milliseconds; this only bounds a failing run.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls in the overflow test: far more than a 4 KiB ring buffer holds (about 45 events).
const BURST_CALLS: u32 = 2000;

/// One tracer at a time: every tracer sees every process's events, and the lost count is
/// global, so a test running beside another would count the other's events.
static ONE_TRACER: Mutex<()> = Mutex::new(());

/// The header of the default output, `-o columns`.
const DEFAULT_HEADER: [&str; 6] = [
    "RUNTIME.CONTAINERNAME",
    "PID",
    "TID",
    "COMM",
    "SYSCALL",
    "CODE",
];

/// `--timeout` in the timeout test: long enough for two workloads under software emulation.
const TIMEOUT_SECS: u64 = 8;

struct Setup {
    tracer_bin: std::path::PathBuf,
    workload: Workload,
    probe: String,
}

fn setup() -> Setup {
    env::require_root(HOW_TO_RUN);
    let probe = env::required_var("TRACER_PROBE", HOW_TO_RUN);
    assert!(
        matches!(probe.as_str(), "fentry" | "kprobe"),
        "TRACER_PROBE={probe:?} must be fentry or kprobe: {HOW_TO_RUN}"
    );
    Setup {
        tracer_bin: env::required_file("TRACER_BIN", HOW_TO_RUN),
        workload: Workload::new(env::file_or(
            "SECCOMP_WORKLOAD",
            env!("CARGO_BIN_EXE_seccomp-workload"),
            HOW_TO_RUN,
        )),
        probe,
    }
}

fn start_tracer(setup: &Setup, extra: &[&str]) -> Tracer {
    let mut args = vec![
        "audit",
        "seccomp",
        "--probe",
        &setup.probe,
        "-o",
        "json",
        "--host",
    ];
    args.extend_from_slice(extra);
    let tracer = Tracer::start(&setup.tracer_bin, &args);
    let hook = tracer.wait_attached();
    assert_eq!(
        hook, setup.probe,
        "tracer attached {hook} when asked for --probe {}",
        setup.probe
    );
    tracer
}

fn of_pids<'a>(
    events: &'a [TracerEvent],
    pids: &'a [u32],
) -> impl Iterator<Item = &'a TracerEvent> {
    events.iter().filter(|e| pids.contains(&e.pid))
}

/// The workloads' processes, and how many audited calls they planned.
fn pids_and_expected(runs: &[Run]) -> (Vec<u32>, usize) {
    let pids = runs.iter().map(|r| r.plan.pid).collect();
    let expected = runs.iter().map(|r| r.plan.expected_events()).sum::<u32>() as usize;
    (pids, expected)
}

/// Runs each scenario to its planned end.
fn run_all(workload: &Workload, scenarios: &[&[&str]]) -> Vec<Run> {
    scenarios
        .iter()
        .map(|args| {
            let run = workload.run(args);
            run.assert_ended_as_planned();
            run
        })
        .collect()
}

/// Panics unless tracer's events of the workloads are exactly the kernel's records of them,
/// with every field right. The workloads ran between `started` and `ended`.
fn assert_events_match_kernel(
    setup: &Setup,
    runs: &[Run],
    audit: &AuditLog,
    events: &[TracerEvent],
    (started, ended): (DateTime<Utc>, DateTime<Utc>),
    notes: &str,
) {
    assert_events_match(setup, runs, audit, events, (started, ended), false, notes);
}

/// [`assert_events_match_kernel`] for a tracer run with or without `--all-denials`.
fn assert_events_match(
    setup: &Setup,
    runs: &[Run],
    audit: &AuditLog,
    events: &[TracerEvent],
    (started, ended): (DateTime<Utc>, DateTime<Utc>),
    all_denials: bool,
    notes: &str,
) {
    assert!(
        audit.unparsable.is_empty(),
        "the kernel wrote seccomp audit records this parser cannot read: {:?}",
        audit.unparsable
    );
    // The plans with what the calls really returned: the errnos and ips to compare.
    let truths: Vec<Plan> = runs.iter().map(Run::plan_with_truth).collect();
    let plans: Vec<&Plan> = truths.iter().collect();
    let (pids, _) = pids_and_expected(runs);
    let kernel: Vec<_> = audit.of_pids(&pids).collect();
    let seen: Vec<_> = of_pids(events, &pids).collect();
    let context = Context {
        source: setup.probe.clone(),
        comm: setup.workload.comm(),
        ppid: std::process::id(),
        mntns_id: env::mount_namespace(),
        node: env::hostname(),
        started,
        ended,
        all_denials,
        stack: false,
    };
    let notes = format!(
        "workload pids: {}; kmsg records overwritten before they were read: {}\n{notes}",
        runs.iter()
            .map(|r| format!("{}={}", r.plan.scenario, r.plan.pid))
            .collect::<Vec<_>>()
            .join(" "),
        audit.overwritten(),
    );
    Report::new(&plans, &kernel, &seen, &context).assert_ok(&notes);
}

#[test]
fn every_action_matches_the_kernel_audit_record() {
    let setup = setup();
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let tracer = start_tracer(&setup, &[]);
    let mut audit = AuditLog::from_now();

    let started = Utc::now();
    let runs = run_all(&setup.workload, SCENARIOS);
    let ended = Utc::now();

    let (pids, expected) = pids_and_expected(&runs);
    let in_thread = runs
        .iter()
        .find(|r| r.plan.scenario == "kill-thread-in-thread")
        .expect("the scenarios include kill-thread-in-thread");
    assert_ne!(
        in_thread.plan.expect[0].tid, in_thread.plan.pid,
        "the kill-thread-in-thread workload made its call from the main thread"
    );

    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        of_pids(events, &pids).count() >= expected
    });
    audit.wait_for(EVENT_TIMEOUT, |records| {
        records.iter().filter(|r| pids.contains(&r.pid)).count() >= expected
    });
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
    let summary = finished.expect_summary();
    let notes = format!(
        "tracer summary: {summary:?}\ntracer stderr:\n{}",
        finished.stderr_text()
    );
    assert_events_match_kernel(
        &setup,
        &runs,
        &audit,
        &finished.events,
        (started, ended),
        &notes,
    );
}

#[test]
fn tiny_ring_buffer_counts_every_lost_event() {
    let setup = setup();
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let tracer = start_tracer(&setup, &["--ring-buffer-size", "4096"]);

    let calls = BURST_CALLS.to_string();
    let run = setup.workload.run(&["burst", &calls]);
    run.assert_ended_as_planned();
    let pid = run.plan.pid;

    // Every event was written or counted lost during the calls themselves, before the
    // workload exited; stopping flushes what is left.
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
    let summary = finished.expect_summary();
    let printed = finished.events.iter().filter(|e| e.pid == pid).count() as u64;
    let others = finished.events.len() as u64 - printed;

    assert!(
        summary.lost > 0,
        "{BURST_CALLS} calls did not overflow a 4096-byte ring buffer ({summary:?}); the test \
         needs a larger burst on this machine"
    );
    // Under emulation this test's reader of tracer's stdout can fall behind; what tracer could
    // not write within the second a stop takes, it counts as unwritten.
    assert_eq!(
        summary.delivered,
        finished.events.len() as u64 + summary.unwritten,
        "the summary counts {} events delivered but {} were printed and {} counted unwritten, \
         and --host prints all",
        summary.delivered,
        finished.events.len(),
        summary.unwritten
    );
    assert_eq!(
        summary.delivered - others + summary.lost,
        u64::from(BURST_CALLS),
        "events delivered for the workload ({printed} printed, {} unwritten) plus lost ({}) \
         should be the {BURST_CALLS} calls it made ({others} events of other processes were \
         delivered); stderr:\n{}",
        summary.unwritten,
        summary.lost,
        finished.stderr_text()
    );
    for event in finished.events.iter().filter(|e| e.pid == pid) {
        assert_eq!(
            (
                event.syscall.as_str(),
                event.code.as_str(),
                event.arch.as_deref().unwrap_or("null")
            ),
            ("getppid", "log", NATIVE_ARCH),
            "burst event {event:?}"
        );
    }
}

/// A burst into a 4 KiB ring buffer moves the ring-buffer loss of `/metrics`, beside the
/// events and what stdout wrote; what only other causes move is named with its reason.
#[test]
fn a_ring_buffer_burst_moves_the_metrics() {
    use tracer_integration_tests::metrics::{self, *};
    let setup = setup();
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], metrics::free_port()));
    let addr_text = addr.to_string();
    let tracer = start_tracer(
        &setup,
        &["--ring-buffer-size", "4096", "--metrics-addr", &addr_text],
    );
    let before = metrics::scrape(addr);
    let calls = BURST_CALLS.to_string();
    setup
        .workload
        .run(&["burst", &calls])
        .assert_ended_as_planned();
    let cannot_move = [
        (
            LOST_KERNEL_AUDIT,
            "the eBPF hooks do not read audit records",
        ),
        (LOST_SINK, "stdout is read as fast as it is written"),
        (SINK_UNWRITTEN, "stdout is read as fast as it is written"),
        (SINK_QUEUE_DEPTH, "stdout is read as fast as it is written"),
        (SUPPRESSED_FILTER, "--host shows every event"),
        (SUPPRESSED_CHECK, "no --check"),
        (
            SUPPRESSED_DEDUP,
            "no --dedup (the host's volume tests move it)",
        ),
        (
            SUPPRESSED_RATE_LIMIT,
            "no --rate-limit (the host's volume tests move it)",
        ),
        (SINK_RETRIES, "stdout never retries"),
        (SINK_FAILURES, "stdout reports no failed writes"),
        (DOCKER_API_CALLS, "no container runs in this test"),
        (ENRICHMENT_MISSES, "no container runs in this test"),
    ];
    let stderr = || tracer.stderr_text();
    metrics::assert_every_series_moves(
        addr,
        &before,
        &cannot_move,
        Duration::from_secs(30),
        &stderr,
    );
    tracer.stop().assert_stopped_cleanly();
}

/// Without `-o`, tracer prints columns for a person: the documented header, then one row per
/// call naming the process, the thread, the call and the action, row for row as the kernel
/// audited them.
#[test]
fn default_columns_name_each_call_the_kernel_audited() {
    let setup = setup();
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let tracer = Tracer::start(
        &setup.tracer_bin,
        &["audit", "seccomp", "--probe", &setup.probe, "--host"],
    );
    assert_eq!(tracer.wait_attached(), setup.probe);
    let mut audit = AuditLog::from_now();

    let runs = run_all(&setup.workload, &[&["log"], &["kill-process"]]);
    let (pids, expected) = pids_and_expected(&runs);
    audit.wait_for(EVENT_TIMEOUT, |records| {
        records.iter().filter(|r| pids.contains(&r.pid)).count() >= expected
    });
    // Each record was written when its call reached the hook; stopping reads what is left.
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let plans: Vec<&Plan> = runs.iter().map(|r| &r.plan).collect();
    let kernel: Vec<_> = audit.of_pids(&pids).collect();
    if let Some(table) = kernel_vs_plan(&plans, &kernel) {
        panic!("the kernel's audit records differ from the workloads' plans:\n{table}");
    }

    let stdout = finished.stdout_lines.join("\n");
    let header: Vec<&str> = finished
        .stdout_lines
        .first()
        .map(|line| line.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        header, DEFAULT_HEADER,
        "the first line of the default output is not its header; stdout:\n{stdout}"
    );
    // A host process has no container: its first column is blank and the row has five cells.
    let rows = finished.stdout_lines[1..].iter().filter_map(|line| {
        let cells: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let pid = cells.first()?.parse::<u32>().ok()?;
        (pids.contains(&pid) && line.starts_with(' ')).then_some(cells)
    });
    let audited = kernel.iter().map(|record| {
        let plan = plans
            .iter()
            .find(|p| p.pid == record.pid)
            .expect("records are of the workloads' pids");
        let call = plan
            .expect
            .iter()
            .find(|e| u64::from(e.syscall_nr) == record.syscall)
            .unwrap_or_else(|| panic!("{} did not plan the call of {record:?}", plan.scenario));
        vec![
            record.pid.to_string(),
            call.tid.to_string(),
            record.comm.clone().unwrap_or_else(|| setup.workload.comm()),
            call.syscall.clone(),
            action_name(record.code).unwrap_or("?").to_owned(),
        ]
    });
    let tally = Tally::count(audited, rows);
    assert!(
        tally.is_exact(),
        "the rows for the workloads differ from the kernel's audit records:\n{}\nstdout:\n{stdout}",
        tally.table(&DEFAULT_HEADER[1..], "kernel", "tracer", Clone::clone)
    );
}

/// Everything a tracer printed on stderr, read on a thread of its own.
fn read_stderr(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().expect("stderr is piped");
    let shared = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            shared.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    lines
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => panic!("waiting for tracer: {error}"),
        }
    }
    None
}

/// `tracer | head -1`: once the reader is gone, the next event ends tracer with exit 0, and it
/// says nothing about it: no error, no broken pipe, no summary.
#[test]
fn closed_stdout_ends_tracer_quietly() {
    let setup = setup();
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let mut command = Tracer::command(
        &setup.tracer_bin,
        &["audit", "seccomp", "--probe", &setup.probe, "--host"],
    );
    let description = format!("{command:?}");
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {description}: {error}"));
    let stderr = read_stderr(&mut child);
    let stderr_text = || stderr.lock().unwrap_or_else(|e| e.into_inner()).join("\n");

    // The header is written once the hook is attached; then the only reader goes away.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (sender, first_line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut byte = [0];
        let mut line = Vec::new();
        while stdout.read(&mut byte).is_ok_and(|read| read == 1) && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let _ = sender.send((String::from_utf8_lossy(&line).into_owned(), stdout));
    });
    let Ok((header, stdout)) = first_line.recv_timeout(ATTACH_TIMEOUT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{description} printed no header within {ATTACH_TIMEOUT:?}; stderr:\n{}",
            stderr_text()
        );
    };
    drop(stdout);
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        DEFAULT_HEADER,
        "{description} did not start with the columns header; stderr:\n{}",
        stderr_text()
    );

    let mut audit = AuditLog::from_now();
    let run = setup.workload.run(&["log"]);
    run.assert_ended_as_planned();
    let pid = run.plan.pid;
    let expected = run.plan.expected_events() as usize;
    assert!(
        audit.wait_for(EVENT_TIMEOUT, |records| {
            records.iter().filter(|r| r.pid == pid).count() >= expected
        }),
        "the kernel audited no call of the workload, so tracer had nothing to write: {:?}",
        audit.records
    );
    let Some(status) = wait_with_timeout(&mut child, EVENT_TIMEOUT + STOP_TIMEOUT) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{description} kept running after its stdout was closed and an event was due on it; \
             stderr:\n{}",
            stderr_text()
        );
    };
    // Give the reader thread the last lines: the pipe has closed with the process.
    std::thread::sleep(Duration::from_millis(200));
    let stderr = stderr_text();
    assert!(
        status.success(),
        "{description} ended with {status} once its stdout was closed; stderr:\n{stderr}"
    );
    let noisy: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            let lower = line.to_lowercase();
            ["error", "panic", "pipe"]
                .iter()
                .any(|word| lower.contains(word))
                || parse_summary(line).is_some()
        })
        .collect();
    assert!(
        noisy.is_empty(),
        "{description} did not end quietly when its reader went away: {noisy:?}; \
         stderr:\n{stderr}"
    );
}

/// `--timeout` ends a run by itself, like SIGINT: every event of the run printed, the summary
/// on stderr, exit 0, and not before the time is up.
#[test]
fn timeout_ends_tracer_by_itself_with_its_summary() {
    let setup = setup();
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let timeout = Duration::from_secs(TIMEOUT_SECS);
    let spawned = Instant::now();
    let tracer = start_tracer(&setup, &["--timeout", &TIMEOUT_SECS.to_string()]);
    let attached = Instant::now();
    let mut audit = AuditLog::from_now();

    let started = Utc::now();
    let runs = run_all(&setup.workload, &[&["log"], &["kill-process"]]);
    let ended = Utc::now();
    // The time runs from about the attach line: a second of slack for reading it.
    assert!(
        attached.elapsed() + Duration::from_secs(1) < timeout,
        "the workloads ended {:?} after tracer attached, too close to its --timeout: raise \
         TIMEOUT_SECS",
        attached.elapsed()
    );
    let (pids, expected) = pids_and_expected(&runs);
    audit.wait_for(EVENT_TIMEOUT, |records| {
        records.iter().filter(|r| pids.contains(&r.pid)).count() >= expected
    });
    let finished = tracer.wait_exit(timeout + STOP_TIMEOUT);
    let lasted = spawned.elapsed();
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
    assert!(
        lasted >= timeout,
        "tracer exited {lasted:?} after it started, before its --timeout of {timeout:?}; \
         stderr:\n{}",
        finished.stderr_text()
    );
    let summary_line = finished
        .stderr
        .iter()
        .rev()
        .find(|line| parse_summary(line).is_some());
    assert!(
        summary_line.is_some_and(|line| line.starts_with("tracer: ") && line.contains(" shown")),
        "no `tracer: N events delivered, M lost, K shown` line on stderr; stderr:\n{}",
        finished.stderr_text()
    );
    let summary = finished.expect_summary();
    assert_eq!(
        summary.delivered,
        finished.events.len() as u64,
        "the summary counts {} events delivered but {} were printed, and --host prints all",
        summary.delivered,
        finished.events.len()
    );
    let notes = format!(
        "tracer summary: {summary:?}\ntracer stderr:\n{}",
        finished.stderr_text()
    );
    assert_events_match_kernel(
        &setup,
        &runs,
        &audit,
        &finished.events,
        (started, ended),
        &notes,
    );
}

/// What every test of the details does: one tracer with `extra` arguments, the scenarios (those
/// in `under_sh` as children of a shell), then every event of theirs held to the kernel's
/// records and to what the workloads said they did. Returns the runs and tracer's events.
fn details_match_the_truth(
    setup: &Setup,
    extra: &[&str],
    direct: &[&[&str]],
    under_sh: &[&[&str]],
) -> (Vec<Run>, Vec<TracerEvent>) {
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let all_denials = extra.contains(&"--all-denials");
    let tracer = start_tracer(setup, extra);
    let mut audit = AuditLog::from_now();

    let started = Utc::now();
    let mut runs = run_all(&setup.workload, direct);
    for args in under_sh {
        let run = setup.workload.run_as_child_of_sh(args);
        run.assert_ended_as_planned();
        runs.push(run);
    }
    let ended = Utc::now();

    let (pids, audited) = pids_and_expected(&runs);
    let unaudited: usize = runs
        .iter()
        .flat_map(|r| &r.plan.unaudited)
        .map(|e| e.count as usize)
        .sum();
    let reported = audited + if all_denials { unaudited } else { 0 };
    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        of_pids(events, &pids).count() >= reported
    });
    audit.wait_for(EVENT_TIMEOUT, |records| {
        records.iter().filter(|r| pids.contains(&r.pid)).count() >= audited
    });
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
    let summary = finished.expect_summary();
    let notes = format!(
        "tracer summary: {summary:?}\nevents of the workloads:\n{}\ntracer stderr:\n{}",
        of_pids(&finished.events, &pids)
            .map(|e| format!("  {e:?}"))
            .collect::<Vec<_>>()
            .join("\n"),
        finished.stderr_text()
    );
    assert_events_match(
        setup,
        &runs,
        &audit,
        &finished.events,
        (started, ended),
        all_denials,
        &notes,
    );
    let events = of_pids(&finished.events, &pids).cloned().collect();
    (runs, events)
}

/// Four calls refused with four errnos (EACCES, EPERM, ENOSYS, EXDEV), audited through the
/// filter's log flag: each event's `errno` and `errno_name` are what the caller got back,
/// which the kernel's record (`code=0x50000`) does not say.
#[test]
fn errno_is_what_each_refused_caller_got() {
    let setup = setup();
    let (runs, events) = details_match_the_truth(&setup, &[], &[&["errnos"]], &[]);
    let got: Vec<(String, Option<i32>)> = runs[0]
        .returned
        .iter()
        .map(|r| (r.syscall.clone(), r.errno))
        .collect();
    let mut reported: Vec<(String, Option<i32>)> = events
        .iter()
        .map(|e| (e.syscall.clone(), e.errno))
        .collect();
    reported.sort();
    let mut expected = got.clone();
    expected.sort();
    assert_eq!(
        reported, expected,
        "(call, errno) as tracer reported them, and as the workload got them"
    );
}

/// The argument-register scenarios: x86-64's `syscall` and i386's `int $0x80` (ebx, ecx, edx,
/// esi, edi, ebp). arm64 has its `svc` (x0 to x5) only: its compat calls are the arm32
/// program's, which makes no call with arguments.
#[cfg(target_arch = "x86_64")]
const ARGS_SCENARIOS: &[&[&str]] = &[&["args"], &["args-i386"]];
#[cfg(target_arch = "aarch64")]
const ARGS_SCENARIOS: &[&[&str]] = &[&["args"]];

/// A refused getpriority made with a sentinel in each of the six argument registers
/// ([`ARGS_SCENARIOS`]): `args` are those values exactly, including ones above 2^53 and 2^63
/// (on arm64 the first is `orig_x0`, as the refusal's errno overwrote x0), and `ip` is the
/// address after the instruction, as the kernel's ip= says.
#[test]
fn args_are_the_registers_the_call_was_made_with() {
    let setup = setup();
    let (runs, events) = details_match_the_truth(&setup, &[], ARGS_SCENARIOS, &[]);
    for run in &runs {
        let expected = &run.plan.expect[0];
        let event = events
            .iter()
            .find(|e| e.pid == run.plan.pid)
            .unwrap_or_else(|| panic!("no event of {}", run.plan.scenario));
        assert_eq!(
            event.args.as_deref(),
            expected.details.args.as_ref().map(|a| &a[..]),
            "args of {}",
            run.plan.scenario
        );
        assert_eq!(
            event.ip,
            run.returned(expected).ip,
            "ip of {}",
            run.plan.scenario
        );
    }
}

/// Refused path calls: a short relative path from AT_FDCWD is reported exactly with dirfd
/// -100, one over 300 bytes cut to its first 255 with `path_truncated`, an absolute path with
/// a null dirfd, and a path relative to an open directory with that descriptor.
#[test]
fn paths_are_cut_at_255_bytes_and_carry_their_dirfd() {
    let setup = setup();
    let (runs, events) = details_match_the_truth(&setup, &[], &[&["long-path"]], &[]);
    let long = events
        .iter()
        .find(|e| e.syscall == "openat")
        .unwrap_or_else(|| panic!("no openat event of {:?}", runs[0].plan));
    assert_eq!(
        (long.path.as_ref().map(String::len), long.path_truncated),
        (Some(255), Some(true)),
        "the long path's length and truncation: {long:?}"
    );
}

/// A process that seccomp kills (the whole process) on its first filtered call is gone when
/// tracer reads its event: its `exe`, `cmdline` and `parent_comm` must have been taken while
/// it ran, and its ns ids are those of the host's pid namespace.
#[test]
fn a_process_killed_at_once_keeps_its_exe_cmdline_and_parent() {
    let setup = setup();
    let tag = format!("--tag=killed-at-once-{}", std::process::id());
    let (runs, events) = details_match_the_truth(&setup, &[], &[], &[&["killed-at-once", &tag]]);
    let run = &runs[0];
    let event = events.first().expect("the kill was reported");
    let exe = std::fs::canonicalize(&setup.workload.path).expect("the workload exists");
    assert_eq!(event.exe.as_deref(), exe.to_str(), "exe of {event:?}");
    assert_eq!(
        event.cmdline,
        Some(format!(
            "{} killed-at-once {tag}",
            setup.workload.path.display()
        )),
        "cmdline of {event:?}"
    );
    assert_eq!(event.parent_comm.as_deref(), Some("sh"), "{event:?}");
    assert_eq!(event.ppid, run.parent, "the parent is the shell: {event:?}");
}

/// With `--all-denials`, a call refused with ERRNO and one trapped by a filter without the log
/// flag (which the kernel never audits) are reported once each, from `syscall-exit`, with the
/// errno or as a trap; a call the kernel itself failed with EPERM is not reported; and calls
/// the kernel did audit, a trap among them, are reported once each, not once per way tracer
/// saw them.
#[test]
fn all_denials_reports_unaudited_refusals_once_and_kernel_failures_never() {
    let setup = setup();
    let (runs, events) = details_match_the_truth(
        &setup,
        &["--all-denials"],
        &[&["unaudited"], &["trap"], &["errnos"], &["long-path"]],
        &[],
    );
    let of = |run: &Run| -> Vec<_> {
        events
            .iter()
            .filter(|e| e.pid == run.plan.pid)
            .map(|e| {
                (
                    e.syscall.as_str(),
                    e.source.as_str(),
                    e.code.as_str(),
                    e.code_raw & 0xffff_0000,
                    e.errno_name.as_deref(),
                    e.signal.as_deref(),
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    assert_eq!(
        of(&runs[0]),
        [
            ("getpgid", "syscall-exit", "trap", 0x0003_0000, None, None),
            (
                "mkdirat",
                "syscall-exit",
                "errno",
                0x0005_0000,
                Some("EROFS"),
                None
            ),
        ],
        "the unaudited workload's events"
    );
    let probe = setup.probe.as_str();
    assert_eq!(
        of(&runs[1]),
        [("getpgid", probe, "trap", 0x0003_0000, None, None)],
        "an audited trap goes out once, from the audit hook"
    );
}
