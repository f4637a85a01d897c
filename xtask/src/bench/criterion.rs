//! tracer's criterion benches, run and read back from the estimates criterion writes: each
//! benchmark's median time per iteration and the elements one iteration handles.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use serde_json::Value;
use tracer_integration_tests::perf::{Measurement, Section};

use crate::{cargo, process};

/// Short warm-up and measurement for the smoke run, which only checks the benches run.
const SMOKE_ARGS: [&str; 6] = [
    "--warm-up-time",
    "0.2",
    "--measurement-time",
    "0.5",
    "--sample-size",
    "10",
];

/// Runs every bench of the tracer package and returns one measurement per benchmark that
/// declares its throughput in elements: nanoseconds per element (event).
pub fn run(smoke: bool) -> Result<Vec<Measurement>> {
    let results = cargo::target_dir()?.join("criterion");
    // Stale estimates of a renamed benchmark would otherwise be read as this run's.
    if results.exists() {
        fs::remove_dir_all(&results)
            .with_context(|| format!("cannot clear {}", results.display()))?;
    }
    let mut bench = cargo::cargo();
    // `--benches` would take the library and binaries too, whose harness rejects criterion's flags.
    bench.args(["bench", "--package", "tracer", "--bench", "*", "--"]);
    if smoke {
        bench.args(SMOKE_ARGS);
    }
    process::run(&mut bench)?;
    read(&results)
}

fn read(results: &Path) -> Result<Vec<Measurement>> {
    let mut found = Vec::new();
    find_benchmarks(results, &mut found)?;
    found.sort();
    let mut measurements = Vec::new();
    for dir in found {
        if let Some(measurement) = measurement(&dir)? {
            measurements.push(measurement);
        }
    }
    Ok(measurements)
}

/// The `new` directories criterion writes per benchmark, at any depth.
fn find_benchmarks(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        fs::read_dir(dir).with_context(|| format!("criterion wrote no {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|name| name == "new")
            && path.join("benchmark.json").exists()
        {
            found.push(path);
        } else if path.file_name().is_none_or(|name| name != "report") {
            find_benchmarks(&path, found)?;
        }
    }
    Ok(())
}

fn measurement(dir: &Path) -> Result<Option<Measurement>> {
    let benchmark = read_json(&dir.join("benchmark.json"))?;
    let estimates = read_json(&dir.join("estimates.json"))?;
    let Some(elements) = benchmark["throughput"]["Elements"].as_f64() else {
        return Ok(None);
    };
    let ns_per_iteration = estimates["median"]["point_estimate"]
        .as_f64()
        .with_context(|| format!("{} has no median", dir.display()))?;
    let name = benchmark["full_id"]
        .as_str()
        .with_context(|| format!("{} has no full_id", dir.display()))?;
    Ok(Some(Measurement::new(
        Section::Userspace,
        &format!("criterion {name}: per event"),
        "userspace",
        ns_per_iteration / elements.max(1.0),
        "ns",
    )))
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_benchmark_with_throughput() {
        let root = std::env::temp_dir().join(format!("xtask-criterion-{}", std::process::id()));
        let new = root.join("per_event").join("decode+json").join("new");
        fs::create_dir_all(&new).unwrap();
        fs::create_dir_all(root.join("report")).unwrap();
        fs::write(
            new.join("benchmark.json"),
            r#"{"full_id":"per_event/decode+json","throughput":{"Elements":1024}}"#,
        )
        .unwrap();
        fs::write(
            new.join("estimates.json"),
            r#"{"median":{"point_estimate":512000.0}}"#,
        )
        .unwrap();
        let measurements = read(&root).unwrap();
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(measurements.len(), 1);
        assert_eq!(
            measurements[0].metric,
            "criterion per_event/decode+json: per event"
        );
        assert_eq!(measurements[0].value, 500.0);
    }
}
