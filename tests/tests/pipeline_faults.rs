//! How tracer's pipeline holds up when its surroundings misbehave, on this machine's kernel with
//! the audit source: a tracer that cannot read for a while, a receive buffer too small for a
//! burst, a reader that stops reading its stdout, a dockerd that stops answering, reused
//! namespace numbers, containers Docker does not know, host processes in namespaces of their
//! own. What tracer cannot deliver it must count as lost or unwritten, never drop silently, and
//! SIGINT must end it within a second whatever happens around it. Run as root.

use std::{
    path::PathBuf,
    sync::Mutex,
    time::{Duration, Instant},
};

use nix::sys::signal::Signal;
use tracer_integration_tests::{
    containers::Scenarios,
    env,
    faults::{STOP_LIMIT, STOP_PATIENCE},
    kmsg::wait_audit_queue_empty,
    tracer::{Finished, STOP_TIMEOUT, Tracer, TracerEvent},
    workload::Workload,
};

const HOW_TO_RUN: &str = "run these tests as root with TRACER_BIN set to a release build of \
    tracer (`cargo build --release -p tracer`) and SECCOMP_WORKLOAD to the workload \
    (`cargo build -p tracer-integration-tests --bin seccomp-workload`)";
const BURST_CALLS: u32 = 20_000;
/// Each test reads the kernel's audit records or starts daemons: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// tracer's arguments for the host's processes, with no runtime to ask.
const HOST_ONLY: [&str; 7] = [
    "-o",
    "json",
    "--host",
    "-r",
    "docker",
    "--docker-socket",
    "/nonexistent",
];

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

fn audit_args(args: &[&str]) -> Vec<String> {
    ["audit", "seccomp", "--probe", "audit"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

fn start(args: &[&str]) -> Tracer {
    let args = audit_args(args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tracer = Tracer::start(&tracer_bin(), &args);
    assert_eq!(tracer.wait_attached(), "audit");
    tracer
}

/// Runs a burst of logged calls; returns the workload's pid.
fn burst(workload: &Workload) -> u32 {
    let calls = BURST_CALLS.to_string();
    let run = workload.run(&["burst", &calls]);
    run.assert_ended_as_planned();
    run.plan.pid
}

fn events_of(finished: &Finished, pid: u32) -> u64 {
    finished.events.iter().filter(|e| e.pid == pid).count() as u64
}

/// tracer stopped (SIGSTOP) while a burst is audited, then SIGINT and SIGCONT: on stop it must
/// drain what the socket holds, and count what did not fit as lost. Ten times in a row, since
/// the outcome depends on how reading, the signal and the stop interleave.
#[test]
fn a_tracer_stopped_during_a_burst_delivers_or_counts_every_record_when_it_ends() {
    const ROUNDS: usize = 10;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let workload = workload();
    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        let mut tracer = start(&HOST_ONLY);
        tracer.signal(Signal::SIGSTOP);
        tracer.wait_stopped(Duration::from_secs(5));
        let pid = burst(&workload);
        wait_audit_queue_empty();
        tracer.signal(Signal::SIGINT);
        tracer.signal(Signal::SIGCONT);
        let sent = Instant::now();
        let exited = tracer.wait_process_exit(STOP_TIMEOUT);
        let finished = tracer.finish();
        let Some(exited) = exited else {
            panic!(
                "round {round} of {ROUNDS}: tracer was still running {STOP_TIMEOUT:?} after \
                 SIGINT and SIGCONT; killed it. Earlier rounds (delivered, lost): {rounds:?}; \
                 stderr:\n{}",
                finished.stderr_text()
            );
        };
        // A tracer that says it is attached must already handle SIGINT.
        assert!(
            finished.status.success(),
            "round {round} of {ROUNDS}: tracer exited with {} on SIGINT after it had said it was \
             attached; earlier rounds (delivered, lost): {rounds:?}; stderr:\n{}",
            finished.status,
            finished.stderr_text()
        );
        let summary = finished.expect_summary();
        let delivered = events_of(&finished, pid);
        rounds.push((delivered, summary.lost));
        // What the sink could not write by the stop's deadline is counted as unwritten, by
        // event, not by process: the workload's calls lie between what was printed or lost and
        // that plus every unwritten event.
        let accounted = delivered + summary.lost;
        assert!(
            (accounted..=accounted + summary.unwritten).contains(&u64::from(BURST_CALLS)),
            "round {round} of {ROUNDS}: {delivered} events of the workload delivered + {} \
             counted lost (+ {} unwritten) do not account for its {BURST_CALLS} calls (exited \
             {:?} after SIGINT); summary {summary:?}; earlier rounds (delivered, lost): {:?}; \
             stderr:\n{}",
            summary.lost,
            summary.unwritten,
            exited.duration_since(sent),
            &rounds[..rounds.len() - 1],
            finished.stderr_text()
        );
    }
}

/// A receive buffer far too small for a burst (4 KiB): the kernel drops records at the socket,
/// and tracer must count each one it lost. tracer is held (SIGSTOP) during the burst, since a
/// fast enough reader keeps even 4 KiB from overflowing; it reads again before it is stopped.
#[test]
fn a_tiny_receive_buffer_loses_records_and_counts_each_one() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut args = HOST_ONLY.to_vec();
    args.extend(["--audit-receive-buffer", "4096"]);
    let tracer = start(&args);
    tracer.signal(Signal::SIGSTOP);
    tracer.wait_stopped(Duration::from_secs(5));
    let pid = burst(&workload());
    wait_audit_queue_empty();
    tracer.signal(Signal::SIGCONT);
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let summary = finished.expect_summary();
    let delivered = events_of(&finished, pid);
    assert!(
        summary.lost > 0,
        "{BURST_CALLS} calls did not overflow a 4096-byte receive buffer of a stopped tracer \
         ({delivered} events delivered, {summary:?})"
    );
    assert_eq!(
        delivered + summary.lost,
        u64::from(BURST_CALLS),
        "{delivered} events of the workload delivered + {} counted lost != its {BURST_CALLS} \
         calls; summary {summary:?}; stderr:\n{}",
        summary.lost,
        finished.stderr_text()
    );
}

/// tracer's stdout is a pipe nobody reads for 5 s while a burst is audited: SIGINT must still
/// end tracer within a second, and every call must be printed, or counted lost (the kernel
/// dropped it) or unwritten (stdout could not take it).
#[test]
fn a_stdout_nobody_reads_delays_neither_sigint_nor_the_count() {
    const UNREAD: Duration = Duration::from_secs(5);
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let workload = workload();
    let args = audit_args(&HOST_ONLY);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut tracer = Tracer::spawn_with_stdout_unread(Tracer::command(&tracer_bin(), &args));
    assert_eq!(tracer.wait_attached(), "audit");
    let unread_since = Instant::now();
    let pid = burst(&workload);
    wait_audit_queue_empty();
    // By now the pipe (about 64 KiB, a few hundred events) has long been full.
    std::thread::sleep(
        (unread_since + Duration::from_secs(2)).saturating_duration_since(Instant::now()),
    );

    let sent = Instant::now();
    tracer.signal(Signal::SIGINT);
    // Nobody reads until 5 s after attaching, and at least 2 s after SIGINT.
    let read_from = (unread_since + UNREAD).max(sent + 2 * STOP_LIMIT);
    let mut exited = tracer.wait_process_exit(read_from.saturating_duration_since(Instant::now()));
    tracer.release_stdout();
    if exited.is_none() {
        exited = tracer.wait_process_exit(STOP_PATIENCE);
    }
    let exited_after = exited.map(|at| at.duration_since(sent));
    let finished = tracer.finish();
    let summary = finished.summary();
    let delivered = events_of(&finished, pid);
    let (lost, unwritten) = summary.map_or((0, 0), |s| (s.lost, s.unwritten));
    let context = format!(
        "{}; {delivered} events of the workload printed, {lost} counted lost, {unwritten} \
         unwritten, of its {BURST_CALLS} calls; summary {summary:?}; stderr:\n{}",
        match exited_after {
            Some(after) => format!(
                "tracer exited {after:?} after SIGINT with {}",
                finished.status
            ),
            None => format!(
                "tracer was still running {:?} after SIGINT and was killed",
                read_from.saturating_duration_since(sent) + STOP_PATIENCE
            ),
        },
        finished.stderr_text()
    );
    assert!(
        exited_after.is_some_and(|after| after <= STOP_LIMIT),
        "SIGINT did not end tracer within {STOP_LIMIT:?} while its stdout was not read: {context}"
    );
    finished.assert_stopped_cleanly();
    assert!(summary.is_some(), "no summary: {context}");
    assert_eq!(
        delivered + lost + unwritten,
        u64::from(BURST_CALLS),
        "calls neither printed nor counted: {context}"
    );
    let others = finished
        .events
        .iter()
        .filter(|e: &&TracerEvent| e.pid == pid && e.syscall != "getppid")
        .count();
    assert_eq!(others, 0, "the burst makes only getppid calls: {context}");
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
fn stops_at_once_and_prints_events_while_dockerd_is_frozen() {
    containers(|s| s.stops_at_once_and_prints_events_while_dockerd_is_frozen());
}

#[test]
fn recording_stops_at_once_while_dockerd_is_frozen() {
    containers(|s| s.recording_stops_at_once_while_dockerd_is_frozen());
}

#[test]
fn shows_every_wanted_kill_when_an_unwanted_containers_namespace_is_reused() {
    containers(|s| s.shows_every_wanted_kill_when_an_unwanted_containers_namespace_is_reused());
}

#[test]
fn asks_docker_about_a_container_it_does_not_know_at_most_twice() {
    containers(|s| s.asks_docker_about_a_container_it_does_not_know_at_most_twice());
}

#[test]
fn shows_a_host_process_in_its_own_mount_namespace_only_with_host() {
    containers(|s| s.shows_a_host_process_in_its_own_mount_namespace_only_with_host());
}
