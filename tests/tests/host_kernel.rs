//! tracer and the test machinery on the machine's own kernel, as root: `cargo xtask test` sets
//! TRACER_BIN (and SECCOMP_WORKLOAD, which defaults to the one cargo built).
//!
//! Each hook must attach where the kernel offers what it needs, report a call exactly as the
//! kernel's own audit record has it, and otherwise fail at once saying what the kernel lacks;
//! auto must take the first hook that works. The project's build machines run a kernel without
//! kprobes that refuses fentry, so there the eBPF hooks fail and auto falls back to the audit
//! records. Those kernels still write seccomp audit records, which lets the workload and the
//! audit-record oracle be checked against a real kernel here.

use std::{
    os::unix::{fs::PermissionsExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use chrono::Utc;
use tracer_integration_tests::{
    env,
    kmsg::{AuditLog, SeccompRecord, UnlimitedPrintk},
    oracle::{Context, Report, kernel_vs_plan},
    plan::Plan,
    tracer::{ATTACH_TIMEOUT, Finished, STOP_TIMEOUT, Tracer, parse_attached},
    workload::{Run, Workload},
};

const HOW_TO_RUN: &str = "run these tests as root with `cargo xtask test`, which builds tracer \
    and sets TRACER_BIN";

const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// A tracer that cannot start must say so at once, not after a timeout.
const FAIL_FAST: Duration = Duration::from_secs(10);

/// Events of the workload arrive within milliseconds; this only bounds a failing run.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// `nobody` on Debian and most distributions.
const UNPRIVILEGED: u32 = 65534;

/// Tests that lift the printk rate limit or attach a tracer run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn tracer_bin() -> PathBuf {
    env::require_root(HOW_TO_RUN);
    env::required_file("TRACER_BIN", HOW_TO_RUN)
}

fn workload() -> Workload {
    Workload::new(env::file_or(
        "SECCOMP_WORKLOAD",
        env!("CARGO_BIN_EXE_seccomp-workload"),
        HOW_TO_RUN,
    ))
}

fn run_to_failure(bin: &Path, probe: &str) -> Finished {
    let args = ["audit", "seccomp", "--probe", probe, "-o", "json", "--host"];
    let finished = Tracer::start(bin, &args).wait_exit(FAIL_FAST);
    assert!(
        !finished.status.success(),
        "tracer --probe {probe} succeeded on a kernel without a usable hook; stderr:\n{}",
        finished.stderr_text()
    );
    finished
}

/// Runs `--probe hook` with a short `--timeout`: it either fails to attach, or attaches and
/// ends by itself.
fn trial(bin: &Path, hook: &str) -> Finished {
    let args = [
        "audit",
        "seccomp",
        "--probe",
        hook,
        "-o",
        "json",
        "--host",
        "--timeout",
        "1",
    ];
    Tracer::start(bin, &args).wait_exit(ATTACH_TIMEOUT + STOP_TIMEOUT)
}

/// The `attached HOOK on FUNCTION` line's hook and function.
fn attached(finished: &Finished) -> Option<(String, String)> {
    finished.stderr.iter().find_map(|line| parse_attached(line))
}

/// The line that mentions `hook`, which must also give a reason among `reasons`.
fn assert_explains(finished: &Finished, hook: &str, reasons: &[&str]) {
    let stderr = finished.stderr_text();
    let explained = stderr.lines().any(|line| {
        let line = line.to_lowercase();
        line.contains(hook) && reasons.iter().any(|r| line.contains(&r.to_lowercase()))
    });
    assert!(
        explained,
        "{} does not say why {hook} cannot be used (expected a line naming {hook} with one of \
         {reasons:?}); stderr:\n{stderr}",
        finished.description
    );
}

/// Why a kernel without kprobes cannot take the kprobe hook.
const NO_KPROBES: &[&str] = &["without kprobes", "no kprobes", KPROBE_PMU];
/// Why fentry fails on kernels that refuse it: locked-down trampolines (EPERM), none for the
/// architecture (ENOTSUPP, arm64 before 6.4), or no BTF.
const FENTRY_REFUSED: &[&str] = &[
    "EPERM",
    "BTF",
    "refused",
    "not supported",
    "lockdown",
    "no BPF trampolines",
];

fn kernel_has_kprobes() -> bool {
    Path::new(KPROBE_PMU).exists()
}

/// The function the kernel calls to audit a seccomp action, as /proc/kallsyms lists it:
/// `audit_seccomp`, or `__audit_seccomp` where the former is inlined.
fn audit_function() -> &'static str {
    let kallsyms = std::fs::read_to_string("/proc/kallsyms")
        .unwrap_or_else(|error| panic!("reading /proc/kallsyms: {error}"));
    let text_symbol = |name: &str| {
        kallsyms.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            matches!(fields.get(1), Some(&("T" | "t"))) && fields.get(2) == Some(&name)
        })
    };
    ["audit_seccomp", "__audit_seccomp"]
        .into_iter()
        .find(|name| text_symbol(name))
        .unwrap_or_else(|| {
            panic!("/proc/kallsyms has neither audit_seccomp nor __audit_seccomp as a function")
        })
}

/// Attaches `--probe hook`, which must name `function`, and checks that a call seccomp logs is
/// reported exactly as the kernel's own audit record has it.
fn reports_a_logged_call_like_the_kernel(bin: &Path, hook: &str, function: &str) {
    let workload = workload();
    let _every_record = UnlimitedPrintk::new();
    let tracer = Tracer::start(
        bin,
        &["audit", "seccomp", "--probe", hook, "-o", "json", "--host"],
    );
    assert_eq!(
        tracer.wait_attached(),
        hook,
        "tracer attached another hook than --probe {hook}"
    );
    let attach_line = format!("attached {hook} on {function}");
    assert!(
        tracer.stderr_text().contains(&attach_line),
        "tracer does not say `{attach_line}`; stderr:\n{}",
        tracer.stderr_text()
    );
    let mut audit = AuditLog::from_now();

    let started = Utc::now();
    let run = workload.run(&["log"]);
    run.assert_ended_as_planned();
    let ended = Utc::now();
    let pid = run.plan.pid;
    let expected = run.plan.expected_events() as usize;
    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        events.iter().filter(|e| e.pid == pid).count() >= expected
    });
    audit.wait_for(EVENT_TIMEOUT, |records| {
        records.iter().filter(|r| r.pid == pid).count() >= expected
    });
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
    let summary = finished.expect_summary();

    let pids = [pid];
    let kernel: Vec<&SeccompRecord> = audit.of_pids(&pids).collect();
    let seen: Vec<_> = finished.events.iter().filter(|e| e.pid == pid).collect();
    let context = Context {
        source: hook.to_owned(),
        comm: workload.comm(),
        ppid: std::process::id(),
        mntns_id: env::mount_namespace(),
        node: env::hostname(),
        started,
        ended,
        all_denials: false,
        stack: false,
    };
    let notes = format!(
        "workload pid {pid}; tracer summary: {summary:?}; kmsg records overwritten before they \
         were read: {}\ntracer stderr:\n{}",
        audit.overwritten(),
        finished.stderr_text()
    );
    Report::new(&[&run.plan], &kernel, &seen, &context).assert_ok(&notes);
}

#[test]
fn kprobe_attaches_exactly_where_the_kernel_has_kprobes() {
    let bin = tracer_bin();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if kernel_has_kprobes() {
        reports_a_logged_call_like_the_kernel(&bin, "kprobe", audit_function());
    } else {
        let kprobe = run_to_failure(&bin, "kprobe");
        assert_explains(&kprobe, "kprobe", NO_KPROBES);
    }
}

#[test]
fn fentry_attaches_or_says_why_the_kernel_refuses_it() {
    let bin = tracer_bin();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fentry = trial(&bin, "fentry");
    match attached(&fentry) {
        Some((hook, function)) => {
            assert_eq!(
                (hook.as_str(), function.as_str()),
                ("fentry", "audit_seccomp"),
                "tracer --probe fentry attached something else; stderr:\n{}",
                fentry.stderr_text()
            );
            assert!(
                Path::new(KERNEL_BTF).exists(),
                "fentry attached on a kernel without {KERNEL_BTF}"
            );
            // --timeout ends a run like SIGINT: exit 0 and the summary.
            fentry.assert_stopped_cleanly();
            fentry.expect_summary();
            reports_a_logged_call_like_the_kernel(&bin, "fentry", "audit_seccomp");
        }
        None => {
            assert!(
                !fentry.status.success(),
                "tracer --probe fentry neither attached nor failed; stderr:\n{}",
                fentry.stderr_text()
            );
            if Path::new(KERNEL_BTF).exists() {
                assert_explains(&fentry, "fentry", FENTRY_REFUSED);
            } else {
                assert_explains(&fentry, "fentry", &["BTF"]);
            }
        }
    }
}

#[test]
fn auto_takes_the_first_hook_that_works() {
    let bin = tracer_bin();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fentry_works = attached(&trial(&bin, "fentry")).is_some();
    let expected = if fentry_works {
        "fentry"
    } else if kernel_has_kprobes() {
        "kprobe"
    } else {
        "audit"
    };

    let tracer = Tracer::start(
        &bin,
        &[
            "audit", "seccomp", "--probe", "auto", "-o", "json", "--host",
        ],
    );
    let hook = tracer.wait_attached();
    let auto = tracer.stop();
    assert_eq!(
        hook,
        expected,
        "auto chose {hook} where fentry {} and the kernel {} kprobes; stderr:\n{}",
        if fentry_works { "works" } else { "is refused" },
        if kernel_has_kprobes() {
            "has"
        } else {
            "has no"
        },
        auto.stderr_text()
    );
    if !fentry_works {
        assert_explains(&auto, "fentry", FENTRY_REFUSED);
    }
    if expected == "audit" {
        assert!(
            auto.stderr_text().contains("falling back"),
            "the fallback is not announced; stderr:\n{}",
            auto.stderr_text()
        );
        assert_explains(&auto, "kprobe", NO_KPROBES);
    }
}

/// The attach line tells a person tracer is running: Ctrl-C from then on must stop it like any
/// later SIGINT, with the summary and exit 0, not kill it.
#[test]
fn sigint_right_after_the_attach_line_stops_cleanly() {
    let bin = tracer_bin();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tracer = Tracer::start(
        &bin,
        &[
            "audit", "seccomp", "--probe", "auto", "-o", "json", "--host",
        ],
    );
    tracer.wait_attached();
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    finished.expect_summary();
}

#[test]
fn unprivileged_user_is_told_which_capabilities_are_missing() {
    let bin = tracer_bin();
    // A copy the unprivileged user can reach and run, and which carries no file capabilities.
    let dir = std::env::temp_dir().join(format!("tracer-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let copy = dir.join("tracer");
    std::fs::copy(&bin, &copy).unwrap_or_else(|e| panic!("copying {}: {e}", bin.display()));
    for (path, mode) in [(&dir, 0o755), (&copy, 0o755)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }

    let mut command = Tracer::command(&copy, &["audit", "seccomp", "-o", "json", "--host"]);
    // SAFETY: between fork and exec only async-signal-safe system calls are made. Changing
    // every uid away from 0 clears the capability sets, and exec of a file without file
    // capabilities gives none back.
    unsafe {
        command.pre_exec(|| {
            let check = |ret: libc::c_int| {
                if ret == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setresgid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED))?;
            check(libc::setresuid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED))
        });
    }
    let finished = Tracer::spawn(command).wait_exit(FAIL_FAST);
    let _ = std::fs::remove_dir_all(&dir);

    let stderr = finished.stderr_text();
    assert!(
        !finished.status.success(),
        "tracer ran as uid {UNPRIVILEGED} without capabilities and succeeded; stderr:\n{stderr}"
    );
    for capability in ["CAP_BPF", "CAP_PERFMON"] {
        assert!(
            stderr.contains(capability),
            "tracer without capabilities does not name {capability} as missing; stderr:\n{stderr}"
        );
    }
}

/// What this kernel writes in the record of each scenario: (scenario, code, sig). Kills carry
/// SIGSYS; trap and errno do not, although a trap delivers SIGSYS. The errno action is audited
/// without its data (the errno).
const KERNEL_RECORDS: &[(&str, u32, i32)] = &[
    ("log", 0x7ffc_0000, 0),
    ("kill-thread", 0x0000_0000, 31),
    ("kill-thread-in-thread", 0x0000_0000, 31),
    ("kill-process", 0x8000_0000, 31),
    ("trap", 0x0003_0000, 0),
    ("errno", 0x0005_0000, 0),
    ("i386", 0x7ffc_0000, 0),
    ("x32", 0x7ffc_0000, 0),
    ("burst", 0x7ffc_0000, 0),
    ("errnos", 0x0005_0000, 0),
    ("args", 0x0005_0000, 0),
    ("args-i386", 0x0005_0000, 0),
    ("long-path", 0x0005_0000, 0),
    ("killed-at-once", 0x8000_0000, 31),
];

/// The workload and the audit-record oracle against a real kernel: every scenario must produce
/// exactly the records its plan announced, and the parser must read all of their fields.
#[test]
fn workload_scenarios_are_audited_as_planned() {
    env::require_root(HOW_TO_RUN);
    let workload = workload();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let mut audit = AuditLog::from_now();

    let mut runs: Vec<Run> = [
        &["log"][..],
        &["kill-thread"],
        &["kill-thread-in-thread"],
        &["kill-process"],
        &["trap"],
        &["errno"],
        &["i386"],
        &["x32"],
        &["burst", "25"],
        &["errnos"],
        &["args"],
        &["args-i386"],
        &["long-path"],
        &["unaudited"],
    ]
    .iter()
    .map(|args| {
        let run = workload.run(args);
        run.assert_ended_as_planned();
        run
    })
    .collect();
    let killed = workload.run_as_child_of_sh(&["killed-at-once", "--tag=host-kernel"]);
    killed.assert_ended_as_planned();
    runs.push(killed);
    let plans: Vec<&Plan> = runs.iter().map(|r| &r.plan).collect();
    let pids: Vec<u32> = plans.iter().map(|p| p.pid).collect();
    let expected = plans.iter().map(|p| p.expected_events()).sum::<u32>() as usize;
    audit.wait_for(Duration::from_secs(10), |records| {
        records.iter().filter(|r| pids.contains(&r.pid)).count() >= expected
    });
    assert!(
        audit.unparsable.is_empty(),
        "records this parser cannot read: {:?}",
        audit.unparsable
    );
    let kernel: Vec<&SeccompRecord> = audit.of_pids(&pids).collect();
    if let Some(table) = kernel_vs_plan(&plans, &kernel) {
        panic!(
            "the kernel's audit records differ from the workloads' plans (records overwritten \
             before they were read: {}; is an audit daemon taking them?):\n{table}",
            audit.overwritten()
        );
    }

    let exe = std::fs::canonicalize(&workload.path).expect("the workload exists");
    for record in &kernel {
        let plan = plans
            .iter()
            .find(|p| p.pid == record.pid)
            .expect("records are of our pids");
        let (_, code, sig) = KERNEL_RECORDS
            .iter()
            .find(|(scenario, ..)| *scenario == plan.scenario)
            .unwrap_or_else(|| panic!("no expectation for scenario {}", plan.scenario));
        let context = format!("{} record {record:?}", plan.scenario);
        assert_eq!(
            (record.code, record.sig),
            (*code, *sig),
            "code and sig of the {context}"
        );
        assert_eq!(record.comm, Some(workload.comm()), "comm of the {context}");
        assert_eq!(record.exe.as_deref(), exe.to_str(), "exe of the {context}");
        // SAFETY: getuid and getgid have no preconditions.
        let ids = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!(
            (record.uid, record.gid),
            (Some(ids.0), Some(ids.1)),
            "ids in the {context}"
        );
        let compat = u32::from(plan.scenario.contains("i386"));
        // x32 calls count as compat only on kernels built with the x32 ABI.
        if plan.scenario != "x32" {
            assert_eq!(record.compat, Some(compat), "compat of the {context}");
        }
        assert!(
            record.ip.is_some() && record.serial.is_some(),
            "ip and serial of the {context}"
        );
        // Where the workload knows the address after its system call instruction, it is the
        // kernel's ip=: the truth the tests hold tracer's `ip` to.
        let run = runs
            .iter()
            .find(|r| r.plan.pid == record.pid)
            .expect("records are of our pids");
        for returned in run.returned.iter().filter(|r| r.ip.is_some()) {
            assert_eq!(
                returned.ip.map(|ip| format!("{ip:#x}")),
                record.ip.map(|ip| format!("{ip:#x}")),
                "the ip {} printed for its call, and the {context}",
                plan.scenario
            );
        }
        if let Some(process) = &plan.process {
            assert_eq!(
                Some(process.exe.as_str()),
                exe.to_str(),
                "the exe {} saw itself run",
                plan.scenario
            );
            assert_eq!(process.parent_comm, "sh", "{} runs under sh", plan.scenario);
        }
    }
    // What the workloads printed their calls returned is what they planned.
    for run in &runs {
        run.plan_with_truth();
    }
}
