//! Container scenarios against a real dockerd with an eBPF hook (fentry or kprobe), inside the VM
//! lab: `cargo xtask vm-test` sets TRACER_BIN, SECCOMP_WORKLOAD, TRACER_PROBE and
//! TRACER_DOCKERD_ARGS and starts nothing else; the tests start dockerd themselves.

use std::sync::Mutex;

use tracer_integration_tests::{containers::Scenarios, env, workload::Workload};

const HOW_TO_RUN: &str = "run these tests with `cargo xtask vm-test`, which boots kernels with \
    kprobes and fentry under qemu and sets TRACER_BIN, SECCOMP_WORKLOAD and TRACER_PROBE";

/// Each scenario starts its own dockerd: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn containers(test: impl FnOnce(&Scenarios)) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    env::require_root(HOW_TO_RUN);
    let tracer = env::required_file("TRACER_BIN", HOW_TO_RUN);
    let probe = env::required_var("TRACER_PROBE", HOW_TO_RUN);
    let workload = Workload::new(env::required_file("SECCOMP_WORKLOAD", HOW_TO_RUN));
    test(&Scenarios {
        tracer: &tracer,
        probe: &probe,
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

#[test]
fn stops_at_once_and_prints_events_while_dockerd_is_frozen() {
    containers(|s| s.stops_at_once_and_prints_events_while_dockerd_is_frozen());
}

#[test]
fn shows_every_wanted_kill_when_an_unwanted_containers_namespace_is_reused() {
    containers(|s| s.shows_every_wanted_kill_when_an_unwanted_containers_namespace_is_reused());
}

#[test]
fn shows_a_host_process_in_its_own_mount_namespace_only_with_host() {
    containers(|s| s.shows_a_host_process_in_its_own_mount_namespace_only_with_host());
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
