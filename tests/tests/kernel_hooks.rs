//! tracer's kernel hooks against the kernel's own audit records, on a kernel where the hook
//! under test can attach: `cargo xtask vm-test` boots stock kernels under qemu and runs these
//! as root with TRACER_BIN, SECCOMP_WORKLOAD and TRACER_PROBE (fentry or kprobe) set.

use std::{sync::Mutex, time::Duration};

use chrono::Utc;
use tracer_integration_tests::{
    env,
    kmsg::{AuditLog, UnlimitedPrintk},
    oracle::{Context, Report},
    plan::Plan,
    tracer::{Tracer, TracerEvent},
    workload::{Run, Workload},
};

const HOW_TO_RUN: &str = "run these tests with `cargo xtask vm-test`, which boots kernels with \
    kprobes and fentry under qemu and sets TRACER_BIN, SECCOMP_WORKLOAD and TRACER_PROBE";

/// Every scenario, each in its own process, so each pid stands for one action.
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

/// Events of the workloads arrive within milliseconds; this only bounds a failing run.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls in the overflow test: far more than a 4 KiB ring buffer holds (about 45 events).
const BURST_CALLS: u32 = 2000;

/// One tracer at a time: every tracer sees every process's events, and the lost count is
/// global, so a test running beside another would count the other's events.
static ONE_TRACER: Mutex<()> = Mutex::new(());

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

#[test]
fn every_action_matches_the_kernel_audit_record() {
    let setup = setup();
    let _one = ONE_TRACER.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let tracer = start_tracer(&setup, &[]);
    let mut audit = AuditLog::from_now();

    let started = Utc::now();
    let runs: Vec<Run> = SCENARIOS
        .iter()
        .map(|args| {
            let run = setup.workload.run(args);
            run.assert_ended_as_planned();
            run
        })
        .collect();
    let ended = Utc::now();

    let plans: Vec<&Plan> = runs.iter().map(|r| &r.plan).collect();
    let pids: Vec<u32> = plans.iter().map(|p| p.pid).collect();
    let expected = plans.iter().map(|p| p.expected_events()).sum::<u32>() as usize;
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
    assert!(
        audit.unparsable.is_empty(),
        "the kernel wrote seccomp audit records this parser cannot read: {:?}",
        audit.unparsable
    );

    let kernel: Vec<_> = audit.of_pids(&pids).collect();
    let seen: Vec<_> = of_pids(&finished.events, &pids).collect();
    let context = Context {
        source: setup.probe.clone(),
        comm: setup.workload.comm(),
        ppid: std::process::id(),
        mntns_id: env::mount_namespace(),
        node: env::hostname(),
        started,
        ended,
    };
    let notes = format!(
        "workload pids: {}\ntracer summary: {summary:?}; kmsg records overwritten before they \
         were read: {}\ntracer stderr:\n{}",
        runs.iter()
            .map(|r| format!("{}={}", r.plan.scenario, r.plan.pid))
            .collect::<Vec<_>>()
            .join(" "),
        audit.overwritten(),
        finished.stderr_text()
    );
    Report::new(&plans, &kernel, &seen, &context).assert_ok(&notes);
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
    let delivered = finished.events.iter().filter(|e| e.pid == pid).count() as u64;
    let others = finished.events.len() as u64 - delivered;

    assert!(
        summary.lost > 0,
        "{BURST_CALLS} calls did not overflow a 4096-byte ring buffer ({summary:?}); the test \
         needs a larger burst on this machine"
    );
    assert_eq!(
        delivered + summary.lost,
        u64::from(BURST_CALLS),
        "events delivered for the workload ({delivered}) plus lost ({}) should be the {BURST_CALLS} \
         calls it made ({others} events of other processes were delivered); stderr:\n{}",
        summary.lost,
        finished.stderr_text()
    );
    assert_eq!(
        summary.delivered,
        finished.events.len() as u64,
        "the summary counts {} events delivered but {} were printed, and --host prints all",
        summary.delivered,
        finished.events.len()
    );
    for event in finished.events.iter().filter(|e| e.pid == pid) {
        assert_eq!(
            (
                event.syscall.as_str(),
                event.code.as_str(),
                event.arch.as_str()
            ),
            ("getppid", "log", "x86_64"),
            "burst event {event:?}"
        );
    }
}
