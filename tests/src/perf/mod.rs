//! The performance lab's measurements: what tracer costs the calls it audits, how it copes with
//! bursts, and its CPU, memory and start time, each printed as one `perf: {json}` line that
//! `cargo xtask bench` gathers into docs/performance.md.
//!
//! Figures are medians of several rounds and are always quoted beside a baseline measured in
//! the same run (the same call without tracer, auditd on the same kernel).

pub mod auditd;
pub mod bpf_stats;
pub mod calls;
pub mod details;
pub mod host;
pub mod process;
pub mod recorder;
pub mod runs;
pub mod stacks;
pub mod tracer_run;
pub mod vm;
pub mod webhook;

use std::io::Write as _;

use serde::{Deserialize, Serialize};

/// The prefix that marks a measurement among other output (a VM's console, test logs).
pub const LINE_PREFIX: &str = "perf: ";

/// The part of docs/performance.md a measurement belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// The audited call's cost and the kernel programs' cost.
    Kernel,
    /// Delivered and lost under a burst of audited calls.
    Burst,
    /// tracer's own CPU and throughput.
    Userspace,
    /// RSS and start times.
    Memory,
}

/// One figure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub section: Section,
    /// What was measured, as the table's row says it.
    pub metric: String,
    /// Who was measured: `fentry`, `kprobe`, `audit` (tracer's sources), `auditd`, or `none`.
    pub source: String,
    pub value: f64,
    pub unit: String,
    /// How it ran, when the row alone does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Measurement {
    pub fn new(section: Section, metric: &str, source: &str, value: f64, unit: &str) -> Self {
        Self {
            section,
            metric: metric.into(),
            source: source.into(),
            value,
            unit: unit.into(),
            note: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Prints the measurement as one line and flushes, so a VM's console carries it even when
    /// the guest dies right after.
    pub fn report(&self) {
        let json = serde_json::to_string(self).expect("a measurement is plain data");
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{LINE_PREFIX}{json}").and_then(|()| stdout.flush());
    }

    /// Finds a measurement in a line of output.
    pub fn parse_line(line: &str) -> Option<Self> {
        let (_, json) = line.split_once(LINE_PREFIX)?;
        serde_json::from_str(json.trim()).ok()
    }
}

/// The median of some figures; NaN for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

/// How much the scale of a run is cut for CI's smoke run, which checks only that every step
/// runs and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Full,
    Smoke,
}

impl Scale {
    /// `n` for a full run, a small share of it (at least 1) for a smoke run.
    pub fn of(self, n: u32) -> u32 {
        match self {
            Self::Full => n,
            Self::Smoke => (n / 20).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measurement_survives_a_console_line() {
        let measurement = Measurement::new(Section::Burst, "lost", "auditd", 3.0, "events")
            .with_note("backlog 8192");
        let line = format!(
            "[   12.3] {LINE_PREFIX}{}",
            serde_json::to_string(&measurement).unwrap()
        );
        assert_eq!(Measurement::parse_line(&line), Some(measurement));
        assert_eq!(Measurement::parse_line("perf: not json"), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn smoke_scale_keeps_at_least_one() {
        assert_eq!(Scale::Smoke.of(20_000), 1_000);
        assert_eq!(Scale::Smoke.of(3), 1);
        assert_eq!(Scale::Full.of(3), 3);
    }
}
