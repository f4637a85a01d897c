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
    plan::{Details, Expected, Plan},
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
    /// Whether tracer ran with `--all-denials`.
    pub all_denials: bool,
    /// Whether tracer ran with `--stack`: the audit source then has a trap's details too.
    pub stack: bool,
}

impl Context {
    /// Whether an event of this source and action carries the details of the call (args,
    /// path, errno, namespace ids): the kernel programs read them for every event; the audit
    /// source has them from its tracepoints only for kills and, with `--all-denials`, for
    /// refusals and for the logged calls it could tell apart, and otherwise only what the
    /// record says (exe, ip). Which logged calls those are, the scenarios say; here, details a
    /// logged call has must be right, and one without them must have none at all.
    pub fn has_details(&self, event: &TracerEvent) -> bool {
        let code = event.code.as_str();
        match event.source.as_str() {
            "audit" => {
                matches!(code, "kill_process" | "kill_thread")
                    || (self.all_denials && matches!(code, "errno" | "trap"))
                    || (self.stack && code == "trap")
                    || (self.all_denials && code == "log" && event.args.is_some())
            }
            _ => true,
        }
    }
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
        // Calls the kernel did not audit have no record to be compared with: they are
        // counted against the plans instead.
        let (unaudited, audited): (Vec<&TracerEvent>, Vec<&TracerEvent>) =
            tracer.iter().partition(|e| not_audited(plans, e).is_some());
        let tracer = audited;
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
        for event in tracer.iter().chain(&unaudited) {
            report.check_fields(event, plans, kernel, context);
        }
        report.count_unaudited(plans, &unaudited, context);
        report
    }

    /// Each call seccomp refused without auditing it must be reported as often as it was
    /// made with `--all-denials` and never without; a call the kernel itself failed, never.
    fn count_unaudited(&mut self, plans: &[&Plan], events: &[&TracerEvent], context: &Context) {
        for plan in plans {
            let calls = plan
                .unaudited
                .iter()
                .map(|e| {
                    (
                        e,
                        if context.all_denials { e.count } else { 0 },
                        "refused without an audit record",
                    )
                })
                .chain(
                    plan.not_seccomp
                        .iter()
                        .map(|e| (e, 0, "failed by the kernel, not by seccomp")),
                );
            for (expected, wanted, what) in calls {
                let seen = events
                    .iter()
                    .filter(|e| {
                        e.pid == plan.pid
                            && e.syscall_nr == u64::from(expected.syscall_nr)
                            && e.arch.as_ref() == Some(&expected.arch)
                    })
                    .count();
                if seen != wanted as usize {
                    self.field_problems.push(format!(
                        "pid {} {} {} ({what}): reported {seen} times, expected {wanted} \
                         (--all-denials {})",
                        plan.pid,
                        expected.arch,
                        expected.syscall,
                        if context.all_denials { "on" } else { "off" }
                    ));
                }
            }
        }
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
        let plan = plans.iter().find(|p| p.pid == event.pid);
        let not_audited = not_audited(plans, event);
        let planned = plan
            .and_then(|plan| {
                plan.expect.iter().find(|e| {
                    u64::from(e.syscall_nr) == event.syscall_nr
                        && Some(&e.arch) == event.arch.as_ref()
                })
            })
            .or(not_audited);
        let has_details = context.has_details(event);
        let source = if not_audited.is_some() {
            "syscall-exit"
        } else {
            &context.source
        };
        if let Some(planned) = planned {
            // The audit record names only the process: an audit event knows its thread from
            // the kernel programs' details of the same call, where it has them.
            let tid = (source != "audit" || has_details).then_some(planned.tid);
            check("tid", format!("{tid:?}"), format!("{:?}", event.tid));
            check("syscall", planned.syscall.clone(), event.syscall.clone());
            check("code", planned.code.clone(), event.code.clone());
            if has_details {
                check_details(&mut check, &planned.details, event);
            }
        }
        if !has_details {
            for (field, seen) in [
                ("args", format!("{:?}", event.args)),
                ("path", format!("{:?}", event.path)),
                ("errno", format!("{:?}", event.errno)),
            ] {
                check(
                    &format!(
                        "{field} (the {} source has none for {})",
                        context.source, event.code
                    ),
                    "None".into(),
                    seen,
                );
            }
        }
        if event.code != "errno" {
            check(
                "errno (not an errno action)",
                "(None, None)".into(),
                format!("{:?}", (event.errno, &event.errno_name)),
            );
        }
        if let Some(process) = plan.and_then(|plan| plan.process.as_ref())
            && has_details
        {
            check(
                "exe (the workload's own)",
                format!("{:?}", Some(&process.exe)),
                format!("{:?}", event.exe),
            );
            check(
                "cmdline (its argv)",
                format!("{:?}", Some(&process.cmdline)),
                format!("{:?}", event.cmdline),
            );
            check(
                "cmdline_truncated",
                "Some(false)".into(),
                format!("{:?}", event.cmdline_truncated),
            );
            check(
                "parent_comm",
                format!("{:?}", Some(&process.parent_comm)),
                format!("{:?}", event.parent_comm),
            );
            check(
                "ns_pid (the workload's getpid)",
                format!("{:?}", Some(process.ns_pid)),
                format!("{:?}", event.ns_pid),
            );
            check(
                "ns_ppid (the workload's getppid)",
                format!("{:?}", Some(process.ns_ppid)),
                format!("{:?}", event.ns_ppid),
            );
        }
        if has_details {
            // The workloads run in the test's pid namespace, which numbers them as the host does.
            check(
                "ns_pid (host process)",
                format!("{:?}", Some(event.pid)),
                format!("{:?}", event.ns_pid),
            );
            check(
                "ns_ppid (host process)",
                format!("{:?}", event.ppid),
                format!("{:?}", event.ns_ppid),
            );
        }
        let code_name = action_name(event.code_raw).map_or_else(|| "?".into(), str::to_owned);
        check("code (from code_raw)", code_name, event.code.clone());
        check("source", source.to_owned(), event.source.clone());
        check("comm", context.comm.clone(), event.comm.clone());
        // A workload started through a shell says who its parent is.
        let ppid = plan
            .and_then(|plan| plan.process.as_ref())
            .map_or(context.ppid, |process| process.ppid);
        check(
            "ppid",
            format!("{:?}", Some(ppid)),
            format!("{:?}", event.ppid),
        );
        check(
            "mntns_id",
            format!("{:?}", Some(context.mntns_id)),
            format!("{:?}", event.mntns_id),
        );
        check("node", context.node.clone(), event.node.clone());
        check("container", "None".into(), format!("{:?}", event.container));
        let key = Key::of_event(event);
        if let Some(record) = kernel.iter().find(|r| Key::of_record(r) == key) {
            check(
                "exe (kernel's exe=)",
                format!("{:?}", record.exe),
                format!("{:?}", event.exe),
            );
            if record.ip.is_some() {
                check(
                    "ip (kernel's ip=)",
                    format!("{:?}", record.ip.map(|ip| format!("{ip:#x}"))),
                    format!("{:?}", event.ip.map(|ip| format!("{ip:#x}"))),
                );
            }
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

/// The planned call an event is of when the kernel did not audit that call.
fn not_audited<'a>(plans: &[&'a Plan], event: &TracerEvent) -> Option<&'a Expected> {
    plans
        .iter()
        .filter(|p| p.pid == event.pid)
        .flat_map(|p| p.unaudited.iter().chain(&p.not_seccomp))
        .find(|e| {
            u64::from(e.syscall_nr) == event.syscall_nr && Some(&e.arch) == event.arch.as_ref()
        })
}

/// Checks the fields a scenario made claims about.
pub fn check_details(
    check: &mut impl FnMut(&str, String, String),
    details: &Details,
    event: &TracerEvent,
) {
    if let Some(errno) = details.errno {
        check(
            "errno (what the caller got)",
            format!("{:?}", Some(errno)),
            format!("{:?}", event.errno),
        );
        check(
            "errno_name",
            format!("{:?}", details.errno_name),
            format!("{:?}", event.errno_name),
        );
    }
    if let Some(args) = details.args {
        let hex = |args: &[u64]| {
            args.iter()
                .map(|a| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        check(
            "args (the argument registers)",
            format!("[{}]", hex(&args)),
            event
                .args
                .as_ref()
                .map_or_else(|| "null".to_owned(), |args| format!("[{}]", hex(args))),
        );
    }
    if let Some(ip) = details.ip {
        check(
            "ip (after the system call instruction)",
            format!("{:?}", Some(format!("{ip:#x}"))),
            format!("{:?}", event.ip.map(|ip| format!("{ip:#x}"))),
        );
    }
    if let Some(path) = &details.path {
        check(
            "path",
            format!("{:?}", Some(&path.path)),
            format!("{:?}", event.path),
        );
        check(
            "path_truncated",
            format!("{:?}", Some(path.truncated)),
            format!("{:?}", event.path_truncated),
        );
        check(
            "dirfd",
            format!("{:?} (field present)", path.dirfd),
            format!(
                "{:?} (field {})",
                event.dirfd,
                if event.has("dirfd") {
                    "present"
                } else {
                    "missing"
                }
            ),
        );
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
            exe: Some("/work/main/target/debug/seccomp-workload".into()),
            sig,
            arch: crate::filter::AUDIT_ARCH_X86_64,
            syscall,
            compat: Some(0),
            ip: Some(0x7f88_a27d_7829),
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
            exe: Some("/work/main/target/debug/seccomp-workload".into()),
            ip: Some(0x7f88_a27d_7829),
            ns_pid: Some(pid),
            ns_ppid: Some(1),
            ..TracerEvent::default()
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
                details: Details::default(),
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
            all_denials: false,
            stack: false,
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
    fn compares_the_details_a_scenario_claims() {
        let mut plan = plan(10);
        plan.expect[0].code = "errno".into();
        plan.expect[0].details = Details {
            errno: Some(13),
            errno_name: Some("EACCES".into()),
            args: Some([1, 2, 3, 4, 5, 0xf666_0000_0000_0006]),
            ip: None,
            path: Some(crate::plan::PathArg {
                path: "short".into(),
                truncated: false,
                dirfd: Some(-100),
            }),
        };
        let kernel = record(10, 83, 0x5_0000, 0);
        let mut seen = event(10, "mkdir", 83, "errno", 0x5_0000);
        seen.errno = Some(13);
        seen.errno_name = Some("EACCES".into());
        seen.args = Some(vec![1, 2, 3, 4, 5, 0xf666_0000_0000_0006]);
        seen.path = Some("short".into());
        seen.path_truncated = Some(false);
        seen.dirfd = Some(-100);
        seen.fields.insert("dirfd".into());
        let report = Report::new(&[&plan], &[&kernel], &[&seen], &context());
        assert!(report.is_ok(), "{report:?}");

        seen.args.as_mut().unwrap()[5] = 0xf666_0000_0000_0000;
        seen.errno = None;
        seen.fields.remove("dirfd");
        let report = Report::new(&[&plan], &[&kernel], &[&seen], &context());
        assert_eq!(
            report.field_problems,
            [
                "pid 10 tid 10 x86_64 nr 83: errno (what the caller got): expected Some(13), seen None",
                "pid 10 tid 10 x86_64 nr 83: args (the argument registers): expected \
                 [0x1,0x2,0x3,0x4,0x5,0xf666000000000006], seen [0x1,0x2,0x3,0x4,0x5,0xf666000000000000]",
                "pid 10 tid 10 x86_64 nr 83: dirfd: expected Some(-100) (field present), seen \
                 Some(-100) (field missing)",
            ]
        );
    }

    #[test]
    fn the_audit_source_has_no_details_of_a_logged_call() {
        let plan = plan(10);
        let kernel = record(10, 83, 0x7ffc_0000, 0);
        let mut seen = event(10, "mkdir", 83, "log", 0x7ffc_0000);
        seen.source = "audit".into();
        seen.tid = None;
        seen.args = Some(vec![0; 6]);
        let context = Context {
            source: "audit".into(),
            ..context()
        };
        let report = Report::new(&[&plan], &[&kernel], &[&seen], &context);
        assert_eq!(
            report.field_problems,
            [
                "pid 10 tid - x86_64 nr 83: args (the audit source has none for log): expected \
              None, seen Some([0, 0, 0, 0, 0, 0])"
            ]
        );
    }

    #[test]
    fn with_all_denials_a_logged_call_has_all_its_details_or_none() {
        let plan = plan(10);
        let kernel = record(10, 83, 0x7ffc_0000, 0);
        let context = Context {
            source: "audit".into(),
            all_denials: true,
            ..context()
        };
        let mut bare = event(10, "mkdir", 83, "log", 0x7ffc_0000);
        bare.source = "audit".into();
        bare.tid = None;
        bare.args = None;
        bare.ns_pid = None;
        bare.ns_ppid = None;
        let report = Report::new(&[&plan], &[&kernel], &[&bare], &context);
        assert!(report.is_ok(), "{report:?}");

        let mut detailed = event(10, "mkdir", 83, "log", 0x7ffc_0000);
        detailed.source = "audit".into();
        detailed.args = Some(vec![0; 6]);
        let report = Report::new(&[&plan], &[&kernel], &[&detailed], &context);
        assert!(report.is_ok(), "{report:?}");
        detailed.tid = None;
        let report = Report::new(&[&plan], &[&kernel], &[&detailed], &context);
        assert_eq!(
            report.field_problems,
            ["pid 10 tid - x86_64 nr 83: tid: expected Some(10), seen None"]
        );
    }

    #[test]
    fn counts_unaudited_refusals_only_with_all_denials() {
        let logged = plan(10).expect[0].clone();
        let mut plan = plan(10);
        plan.expect.clear();
        plan.unaudited = vec![Expected {
            syscall_nr: 258,
            syscall: "mkdirat".into(),
            code: "errno".into(),
            details: Details {
                errno: Some(30),
                errno_name: Some("EROFS".into()),
                ..Details::default()
            },
            ..logged.clone()
        }];
        plan.not_seccomp = vec![Expected {
            syscall_nr: 302,
            syscall: "prlimit64".into(),
            code: "allow".into(),
            ..logged.clone()
        }];
        let mut refused = event(10, "mkdirat", 258, "errno", 0x5_001e);
        refused.source = "syscall-exit".into();
        refused.errno = Some(30);
        refused.errno_name = Some("EROFS".into());
        let all_denials = Context {
            all_denials: true,
            ..context()
        };
        let report = Report::new(&[&plan], &[], &[&refused], &all_denials);
        assert!(report.is_ok(), "{report:?}");

        let report = Report::new(&[&plan], &[], &[], &all_denials);
        assert_eq!(
            report.field_problems,
            [
                "pid 10 x86_64 mkdirat (refused without an audit record): reported 0 times, \
              expected 1 (--all-denials on)"
            ]
        );
        let kernel_failure = event(10, "prlimit64", 302, "errno", 0x5_0001);
        let report = Report::new(
            &[&plan],
            &[],
            &[&refused, &refused, &kernel_failure],
            &context(),
        );
        let counts: Vec<_> = report
            .field_problems
            .iter()
            .filter(|p| p.contains("reported"))
            .collect();
        assert_eq!(
            counts,
            [
                "pid 10 x86_64 mkdirat (refused without an audit record): reported 2 times, \
                 expected 0 (--all-denials off)",
                "pid 10 x86_64 prlimit64 (failed by the kernel, not by seccomp): reported 1 \
                 times, expected 0 (--all-denials off)",
            ]
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
