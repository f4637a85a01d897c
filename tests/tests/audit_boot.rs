//! The audit source on a kernel booted with `audit=1` and no audit daemon: such a kernel holds
//! records for a daemon to come, up to its backlog limit, and counts every record past that as
//! lost after it has delivered it to tracer. tracer must deliver every record, report none of
//! them lost, and report the kernel's count apart. `cargo xtask vm-test` runs this in a boot of
//! its own, with `audit=1` on the kernel's command line.

use std::time::Duration;

use tracer_integration_tests::{
    env,
    tracer::{RunningCount, Tracer, TracerEvent},
    workload::Workload,
};

const HOW_TO_RUN: &str = "run this with `cargo xtask vm-test`, which boots a kernel with audit=1 \
    and sets TRACER_BIN and SECCOMP_WORKLOAD";
/// Far past the kernel's default backlog limit of 64 held records.
const CALLS: usize = 500;

#[test]
fn records_the_kernel_counts_lost_but_delivered_are_not_reported_as_lost() {
    env::require_root(HOW_TO_RUN);
    let cmdline = std::fs::read_to_string("/proc/cmdline").expect("reading /proc/cmdline");
    assert!(
        cmdline.split_whitespace().any(|word| word == "audit=1"),
        "the kernel must be booted with audit=1 ({cmdline:?}): {HOW_TO_RUN}"
    );
    let tracer_bin = env::required_file("TRACER_BIN", HOW_TO_RUN);
    let workload = Workload::new(env::required_file("SECCOMP_WORKLOAD", HOW_TO_RUN));

    let tracer = Tracer::start(
        &tracer_bin,
        &[
            "audit",
            "seccomp",
            "--probe",
            "audit",
            "-o",
            "json",
            "--host",
            "-r",
            "docker",
            "--docker-socket",
            "/nonexistent",
        ],
    );
    assert_eq!(tracer.wait_attached(), "audit");
    let calls = CALLS.to_string();
    let run = workload.run(&["burst", &calls]);
    run.assert_ended_as_planned();
    let pid = run.plan.pid;
    let mut count = RunningCount::new(|e: &TracerEvent| e.pid == pid);
    tracer.wait_for_events(Duration::from_secs(60), |events| {
        count.update(events) >= CALLS
    });
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let summary = finished.expect_summary();
    let delivered = finished.events.iter().filter(|e| e.pid == pid).count();
    let context = format!("{summary:?}; stderr:\n{}", finished.stderr_text());
    assert_eq!(
        delivered, CALLS,
        "not every record was delivered: {context}"
    );
    assert_eq!(
        summary.lost, 0,
        "delivered records reported as lost: {context}"
    );
    assert!(
        summary.kernel_lost_but_delivered > 0,
        "the kernel's count of records it held no room for was not reported apart: {context}"
    );
}
