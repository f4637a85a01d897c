//! Building the workspace's crates and finding the executables cargo produced.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, anyhow, ensure};
use serde_json::Value;

use crate::{process, target::Arch};

pub const TESTS_PACKAGE: &str = "tracer-integration-tests";
pub const WORKLOAD_BIN: &str = "seccomp-workload";
/// The performance lab's measuring side.
pub const PERF_LAB_BIN: &str = "perf-lab";

pub fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// `cargo`, the same one that runs xtask, in the workspace root.
pub fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// The target directory, wherever `CARGO_TARGET_DIR` or the configuration put it.
pub fn target_dir() -> Result<PathBuf> {
    let metadata = process::stdout(cargo().args(["metadata", "--no-deps", "--format-version=1"]))?;
    let metadata: Value =
        serde_json::from_str(&metadata).context("cannot parse `cargo metadata` output")?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("`cargo metadata` gave no target_directory"))
}

pub fn build_tracer(release: bool) -> Result<PathBuf> {
    build_tracer_for(release, Arch::host())
}

/// Builds tracer, with its kernel programs, for `arch` (cross-compiled where it is not this
/// machine's).
pub fn build_tracer_for(release: bool, arch: Arch) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args(["build", "--package", "tracer"]);
    if release {
        cmd.arg("--release");
    }
    arch.configure(&mut cmd);
    executable(&artifacts(&mut cmd)?, "tracer", false)
}

pub fn build_workload() -> Result<PathBuf> {
    build_workload_for(Arch::host())
}

/// Builds only the seccomp workload for `arch`: the other binaries of the tests package are
/// not needed in a VM of another architecture.
pub fn build_workload_for(arch: Arch) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args(["build", "--package", TESTS_PACKAGE]);
    if arch.is_cross() {
        cmd.args(["--bin", WORKLOAD_BIN]);
    } else {
        cmd.arg("--bins");
    }
    arch.configure(&mut cmd);
    executable(&artifacts(&mut cmd)?, WORKLOAD_BIN, false)
}

/// Builds `perf-lab` in release mode, as tracer is: the timed loop runs in it.
pub fn build_perf_lab() -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "--package",
        TESTS_PACKAGE,
        "--bin",
        PERF_LAB_BIN,
    ]);
    executable(&artifacts(&mut cmd)?, PERF_LAB_BIN, false)
}

/// Builds the integration test target `name` without running it and returns its executable.
pub fn build_test(name: &str) -> Result<PathBuf> {
    build_test_for(name, Arch::host())
}

/// [`build_test`] for `arch`.
pub fn build_test_for(name: &str, arch: Arch) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--package",
        TESTS_PACKAGE,
        "--test",
        name,
        "--no-run",
    ]);
    arch.configure(&mut cmd);
    executable(&artifacts(&mut cmd)?, name, true)
}

struct Artifact {
    target: String,
    test: bool,
    executable: PathBuf,
}

/// Runs a cargo build command and collects the executables it reports. Diagnostics still reach
/// the terminal as usual; only the machine-readable messages are captured.
fn artifacts(cmd: &mut Command) -> Result<Vec<Artifact>> {
    cmd.arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    eprintln!("$ {}", process::display(cmd));
    let messages = process::stdout(cmd)?;
    messages
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .with_context(|| format!("cannot parse cargo message {line:?}"))
        })
        .filter_map(|message| match message {
            Ok(message) => parse_artifact(&message).map(Ok),
            Err(err) => Some(Err(err)),
        })
        .collect()
}

fn parse_artifact(message: &Value) -> Option<Artifact> {
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    Some(Artifact {
        target: message["target"]["name"].as_str()?.to_owned(),
        test: message["profile"]["test"].as_bool()?,
        executable: PathBuf::from(message["executable"].as_str()?),
    })
}

fn executable(artifacts: &[Artifact], target: &str, test: bool) -> Result<PathBuf> {
    let mut found = artifacts
        .iter()
        .filter(|artifact| artifact.target == target && artifact.test == test);
    let artifact = found
        .next()
        .ok_or_else(|| anyhow!("cargo built no executable for target {target:?}"))?;
    ensure!(
        found.next().is_none(),
        "cargo built more than one executable for target {target:?}"
    );
    Ok(artifact.executable.clone())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn picks_the_test_executable_among_artifacts() {
        let messages = [
            json!({"reason": "compiler-artifact", "target": {"name": "tracer_integration_tests"},
                   "profile": {"test": false}, "executable": null}),
            json!({"reason": "compiler-artifact", "target": {"name": "kernel_hooks"},
                   "profile": {"test": true}, "executable": "/t/debug/deps/kernel_hooks-0123"}),
            json!({"reason": "build-finished", "success": true}),
        ];
        let artifacts: Vec<_> = messages.iter().filter_map(parse_artifact).collect();
        assert_eq!(
            executable(&artifacts, "kernel_hooks", true).unwrap(),
            Path::new("/t/debug/deps/kernel_hooks-0123")
        );
        assert!(executable(&artifacts, "kernel_hooks", false).is_err());
        assert!(executable(&artifacts, "tracer_integration_tests", false).is_err());
    }
}
