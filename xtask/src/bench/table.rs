//! docs/performance.md: the goals, then one table per section with a column per machine, and
//! the notes that say how each figure was taken.

use std::fmt::Write as _;

use tracer_integration_tests::perf::{Measurement, Section};

use super::{Machine, Run, goals};

const SECTIONS: [(Section, &str); 4] = [
    (Section::Kernel, "The audited call and the kernel programs"),
    (Section::Burst, "Bursts: delivered and lost"),
    (Section::Userspace, "tracer's own CPU and throughput"),
    (Section::Memory, "Memory and start"),
];

const ABOUT: &str = "\
How to read it: every figure is a median (the audited call: 7 rounds of 20,000 calls). A \
consumer's cost on the audited call is the ratio of the call's time with it to the same call \
without it, both measured in the same boot; auditd is measured the same way, under its default \
configuration (Debian's `auditd.conf`, `-b 8192 --backlog_wait_time 60000`). The workload runs \
on CPU 0 and tracer on CPU 1. tracer's CPU per event is its user and system time from /proc (10 ms ticks) over a burst, divided by the events it delivered. The VMs run under qemu's software emulation (TCG) on the host \
below, so their absolute times are inflated several times over: compare ratios, not times. Real \
hardware with KVM cannot be measured on this machine.";

pub fn render(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Performance\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench` on {} at commit `{}`{}.\n",
        run.date,
        run.commit,
        if run.smoke {
            " (smoke run: small scale, figures not meaningful)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "Host: {}.\n", run.host);
    let _ = writeln!(out, "Machines measured:");
    for machine in &run.machines {
        let _ = writeln!(out, "- **{}**", machine.name);
        if let Some(failure) = &machine.failure {
            let _ = writeln!(out, "  - did not finish: {}", one_line(failure));
        }
    }
    let _ = writeln!(out, "\n{ABOUT}\n");
    render_goals(&mut out, &run.machines);
    for (section, title) in SECTIONS {
        render_section(&mut out, section, title, &run.machines);
    }
    out
}

fn render_goals(out: &mut String, machines: &[Machine]) {
    let checks = goals::check(machines);
    let _ = writeln!(out, "## Goals\n");
    let _ = writeln!(out, "| goal | machine | source | figure | holds |");
    let _ = writeln!(out, "| --- | --- | --- | ---: | --- |");
    for goal in goals::GOALS {
        let mine: Vec<_> = checks
            .iter()
            .filter(|check| std::ptr::eq(check.goal, goal))
            .collect();
        if mine.is_empty() {
            let _ = writeln!(out, "| {} | | | not measured | |", goal.what);
        }
        for check in mine {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} {} | {} |",
                goal.what,
                short_name(check.machine),
                check.source,
                number(check.value),
                goal.unit,
                if check.holds { "yes" } else { "**no**" }
            );
        }
    }
    let _ = writeln!(out);
}

fn render_section(out: &mut String, section: Section, title: &str, machines: &[Machine]) {
    // Rows in the order they were first measured, on whichever machine.
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for machine in machines {
        for m in machine.measurements.iter().filter(|m| m.section == section) {
            if !rows.contains(&(m.metric.as_str(), m.source.as_str())) {
                rows.push((&m.metric, &m.source));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "## {title}\n");
    let _ = write!(out, "| what | source |");
    for machine in machines {
        let _ = write!(out, " {} |", short_name(&machine.name));
    }
    let _ = write!(out, "\n| --- | --- |");
    for _ in machines {
        let _ = write!(out, " ---: |");
    }
    let _ = writeln!(out);
    let mut notes = Vec::new();
    for (metric, source) in rows {
        let _ = write!(out, "| {metric} | {source} |");
        for machine in machines {
            let found = machine
                .measurements
                .iter()
                .rev()
                .find(|m| m.section == section && m.metric == metric && m.source == source);
            match found {
                Some(m) => {
                    let _ = write!(out, " {} |", cell(m));
                    if let Some(note) = &m.note {
                        let note = format!(
                            "{metric} ({source}, {}): {}",
                            short_name(&machine.name),
                            one_line(note)
                        );
                        notes.push(note);
                    }
                }
                None => {
                    let _ = write!(out, " – |");
                }
            }
        }
        let _ = writeln!(out);
    }
    if !notes.is_empty() {
        let _ = writeln!(out);
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    let _ = writeln!(out);
}

fn cell(m: &Measurement) -> String {
    match m.unit.as_str() {
        "×" => format!("{}×", number(m.value)),
        "events" => format!("{}", m.value.round()),
        unit => format!("{} {unit}", number(m.value)),
    }
}

/// Three significant figures, without a needless exponent.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".into();
    }
    let magnitude = value.abs();
    if magnitude >= 100.0 || value == value.trunc() && magnitude >= 10.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A machine's name up to its first comma, for column headers.
fn short_name(name: &str) -> &str {
    name.split(',').next().unwrap_or(name).trim()
}

/// Table cells and list items hold one line; pipes would end a cell.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_figures() {
        assert_eq!(number(1.1754), "1.18");
        assert_eq!(number(0.11507), "0.115");
        assert_eq!(number(32.26), "32.3");
        assert_eq!(number(140.9), "141");
        assert_eq!(number(20_000.0), "20000");
        assert_eq!(number(f64::NAN), "n/a");
    }

    #[test]
    fn a_table_has_a_column_per_machine_and_a_dash_where_one_did_not_measure() {
        let machines = vec![
            Machine {
                name: "host 6.18, 2 cores".into(),
                vm: false,
                measurements: vec![Measurement::new(
                    Section::Memory,
                    "exec → attached",
                    "audit",
                    150.0,
                    "ms",
                )],
                failure: None,
            },
            Machine {
                name: "VM 6.12, TCG".into(),
                vm: true,
                measurements: vec![
                    Measurement::new(Section::Memory, "exec → attached", "fentry", 900.0, "ms")
                        .with_note("a | b"),
                ],
                failure: Some("guest\nfailed".into()),
            },
        ];
        let run = Run {
            date: "2026-11-26".into(),
            commit: "abc".into(),
            host: "test".into(),
            smoke: false,
            machines,
        };
        let text = render(&run);
        assert!(
            text.contains("| what | source | host 6.18 | VM 6.12 |"),
            "{text}"
        );
        assert!(
            text.contains("| exec → attached | audit | 150 ms | – |"),
            "{text}"
        );
        assert!(
            text.contains("| exec → attached | fentry | – | 900 ms |"),
            "{text}"
        );
        assert!(text.contains("a \\| b"), "{text}");
        assert!(text.contains("did not finish: guest failed"), "{text}");
        assert!(
            text.contains(
                "| exec → attached ≤ 300 ms (eBPF, TCG) | VM 6.12 | fentry | 900 ms | **no** |"
            ),
            "{text}"
        );
    }
}
