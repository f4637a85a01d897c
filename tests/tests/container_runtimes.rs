//! Naming containers of runtimes other than Docker alone — a standalone containerd with `ctr`,
//! podman's Docker-compatible API, Docker with its own containerd, and `-r auto` — against the
//! real daemons, on this machine's kernel (the audit source). `cargo xtask test` sets
//! TRACER_BIN and SECCOMP_WORKLOAD; `cargo xtask setup` installs containerd and podman. Each
//! test starts the daemons it needs, with state of their own, and removes their containers.
//!
//! `cargo xtask vm-test` also runs the standalone containerd's naming scenario in its x86-64
//! guests (`initramfs::GUEST_RUNTIME_TESTS`), with the eBPF hook TRACER_PROBE names and the
//! `ctr` arguments TRACER_CTR_RUN_ARGS adds.

use std::sync::Mutex;

use tracer_integration_tests::{env, runtimes::RuntimeScenarios, workload::Workload};

const HOW_TO_RUN: &str = "run these tests as root with TRACER_BIN and SECCOMP_WORKLOAD set to \
    built tracer and seccomp-workload binaries, or through `cargo xtask test`";

/// Each scenario starts its own daemons, and compares with the kernel's log: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn scenario(test: impl FnOnce(&RuntimeScenarios)) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    env::require_root(HOW_TO_RUN);
    let tracer = env::required_file("TRACER_BIN", HOW_TO_RUN);
    let probe = std::env::var("TRACER_PROBE").unwrap_or_else(|_| "audit".to_owned());
    let workload = Workload::new(env::required_file("SECCOMP_WORKLOAD", HOW_TO_RUN));
    test(&RuntimeScenarios {
        tracer: &tracer,
        probe: &probe,
        workload: &workload,
    });
}

#[test]
fn names_containerd_containers_in_every_namespace_with_their_pods() {
    scenario(|s| s.names_containerd_containers_in_every_namespace_with_their_pods());
}

#[test]
fn survives_containerd_frozen_stopped_and_restarted_with_one_warning() {
    scenario(|s| s.survives_containerd_frozen_stopped_and_restarted_with_one_warning());
}

#[test]
fn asks_containerd_about_a_container_a_bounded_number_of_times() {
    scenario(|s| s.asks_containerd_about_a_container_a_bounded_number_of_times());
}

#[test]
fn names_a_docker_container_once_with_dockers_name() {
    scenario(|s| s.names_a_docker_container_once_with_dockers_name());
}

#[test]
fn auto_asks_the_runtimes_whose_sockets_exist() {
    scenario(|s| s.auto_asks_the_runtimes_whose_sockets_exist());
}

#[test]
fn names_podman_containers_through_its_docker_api() {
    scenario(|s| s.names_podman_containers_through_its_docker_api());
}
