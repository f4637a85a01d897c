//! Compares what tracer reported with the kernel's own audit records and with the workloads'
//! plans, and renders every difference as a table.
//!
//! Three questions, asked in this order because each answer is only meaningful if the one
//! before it holds:
//! 1. Did the kernel audit what the workloads planned? If not, the oracle itself is off.
//! 2. Did tracer report exactly the kernel's records: nothing missing, nothing extra?
//! 3. Are the fields of each event right (names, thread, process, namespace, time)?

use std::{collections::BTreeMap, fmt::Write as _};

use chrono::{DateTime, Utc};

use crate::{
    filter::{action_name, arch_name},
    kmsg::SeccompRecord,
    plan::Plan,
    tracer::TracerEvent,
    workload::signal_name,
};

/// What identifies an audited call in both the kernel's record and tracer's event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pid: u32,
    pub arch: String,
    pub syscall_nr: u64,
    pub code_raw: u32,
    pub signal: Option<String>,
}

impl Key {
    pub fn of_record(record: &SeccompRecord) -> Self {
        Self {
            pid: record.pid,
            arch: arch_name(record.arch, record.syscall),
            syscall_nr: record.syscall,
            code_raw: record.code,
            signal: (record.sig != 0).then(|| signal_name(record.sig)),
        }
    }

    pub fn of_event(event: &TracerEvent) -> Self {
        Self {
            pid: event.pid,
            // An arch tracer could not tell differs from every arch the kernel names.
            arch: arch_shown(event),
            syscall_nr: event.syscall_nr,
            code_raw: event.code_raw,
            signal: event.signal.clone(),
        }
    }
}

/// What the rest of an event must say, beyond its [`Key`].
#[derive(Clone, Debug)]
pub struct Context {
    /// The `--probe` tracer was asked to use.
    pub source: String,
    pub comm: String,
    /// The workloads' parent: the test process.
    pub ppid: u32,
    pub mntns_id: u64,
    pub node: String,
    /// The workloads ran between these instants.
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
}

/// The outcome of all three comparisons.
#[derive(Debug, Default)]
pub struct Report {
    /// Question 1; empty when the kernel did as planned.
    pub kernel_vs_plan: String,
    /// Question 2; empty when tracer matched the kernel exactly.
    pub tracer_vs_kernel: String,
    /// Question 3: one line per wrong field.
    pub field_problems: Vec<String>,
}

impl Report {
    pub fn new(
        plans: &[&Plan],
        kernel: &[&SeccompRecord],
        tracer: &[&TracerEvent],
        context: &Context,
    ) -> Self {
        let tally = Tally::count(
            kernel.iter().map(|r| Key::of_record(r)),
            tracer.iter().map(|e| Key::of_event(e)),
        );
        let tracer_vs_kernel = if tally.is_exact() {
            String::new()
        } else {
            tally.table(
                &[
                    "scenario",
                    "pid",
                    "arch",
                    "syscall_nr",
                    "code_raw",
                    "signal",
                ],
                "kernel",
                "tracer",
                |key| {
                    vec![
                        scenario_of(plans, key.pid),
                        key.pid.to_string(),
                        key.arch.clone(),
                        key.syscall_nr.to_string(),
                        format!("{:#x}", key.code_raw),
                        key.signal.clone().unwrap_or_else(|| "-".into()),
                    ]
                },
            )
        };
        let mut report = Report {
            kernel_vs_plan: kernel_vs_plan(plans, kernel).unwrap_or_default(),
            tracer_vs_kernel,
            field_problems: Vec::new(),
        };
        for event in tracer {
            report.check_fields(event, plans, kernel, context);
        }
        report
    }

    fn check_fields(
        &mut self,
        event: &TracerEvent,
        plans: &[&Plan],
        kernel: &[&SeccompRecord],
        context: &Context,
    ) {
        let mut problems = Vec::new();
        let mut check = |field: &str, expected: String, seen: String| {
            if expected != seen {
                problems.push(format!("{field}: expected {expected}, seen {seen}"));
            }
        };
        let planned = plans
            .iter()
            .filter(|p| p.pid == event.pid)
            .find_map(|plan| {
                plan.expect.iter().find(|e| {
                    u64::from(e.syscall_nr) == event.syscall_nr
                        && Some(&e.arch) == event.arch.as_ref()
                })
            });
        if let Some(planned) = planned {
            check(
                "tid",
                planned.tid.to_string(),
                event.tid.map_or_else(String::new, |t| t.to_string()),
            );
            check("syscall", planned.syscall.clone(), event.syscall.clone());
            check("code", planned.code.clone(), event.code.clone());
        }
        let code_name = action_name(event.code_raw).map_or_else(|| "?".into(), str::to_owned);
        check("code (from code_raw)", code_name, event.code.clone());
        check("source", context.source.clone(), event.source.clone());
        check("comm", context.comm.clone(), event.comm.clone());
        check(
            "ppid",
            format!("{:?}", Some(context.ppid)),
            format!("{:?}", event.ppid),
        );
        check(
            "mntns_id",
            format!("{:?}", Some(context.mntns_id)),
            format!("{:?}", event.mntns_id),
        );
        check("node", context.node.clone(), event.node.clone());
        check("container", "None".into(), format!("{:?}", event.container));
        if let Some(record) = kernel.iter().find(|r| r.pid == event.pid) {
            if let Some(uid) = record.uid {
                check(
                    "uid (kernel's uid=)",
                    uid.to_string(),
                    event.uid.to_string(),
                );
            }
            if let Some(gid) = record.gid {
                check(
                    "gid (kernel's gid=)",
                    gid.to_string(),
                    event.gid.to_string(),
                );
            }
            if let Some(comm) = &record.comm {
                check("comm (kernel's comm=)", comm.clone(), event.comm.clone());
            }
        }
        match DateTime::parse_from_rfc3339(&event.timestamp) {
            Ok(time) => {
                let time = time.with_timezone(&Utc);
                // A second of slack: the wall-clock offset is read separately from the event.
                let slack = chrono::Duration::seconds(1);
                if time < context.started - slack || time > context.ended + slack {
                    problems.push(format!(
                        "timestamp: {} is outside the run, {} to {}",
                        event.timestamp, context.started, context.ended
                    ));
                }
            }
            Err(error) => problems.push(format!(
                "timestamp: {:?} is not RFC 3339: {error}",
                event.timestamp
            )),
        }
        if !event.timestamp.ends_with('Z') {
            problems.push(format!(
                "timestamp: {:?} is not in UTC (Z)",
                event.timestamp
            ));
        }
        // The audit source cannot tell the thread: its events have no tid.
        let tid = event
            .tid
            .map_or_else(|| "-".to_owned(), |tid| tid.to_string());
        for problem in problems {
            self.field_problems.push(format!(
                "pid {} tid {tid} {} nr {}: {problem}",
                event.pid,
                arch_shown(event),
                event.syscall_nr
            ));
        }
    }

    pub fn is_ok(&self) -> bool {
        self.kernel_vs_plan.is_empty()
            && self.tracer_vs_kernel.is_empty()
            && self.field_problems.is_empty()
    }

    /// Panics with every difference found. `notes` explains the circumstances (lost kmsg
    /// records, the tracer's summary) in the message.
    #[track_caller]
    pub fn assert_ok(&self, notes: &str) {
        if self.is_ok() {
            return;
        }
        let mut message = String::new();
        if !self.kernel_vs_plan.is_empty() {
            let _ = write!(
                message,
                "\nThe kernel's audit records differ from what the workloads planned, so the \
                 oracle cannot be trusted (an audit daemon taking the records, kmsg overwritten, \
                 or actions_logged in /proc/sys/kernel/seccomp leaving an action out?):\n{}",
                self.kernel_vs_plan
            );
        }
        if !self.tracer_vs_kernel.is_empty() {
            let _ = write!(
                message,
                "\ntracer's events differ from the kernel's audit records:\n{}",
                self.tracer_vs_kernel
            );
        }
        if !self.field_problems.is_empty() {
            let _ = write!(
                message,
                "\ntracer's events have wrong fields:\n  {}\n",
                self.field_problems.join("\n  ")
            );
        }
        panic!("{message}\n{notes}");
    }
}

fn scenario_of(plans: &[&Plan], pid: u32) -> String {
    plans
        .iter()
        .find(|p| p.pid == pid)
        .map_or("?", |p| p.scenario.as_str())
        .to_owned()
}

/// Question 1 alone: a table of the differences between the plans and the kernel's records,
/// The event's arch as the oracle compares it; JSON null is a value of its own.
fn arch_shown(event: &TracerEvent) -> String {
    event.arch.clone().unwrap_or_else(|| "null".into())
}

/// `None` when the kernel audited exactly what was planned.
pub fn kernel_vs_plan(plans: &[&Plan], kernel: &[&SeccompRecord]) -> Option<String> {
    // The plan speaks in action names; the kernel's code may carry data bits on top.
    let planned = plans.iter().flat_map(|plan| {
        plan.expect.iter().flat_map(move |e| {
            std::iter::repeat_n(
                (
                    plan.pid,
                    e.arch.clone(),
                    u64::from(e.syscall_nr),
                    e.code.clone(),
                ),
                e.count as usize,
            )
        })
    });
    let audited = kernel.iter().map(|r| {
        let key = Key::of_record(r);
        let code = action_name(r.code).map_or_else(|| format!("{:#x}", r.code), str::to_owned);
        (key.pid, key.arch, key.syscall_nr, code)
    });
    let tally = Tally::count(planned, audited);
    (!tally.is_exact()).then(|| {
        tally.table(
            &["scenario", "pid", "arch", "syscall_nr", "code"],
            "planned",
            "kernel",
            |(pid, arch, nr, code)| {
                vec![
                    scenario_of(plans, *pid),
                    pid.to_string(),
                    arch.clone(),
                    nr.to_string(),
                    code.clone(),
                ]
            },
        )
    })
}

/// Two multisets of keys side by side.
pub struct Tally<K> {
    counts: BTreeMap<K, (usize, usize)>,
}

impl<K: Ord> Tally<K> {
    pub fn count(left: impl IntoIterator<Item = K>, right: impl IntoIterator<Item = K>) -> Self {
        let mut counts = BTreeMap::new();
        for key in left {
            counts.entry(key).or_insert((0, 0)).0 += 1;
        }
        for key in right {
            counts.entry(key).or_insert((0, 0)).1 += 1;
        }
        Self { counts }
    }

    pub fn is_exact(&self) -> bool {
        self.counts.values().all(|(left, right)| left == right)
    }

    /// Every key with both counts and a verdict, matching rows included for orientation.
    pub fn table(
        &self,
        columns: &[&str],
        left: &str,
        right: &str,
        cells: impl Fn(&K) -> Vec<String>,
    ) -> String {
        let mut header: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        header.extend([left.to_owned(), right.to_owned(), String::new()]);
        let rows = self.counts.iter().map(|(key, (l, r))| {
            let verdict = match l.cmp(r) {
                std::cmp::Ordering::Equal => "ok".to_owned(),
                std::cmp::Ordering::Greater => format!("<- {} missing in {right}", l - r),
                std::cmp::Ordering::Less => format!("<- {} extra in {right}", r - l),
            };
            let mut row = cells(key);
            row.extend([l.to_string(), r.to_string(), verdict]);
            row
        });
        render_table(&header, rows)
    }
}

/// Left-aligned columns, two spaces apart.
pub fn render_table(header: &[String], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(header.to_vec()).chain(rows).collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Expected, ExpectedExit};

    fn record(pid: u32, syscall: u64, code: u32, sig: i32) -> SeccompRecord {
        SeccompRecord {
            kmsg_seq: 0,
            serial: None,
            auid: None,
            uid: Some(0),
            gid: Some(0),
            ses: None,
            subj: None,
            pid,
            comm: Some("seccomp-workloa".into()),
            exe: None,
            sig,
            arch: crate::filter::AUDIT_ARCH_X86_64,
            syscall,
            compat: Some(0),
            ip: None,
            code,
        }
    }

    fn event(pid: u32, syscall: &str, nr: u64, code: &str, code_raw: u32) -> TracerEvent {
        TracerEvent {
            timestamp: "2026-11-23T22:41:07.000000001Z".into(),
            node: "node-a".into(),
            source: "kprobe".into(),
            pid,
            tid: Some(pid),
            ppid: Some(1),
            uid: 0,
            gid: 0,
            comm: "seccomp-workloa".into(),
            mntns_id: Some(4026531841),
            cgroup_id: Some(1),
            syscall: syscall.into(),
            syscall_nr: nr,
            arch: Some("x86_64".into()),
            code: code.into(),
            code_raw,
            signal: None,
            container: None,
        }
    }

    fn plan(pid: u32) -> Plan {
        Plan {
            scenario: "log".into(),
            pid,
            expect: vec![Expected {
                tid: pid,
                syscall_nr: 83,
                arch: "x86_64".into(),
                syscall: "mkdir".into(),
                code: "log".into(),
                count: 1,
                details: Default::default(),
            }],
            exit: ExpectedExit::Code(0),
            unaudited: Vec::new(),
            not_seccomp: Vec::new(),
            process: None,
        }
    }

    fn context() -> Context {
        let at = |s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        Context {
            source: "kprobe".into(),
            comm: "seccomp-workloa".into(),
            ppid: 1,
            mntns_id: 4026531841,
            node: "node-a".into(),
            started: at("2026-11-23T22:41:06Z"),
            ended: at("2026-11-23T22:41:08Z"),
        }
    }

    #[test]
    fn an_exact_match_is_ok() {
        let plan = plan(10);
        let kernel = record(10, 83, 0x7ffc_0000, 0);
        let seen = event(10, "mkdir", 83, "log", 0x7ffc_0000);
        let report = Report::new(&[&plan], &[&kernel], &[&seen], &context());
        assert!(report.is_ok(), "{report:?}");
    }

    #[test]
    fn shows_missing_extra_and_wrong_fields() {
        let plan = plan(10);
        let kernel = record(10, 83, 0x7ffc_0000, 0);
        let mut wrong = event(10, "mkdirat", 83, "log", 0x7ffc_0000);
        wrong.signal = Some("SIGSYS".into());
        let report = Report::new(&[&plan], &[&kernel], &[&wrong], &context());
        assert!(report.kernel_vs_plan.is_empty());
        let table = &report.tracer_vs_kernel;
        assert!(table.contains("<- 1 missing in tracer"), "{table}");
        assert!(table.contains("<- 1 extra in tracer"), "{table}");
        assert!(table.contains("SIGSYS"), "{table}");
        assert_eq!(
            report.field_problems,
            ["pid 10 tid 10 x86_64 nr 83: syscall: expected mkdir, seen mkdirat"]
        );
    }

    #[test]
    fn blames_the_oracle_when_the_kernel_did_not_do_as_planned() {
        let plan = plan(10);
        let report = Report::new(&[&plan], &[], &[], &context());
        assert!(report.kernel_vs_plan.contains("<- 1 missing in kernel"));
        assert!(report.tracer_vs_kernel.is_empty());
    }

    #[test]
    fn renders_aligned_columns() {
        let header = ["a".to_owned(), "long".to_owned()];
        let table = render_table(&header, [vec!["wide cell".into(), "x".into()]]);
        assert_eq!(table, "  a          long\n  wide cell  x\n");
    }
}
