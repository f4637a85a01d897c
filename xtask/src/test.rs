//! `test`: the whole suite, step by step. A failed step does not stop the ones after it, so one
//! run reports every failure.

use std::time::Instant;

use anyhow::Result;
use clap::Args;

use crate::{cargo, process, setup, vm_test};

/// The integration tests that run on this host's own kernel: its hooks' errors, and the audit
/// fallback source against a real dockerd and auditd.
const HOST_TEST_TARGETS: &[&str] = &["host_kernel", "audit_fallback"];

#[derive(Args)]
pub struct Options {
    /// Keep the VM tests' scratch files under target/xtask.
    #[arg(long)]
    keep: bool,
}

enum Status {
    Passed,
    Failed(String),
    Skipped(&'static str),
}

/// Runs every step and prints a summary; true when none failed.
pub fn run(options: &Options) -> Result<bool> {
    let vm_tests = || vm_tests(options.keep);
    let steps: [(&str, &dyn Fn() -> Result<Status>); 7] = [
        ("setup", &|| passed(setup::run())),
        ("format", &|| passed(format())),
        ("clippy", &clippy),
        ("unit tests", &|| passed(unit_tests())),
        ("benches build", &|| passed(benches_build())),
        ("host tests", &|| passed(host_tests())),
        ("vm tests", &vm_tests),
    ];

    let mut results = Vec::new();
    for (name, step) in &steps {
        println!("==> {name}");
        let started = Instant::now();
        let status = step().unwrap_or_else(|err| Status::Failed(format!("{err:#}")));
        let seconds = started.elapsed().as_secs_f64();
        match &status {
            Status::Passed => println!("<== {name}: passed ({seconds:.1} s)"),
            Status::Failed(reason) => println!("<== {name}: FAILED ({seconds:.1} s): {reason}"),
            Status::Skipped(reason) => println!("<== {name}: skipped: {reason}"),
        }
        results.push((*name, status, seconds));
    }

    println!();
    let mut failed = 0;
    for (name, status, seconds) in &results {
        let shown = match status {
            Status::Passed => "passed",
            Status::Failed(_) => {
                failed += 1;
                "FAILED"
            }
            Status::Skipped(_) => "skipped",
        };
        println!("{name:<16}{shown:<10}{seconds:>7.1} s");
    }
    let passed = results
        .iter()
        .filter(|(_, status, _)| matches!(status, Status::Passed))
        .count();
    println!("suite: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

fn passed(result: Result<()>) -> Result<Status> {
    result.map(|()| Status::Passed)
}

fn format() -> Result<()> {
    process::run(cargo::cargo().args(["fmt", "--all", "--check"]))
}

fn clippy() -> Result<Status> {
    if !process::succeeds(cargo::cargo().args(["clippy", "--version"])) {
        return Ok(Status::Skipped("clippy is not installed"));
    }
    // tracer-ebpf only builds for the BPF target, which tracer's build script takes care of.
    process::run(cargo::cargo().args([
        "clippy",
        "--workspace",
        "--exclude",
        "tracer-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    Ok(Status::Passed)
}

fn unit_tests() -> Result<()> {
    process::run(cargo::cargo().arg("test"))
}

fn benches_build() -> Result<()> {
    process::run(cargo::cargo().args(["bench", "--package", "tracer", "--no-run"]))
}

/// The integration tests that run against this host's own kernel, as root.
fn host_tests() -> Result<()> {
    let tracer = cargo::build_tracer(false)?;
    let workload = cargo::build_workload()?;
    let mut cmd = cargo::cargo();
    cmd.args(["test", "--package", cargo::TESTS_PACKAGE]);
    for target in HOST_TEST_TARGETS {
        cmd.args(["--test", target]);
    }
    cmd
        // Cargo reports executables by absolute path, as the tests need them.
        .env("TRACER_BIN", &tracer)
        .env("SECCOMP_WORKLOAD", &workload);
    if !process::is_root() {
        // Only the test executable needs root, not the build: cargo runs it through this.
        let runner = format!(
            "CARGO_TARGET_{}_UNKNOWN_LINUX_GNU_RUNNER",
            std::env::consts::ARCH.to_uppercase()
        );
        cmd.env(runner, "sudo --preserve-env=TRACER_BIN,SECCOMP_WORKLOAD");
    }
    process::run(&mut cmd)
}

fn vm_tests(keep: bool) -> Result<Status> {
    Ok(if vm_test::run(&vm_test::Options::all(keep))? {
        Status::Passed
    } else {
        Status::Failed("some kernel × probe runs failed".into())
    })
}
