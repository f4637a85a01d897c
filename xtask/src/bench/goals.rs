//! The performance goals, checked against a run's figures. They hold in the bench's numbers,
//! never in timed tests: a goal that does not hold is reported, not failed.

use tracer_integration_tests::perf::Measurement;

use super::Machine;

/// Where a goal applies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Host,
    Vm,
    Both,
}

#[derive(Clone, Copy)]
enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

pub struct Goal {
    pub what: &'static str,
    applies: Applies,
    sources: &'static [&'static str],
    /// The metric, or a prefix of it where the burst size goes after.
    metric: &'static str,
    bound: Bound,
    /// Turns the measured value into the goal's unit (e.g. ns per event into M events/s).
    convert: fn(f64) -> f64,
    pub unit: &'static str,
}

const EBPF: &[&str] = &["fentry", "kprobe"];
const AUDIT: &[&str] = &["audit"];
const TRACER: &[&str] = &["fentry", "kprobe", "audit"];

fn same(value: f64) -> f64 {
    value
}

fn per_second_millions(ns: f64) -> f64 {
    1e3 / ns
}

pub static GOALS: &[Goal] = &[
    Goal {
        what: "eBPF program ≤ 1 µs per event (TCG)",
        applies: Applies::Vm,
        sources: EBPF,
        metric: "seccomp hook program per event",
        bound: Bound::AtMost(1.0),
        convert: same,
        unit: "µs",
    },
    Goal {
        what: "an event's details ≤ 2× the hook's cost without them (same boot)",
        applies: Applies::Vm,
        sources: EBPF,
        metric: "seccomp hook program with details ÷ without",
        bound: Bound::AtMost(2.0),
        convert: same,
        unit: "×",
    },
    Goal {
        what: "LOG call with tracer ≤ 1.10× without (VM, consumer on another vCPU)",
        applies: Applies::Vm,
        sources: EBPF,
        metric: "LOG call with the consumer ÷ without",
        bound: Bound::AtMost(1.10),
        convert: same,
        unit: "×",
    },
    Goal {
        what: "LOG call with tracer ≤ 1.15× without (host, audit source)",
        applies: Applies::Host,
        sources: AUDIT,
        metric: "LOG call with the consumer ÷ without",
        bound: Bound::AtMost(1.15),
        convert: same,
        unit: "×",
    },
    Goal {
        what: "0 lost in the largest burst",
        applies: Applies::Both,
        sources: TRACER,
        metric: "burst: lost",
        bound: Bound::AtMost(0.0),
        convert: same,
        unit: "events",
    },
    Goal {
        what: "≥ 3 M events/s of JSON on one core (decode + JSON)",
        applies: Applies::Host,
        sources: &["userspace"],
        metric: "criterion per_event/decode+json: per event",
        bound: Bound::AtLeast(3.0),
        convert: per_second_millions,
        unit: "M/s",
    },
    Goal {
        what: "webhook batch ≥ 100,000 events/s to a local receiver",
        applies: Applies::Host,
        sources: &["userspace"],
        metric: "criterion webhook/batch_to_local_receiver: per event",
        bound: Bound::AtLeast(0.1),
        convert: per_second_millions,
        unit: "M/s",
    },
    Goal {
        what: "file sink ≥ 500,000 JSON events/s on one core (format + append, with rotation)",
        applies: Applies::Host,
        sources: &["userspace"],
        metric: "criterion file_sink/json+append: per event",
        bound: Bound::AtLeast(0.5),
        convert: per_second_millions,
        unit: "M/s",
    },
    Goal {
        what: "--dedup stage ≥ 1 M events/s on one core (the time read per event included)",
        applies: Applies::Host,
        sources: &["userspace"],
        metric: "criterion volume/dedup: per event",
        bound: Bound::AtLeast(1.0),
        convert: per_second_millions,
        unit: "M/s",
    },
    Goal {
        what: "rule matching ≥ 1 M events/s with 100 rules (--rules)",
        applies: Applies::Host,
        sources: &["userspace"],
        metric: "criterion rules/first_match_100_rules: per event",
        bound: Bound::AtLeast(1.0),
        convert: per_second_millions,
        unit: "M/s",
    },
    Goal {
        what: "audit source ≤ 2 µs of tracer CPU per event (largest burst)",
        applies: Applies::Host,
        sources: AUDIT,
        metric: "tracer CPU per event",
        bound: Bound::AtMost(2.0),
        convert: same,
        unit: "µs",
    },
    Goal {
        what: "RSS ≤ 16 MiB after symbolizing every event's stack of a burst",
        applies: Applies::Vm,
        sources: &["fentry"],
        metric: "RSS after symbolizing a burst's stacks",
        bound: Bound::AtMost(16.0),
        convert: same,
        unit: "MiB",
    },
    Goal {
        what: "a recorded workload's call with profile record ≤ 2× without (same run)",
        applies: Applies::Both,
        sources: &["sys_enter"],
        metric: "call of a recorded workload with profile record ÷ without tracer",
        bound: Bound::AtMost(2.0),
        convert: same,
        unit: "×",
    },
    Goal {
        what: "RSS ≤ 16 MiB steady",
        applies: Applies::Both,
        sources: TRACER,
        metric: "RSS, steady after attaching",
        bound: Bound::AtMost(16.0),
        convert: same,
        unit: "MiB",
    },
    Goal {
        what: "exec → attached ≤ 100 ms (audit source)",
        applies: Applies::Host,
        sources: AUDIT,
        metric: "exec → attached",
        bound: Bound::AtMost(100.0),
        convert: same,
        unit: "ms",
    },
    Goal {
        what: "exec → attached ≤ 300 ms (eBPF, TCG)",
        applies: Applies::Vm,
        sources: EBPF,
        metric: "exec → attached",
        bound: Bound::AtMost(300.0),
        convert: same,
        unit: "ms",
    },
];

/// One goal's figure on one machine for one source.
pub struct Check<'a> {
    pub goal: &'a Goal,
    pub machine: &'a str,
    pub source: String,
    pub value: f64,
    pub holds: bool,
}

impl Goal {
    fn matches(&self, measurement: &Measurement) -> bool {
        self.sources.contains(&measurement.source.as_str())
            && (measurement.metric == self.metric
                || measurement.metric.starts_with(self.metric)
                || measurement.metric.ends_with(self.metric))
    }

    fn holds(&self, value: f64) -> bool {
        match self.bound {
            Bound::AtMost(limit) => value <= limit,
            Bound::AtLeast(limit) => value >= limit,
        }
    }
}

/// Every goal's figure on every machine it applies to. Where a metric was measured several
/// times (bursts of several sizes), the last one counts: runs go from small to large.
pub fn check(machines: &[Machine]) -> Vec<Check<'_>> {
    let mut checks = Vec::new();
    for goal in GOALS {
        for machine in machines {
            let applies = match goal.applies {
                Applies::Both => true,
                Applies::Host => !machine.vm,
                Applies::Vm => machine.vm,
            };
            if !applies {
                continue;
            }
            for &source in goal.sources {
                let last = machine
                    .measurements
                    .iter()
                    .rev()
                    .find(|m| m.source == source && goal.matches(m));
                if let Some(measurement) = last {
                    let value = (goal.convert)(measurement.value);
                    checks.push(Check {
                        goal,
                        machine: &machine.name,
                        source: source.to_owned(),
                        value,
                        holds: goal.holds(value),
                    });
                }
            }
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use tracer_integration_tests::perf::Section;

    use super::*;

    fn machine(vm: bool, measurements: Vec<Measurement>) -> Machine {
        Machine {
            name: if vm { "VM".into() } else { "host".into() },
            vm,
            measurements,
            failure: None,
        }
    }

    #[test]
    fn the_largest_burst_decides_and_host_goals_skip_vms() {
        let host = machine(
            false,
            vec![
                Measurement::new(
                    Section::Burst,
                    "20000-call burst: lost",
                    "audit",
                    0.0,
                    "events",
                ),
                Measurement::new(
                    Section::Burst,
                    "100000-call burst: lost",
                    "audit",
                    3.0,
                    "events",
                ),
                Measurement::new(
                    Section::Burst,
                    "100000-call burst: lost",
                    "auditd",
                    9.0,
                    "events",
                ),
            ],
        );
        let vm = machine(
            true,
            vec![Measurement::new(
                Section::Memory,
                "exec → attached",
                "audit",
                50.0,
                "ms",
            )],
        );
        let machines = [host, vm];
        let checks = check(&machines);
        let lost: Vec<_> = checks
            .iter()
            .filter(|c| c.goal.what.starts_with("0 lost"))
            .collect();
        assert_eq!(lost.len(), 1);
        assert_eq!((lost[0].value, lost[0].holds), (3.0, false));
        assert!(
            checks
                .iter()
                .all(|c| !c.goal.what.contains("audit source)") || c.machine == "host")
        );
    }

    #[test]
    fn throughput_goal_turns_nanoseconds_into_millions_per_second() {
        let host = machine(
            false,
            vec![Measurement::new(
                Section::Userspace,
                "criterion per_event/decode+json: per event",
                "userspace",
                250.0,
                "ns",
            )],
        );
        let machines = [host];
        let checks = check(&machines);
        assert_eq!(checks.len(), 1);
        assert_eq!((checks[0].value, checks[0].holds), (4.0, true));
    }
}
