//! `test`: the whole suite, step by step. A failed step does not stop the ones after it, so one
//! run reports every failure. The closing line counts tests: those libtest reported in every
//! cargo test run and in every VM, plus one failure for each step that failed without a failing
//! test to show for it (formatting, lints, a build, a broken VM).

use std::{collections::BTreeSet, process::Command, time::Instant};

use anyhow::Result;
use clap::Args;

use crate::{
    bench, cargo,
    libtest::{self, Counts, Tally, TestId},
    package, process, setup, vm_test,
};

/// The integration tests that run on this host's own kernel: its hooks' errors, and the audit
/// fallback source against a real dockerd and auditd; containerd and podman beside it.
const HOST_TEST_TARGETS: &[&str] = &[
    "host_kernel",
    "audit_fallback",
    "pipeline_faults",
    "file_sink",
    "profile_commands",
    "packaging",
    "webhook_sink",
    "daemon_options",
    "volume",
    "container_runtimes",
    "rules",
];

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

/// What a step did, and the tests it ran.
struct Outcome {
    status: Status,
    tests: Counts,
    /// Tests by name, where cargo named them: to tell a test one step ignored and another ran.
    ignored: BTreeSet<TestId>,
    ran: BTreeSet<TestId>,
}

impl Outcome {
    fn without_tests(status: Status) -> Self {
        Self {
            status,
            tests: Counts::default(),
            ignored: BTreeSet::new(),
            ran: BTreeSet::new(),
        }
    }

    /// The outcome of a step that ran these cargo commands: failed when any of them failed.
    fn of_commands(runs: Vec<libtest::Counted>) -> Self {
        let mut tests = Counts::default();
        let mut tally = Tally::default();
        let mut failed = Vec::new();
        for run in runs {
            tests += run.total();
            if !run.status.success() {
                failed.push(format!("`{}` failed: {}", run.line, run.status));
            }
            tally.merge(run.tally);
        }
        let status = if failed.is_empty() {
            Status::Passed
        } else {
            Status::Failed(failed.join("; "))
        };
        Self {
            status,
            tests,
            ignored: tally.ignored,
            ran: tally.ran,
        }
    }
}

/// Whether this is a CI run, where a step that cannot run is a failure, not a skip.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Runs every step and prints a summary; true when none failed.
pub fn run(options: &Options) -> Result<bool> {
    let vm_tests = || vm_tests(options.keep);
    let arm64_vm_tests = || arm64_vm_tests(options.keep);
    let steps: [(&str, &dyn Fn() -> Result<Outcome>); 8] = [
        ("setup", &|| without_tests(setup::run())),
        ("format", &|| without_tests(format())),
        ("clippy", &clippy),
        ("unit tests", &unit_tests),
        ("bench smoke", &|| without_tests(bench_smoke())),
        ("host tests", &host_tests),
        ("vm tests", &vm_tests),
        ("arm64 vm tests", &arm64_vm_tests),
    ];
    let ci = in_ci();

    let mut results = Vec::new();
    for (name, step) in &steps {
        println!("==> {name}");
        let started = Instant::now();
        let mut outcome =
            step().unwrap_or_else(|err| Outcome::without_tests(Status::Failed(format!("{err:#}"))));
        if let (true, Status::Skipped(reason)) = (ci, &outcome.status) {
            outcome.status = Status::Failed(format!("{reason}, and CI runs every step"));
        }
        let seconds = started.elapsed().as_secs_f64();
        match &outcome.status {
            Status::Passed => println!("<== {name}: passed ({seconds:.1} s)"),
            Status::Failed(reason) => println!("<== {name}: FAILED ({seconds:.1} s): {reason}"),
            Status::Skipped(reason) => println!("<== {name}: skipped: {reason}"),
        }
        results.push((*name, outcome, seconds));
    }

    println!();
    println!(
        "{:<16}{:<10}{:>7}{:>7}{:>8}{:>9}",
        "step", "result", "passed", "failed", "skipped", "time"
    );
    let mut total = Counts::default();
    let mut ignored = BTreeSet::new();
    let mut ran = BTreeSet::new();
    let mut all_passed = true;
    for (name, outcome, seconds) in results {
        let mut counts = outcome.tests;
        let shown = match outcome.status {
            Status::Passed => "passed",
            Status::Failed(_) => {
                all_passed = false;
                // A failure must show in the count even when no test reported it.
                counts.failed = counts.failed.max(1);
                "FAILED"
            }
            Status::Skipped(_) => {
                counts.skipped += 1;
                "skipped"
            }
        };
        println!(
            "{name:<16}{shown:<10}{:>7}{:>7}{:>8}{seconds:>7.1} s",
            counts.passed, counts.failed, counts.skipped
        );
        total += counts;
        ignored.extend(outcome.ignored);
        ran.extend(outcome.ran);
    }
    // The tests that need root are ignored by the unit-test step and run by the host step:
    // count each once, by its run.
    let ran_later = ignored.intersection(&ran).count() as u64;
    if ran_later > 0 {
        println!("({ran_later} tests ignored in one step ran in another: counted once, as run)");
        total.skipped -= ran_later.min(total.skipped);
    }
    println!("suite: {total}");
    Ok(all_passed)
}

fn without_tests(result: Result<()>) -> Result<Outcome> {
    result.map(|()| Outcome::without_tests(Status::Passed))
}

fn format() -> Result<()> {
    process::run(cargo::cargo().args(["fmt", "--all", "--check"]))
}

fn clippy() -> Result<Outcome> {
    if !process::succeeds(cargo::cargo().args(["clippy", "--version"])) {
        return Ok(Outcome::without_tests(Status::Skipped(
            "clippy is not installed",
        )));
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
    Ok(Outcome::without_tests(Status::Passed))
}

/// The workspace's default members' tests, and the integration-test crate's own unit tests
/// (its oracle, parsers and plans), which need neither root nor a built tracer.
fn unit_tests() -> Result<Outcome> {
    let mut workspace = cargo::cargo();
    workspace.args(["test", "--no-fail-fast"]);
    let mut tests_crate = cargo::cargo();
    tests_crate.args([
        "test",
        "--no-fail-fast",
        "--package",
        cargo::TESTS_PACKAGE,
        "--lib",
        "--bins",
    ]);
    Ok(Outcome::of_commands(vec![
        libtest::run(workspace)?,
        libtest::run(tests_crate)?,
    ]))
}

/// The performance lab at a small scale: every part runs and writes its table. Its figures are
/// not checked against the goals; timing belongs in the full `cargo xtask bench`.
fn bench_smoke() -> Result<()> {
    bench::run(&bench::Options::smoke()).map(|_| ())
}

/// The tests that need root: the integration tests against this host's own kernel, and
/// tracer's unit tests that load kernel programs or read the audit socket (ignored in a plain
/// `cargo test`).
fn host_tests() -> Result<Outcome> {
    let tracer = cargo::build_tracer(false)?;
    let workload = cargo::build_workload()?;
    // The packaging tests install what users install: the release build, packed. The bench
    // step has built it already, so this costs the packing only. A packing failure fails those
    // tests (their variables are unset), not the other host tests.
    let packaged = cargo::build_tracer(true).and_then(|tracer| package::build(&tracer));
    let mut integration = cargo::cargo();
    integration.args(["test", "--no-fail-fast", "--package", cargo::TESTS_PACKAGE]);
    for target in HOST_TEST_TARGETS {
        integration.args(["--test", target]);
    }
    integration
        // Cargo reports executables by absolute path, as the tests need them.
        .env("TRACER_BIN", &tracer)
        .env("SECCOMP_WORKLOAD", &workload);
    match packaged {
        Ok(packaged) => {
            integration
                .env("TRACER_DEB", &packaged.deb)
                .env("TRACER_IMAGE_CONTEXT", &packaged.image_context);
        }
        Err(error) => eprintln!("cannot pack tracer, so the packaging tests fail: {error:#}"),
    }
    as_root(&mut integration);
    let mut needs_root = cargo::cargo();
    needs_root.args([
        "test",
        "--no-fail-fast",
        "--package",
        "tracer",
        "--",
        "--ignored",
    ]);
    as_root(&mut needs_root);
    Ok(Outcome::of_commands(vec![
        libtest::run(integration)?,
        libtest::run(needs_root)?,
    ]))
}

/// Only the test executable needs root, not the build: when we are not root, cargo runs it
/// through sudo.
fn as_root(cmd: &mut Command) {
    if !process::is_root() {
        let runner = format!(
            "CARGO_TARGET_{}_UNKNOWN_LINUX_GNU_RUNNER",
            std::env::consts::ARCH.to_uppercase()
        );
        cmd.env(
            runner,
            "sudo --preserve-env=TRACER_BIN,SECCOMP_WORKLOAD,TRACER_DEB,TRACER_IMAGE_CONTEXT",
        );
    }
}

fn vm_tests(keep: bool) -> Result<Outcome> {
    vm_outcome(vm_test::run(&vm_test::Options::all(keep))?)
}

/// The arm64 lab's CI subset (see [`vm_test::Options::arm64_ci`]), cross build included.
fn arm64_vm_tests(keep: bool) -> Result<Outcome> {
    vm_outcome(vm_test::run(&vm_test::Options::arm64_ci(keep))?)
}

fn vm_outcome(summary: vm_test::Summary) -> Result<Outcome> {
    let status = if summary.all_passed() {
        Status::Passed
    } else {
        Status::Failed("some kernel × probe runs failed".into())
    };
    Ok(Outcome {
        status,
        tests: summary.tests(),
        ignored: BTreeSet::new(),
        ran: BTreeSet::new(),
    })
}
