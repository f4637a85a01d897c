//! `--rules` on this machine's kernel, and `tracer rules check` / `tracer rules test`.
//!
//! KubeArmor's syscall-forensics policy, unchanged, against a container it selects (label
//! `app=wordpress`, in the pod namespace `wordpress-mysql` as kubelet labels it) that calls
//! unlink, chown, chroot, swapoff, syslog and sethostname under a profile that logs them: every
//! call the kernel audited comes out once, as an alert with the policy's name, severity, tags
//! and message, the container, the process and its parent, and the path. A second tracer beside
//! it takes rules of its own ahead of the policy: its levels drop, trim or keep what the first
//! tracer shows in full, and its drops are counted in the summary and the metrics.

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
    time::{Duration, Instant},
};

use tracer_integration_tests::{
    docker::{Dockerd, IMAGE},
    env,
    kmsg::{AuditLog, SeccompRecord, UnlimitedPrintk},
    metrics,
    oracle::Tally,
    tracer::{Tracer, TracerEvent},
};

const HOW_TO_RUN: &str = "run these tests as root with `cargo xtask test`, which builds tracer \
    and sets TRACER_BIN";
/// Each test that reads the kernel's audit records runs alone.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// Records and events arrive within a second; this ends a stuck run.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
const SEED_POLICY: &str = include_str!("../testdata/kubearmor-syscall-forensics.yaml");
const POLICY_NAME: &str = "Auditing Syscalls";
const SEED_TAGS: [&str; 3] = ["CIS-4.4,4.3,4.12", "NIST-4.4,4.3,4.12", "MITRE-T1602"];
const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;

/// The calls the container makes, their x86-64 numbers, the busybox applet making each, and
/// the second round's command line and path argument (where the call takes one).
const CALLS: [(&str, u64, &str, &str, Option<&str>); 6] = [
    (
        "unlink",
        87,
        "unlink",
        "/bin/unlink /tmp/f2",
        Some("/tmp/f2"),
    ),
    ("chown", 92, "chown", "/bin/chown 1 /tmp/g", Some("/tmp/g")),
    (
        "chroot",
        161,
        "chroot",
        "/bin/chroot / /bin/true",
        Some("/"),
    ),
    (
        "swapoff",
        168,
        "swapoff",
        "/bin/swapoff /tmp/none",
        Some("/tmp/none"),
    ),
    // One call: without -s, dmesg asks the buffer's size first, from the same place, and on the
    // audit source two differing calls from one place within milliseconds get no details.
    ("syslog", 103, "dmesg", "/bin/dmesg -s 16384", None),
    (
        "sethostname",
        170,
        "hostname",
        "/bin/hostname wordpress-2",
        None,
    ),
];

/// Rules ahead of the policy: syslog dropped, chown cut to metadata, unlink to request.
const LEVELS: &str = r#"
rules:
  - name: drop-kernel-log-reads
    level: none
    syscalls: [syslog]
  - name: ownership
    level: metadata
    syscalls: [chown]
    severity: 2
  - name: deletions
    level: request
    syscalls: [unlink]
    severity: 7
    tags: [files]
    message: a file was deleted
"#;

fn tracer_bin() -> PathBuf {
    env::required_file("TRACER_BIN", HOW_TO_RUN)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tracer-rules-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a test file");
    path
}

fn in_wordpress(event: &TracerEvent) -> bool {
    event
        .container
        .as_ref()
        .and_then(|c| c.get("name"))
        .and_then(|n| n.as_str())
        == Some("wordpress")
}

fn call_of(nr: u64) -> &'static str {
    CALLS
        .iter()
        .find(|(_, n, ..)| *n == nr)
        .map_or("?", |(name, ..)| name)
}

/// The kernel's records of the container's calls.
fn container_records(audit: &AuditLog) -> Vec<&SeccompRecord> {
    audit
        .records
        .iter()
        .filter(|r| r.code == SECCOMP_RET_LOG)
        .filter(|r| {
            CALLS
                .iter()
                .any(|(_, nr, applet, ..)| *nr == r.syscall && r.comm.as_deref() == Some(applet))
        })
        .collect()
}

fn start(bin: &Path, rules: &[&Path], extra: &[&str]) -> Tracer {
    let mut args = vec!["-o", "json", "--all-denials"];
    for path in rules {
        args.extend(["--rules", path.to_str().expect("a UTF-8 path")]);
    }
    args.extend(extra);
    Tracer::start_attached(bin, "audit", &args)
}

#[test]
fn the_kubearmor_policy_alerts_on_the_containers_calls_and_rules_set_their_levels() {
    env::require_root(HOW_TO_RUN);
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _every_record = UnlimitedPrintk::new();
    let bin = tracer_bin();
    let dir = scratch("alerts");
    let policy = write(&dir, "policy.yaml", SEED_POLICY);
    let levels = write(&dir, "levels.yaml", LEVELS);
    let dockerd = Dockerd::start();
    dockerd.import_busybox();
    let names: Vec<&str> = CALLS.iter().map(|(name, ..)| *name).collect();
    let profile = write(
        &dir,
        "log.json",
        &format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"action":"SCMP_ACT_LOG","names":{}}}]}}"#,
            serde_json::to_string(&names).unwrap()
        ),
    );
    let socket = dockerd.socket();
    let socket = socket.to_str().expect("a UTF-8 path");
    let port = metrics::free_port();
    let metrics_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let alerts = start(&bin, &[&policy], &["--docker-socket", socket]);
    let leveled = start(
        &bin,
        &[&levels, &policy],
        &[
            "--docker-socket",
            socket,
            "--metrics-addr",
            &metrics_addr.to_string(),
        ],
    );
    let mut audit = AuditLog::from_now();

    // The shell is the container's pid 1 and runs each applet as a child (full paths: busybox's
    // shell would run some applets in its own process). Twice, a second apart: on the audit
    // source the details of a logged call (path, parent) come from its second call on.
    let script = "touch /tmp/f1 /tmp/f2 /tmp/g; for i in 1 2; do /bin/unlink /tmp/f$i; \
                  /bin/chown 1 /tmp/g; /bin/chroot / /bin/true; /bin/swapoff /tmp/none; \
                  /bin/dmesg -s 16384 >/dev/null; /bin/hostname wordpress-$i; sleep 1; done; true";
    let seccomp = format!("seccomp={}", profile.display());
    let run = dockerd.docker(&[
        "run",
        "--name",
        "wordpress",
        "--network",
        "none",
        "--label",
        "app=wordpress",
        "--label",
        "io.kubernetes.pod.namespace=wordpress-mysql",
        "--label",
        "io.kubernetes.pod.name=wordpress-7c966b5d85-wvtln",
        "--label",
        "io.kubernetes.container.name=wordpress",
        "--security-opt",
        &seccomp,
        IMAGE,
        "sh",
        "-c",
        script,
    ]);
    assert!(run.status.success(), "the container failed: {run:?}");
    let complete = |records: &[SeccompRecord]| {
        CALLS.iter().all(|(_, nr, ..)| {
            records
                .iter()
                .filter(|r| r.syscall == *nr && r.code == SECCOMP_RET_LOG)
                .count()
                >= 2
        })
    };
    assert!(
        audit.wait_for(EVENT_TIMEOUT, complete),
        "the kernel did not audit every call twice: {:#?}",
        audit.records
    );
    let kernel: Vec<&SeccompRecord> = container_records(&audit);
    let syslog_records = kernel.iter().filter(|r| r.syscall == 103).count();
    let shown_by_levels = kernel.len() - syslog_records;
    alerts.wait_for_events(EVENT_TIMEOUT, |events| {
        events.iter().filter(|e| in_wordpress(e)).count() >= kernel.len()
    });
    leveled.wait_for_events(EVENT_TIMEOUT, |events| {
        events.iter().filter(|e| in_wordpress(e)).count() >= shown_by_levels
    });
    // Published once a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    let suppressed = loop {
        let value = metrics::scrape(metrics_addr)
            .value("tracer_events_suppressed_total", &[("reason", "rule")])
            .unwrap_or(0.0);
        if value >= syslog_records as f64 || Instant::now() > deadline {
            break value;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let alerts = alerts.stop();
    let leveled = leveled.stop();
    alerts.assert_stopped_cleanly();
    leveled.assert_stopped_cleanly();
    let context = format!(
        "kernel records: {kernel:#?}\nalerts' stderr:\n{}\nlevels' stderr:\n{}",
        alerts.stderr_text(),
        leveled.stderr_text()
    );

    // Every call the kernel audited is one alert, and no more.
    let alerted: Vec<&TracerEvent> = alerts.events.iter().filter(|e| in_wordpress(e)).collect();
    let tally = Tally::count(
        kernel.iter().map(|r| (r.pid, r.syscall)),
        alerted.iter().map(|e| (e.pid, e.syscall_nr)),
    );
    assert!(
        tally.is_exact(),
        "the alerts are not the kernel's records of the container's calls:\n{}\n{context}",
        tally.table(&["PID", "SYSCALL"], "kernel", "tracer", |(pid, nr)| vec![
            pid.to_string(),
            call_of(*nr).to_owned()
        ])
    );
    for event in &alerted {
        let (_, _, applet, ..) = CALLS
            .iter()
            .find(|(name, ..)| *name == event.syscall)
            .unwrap_or_else(|| panic!("an alert of an unexpected call: {event:#?}"));
        assert_eq!(event.rule.as_deref(), Some(POLICY_NAME), "{event:#?}");
        assert_eq!(event.severity, Some(1), "KubeArmor's default: {event:#?}");
        assert_eq!(
            event.tags.as_deref(),
            Some(&SEED_TAGS.map(String::from)[..])
        );
        assert_eq!(event.message.as_deref(), Some("Warning! Syscall Alert"));
        let container = event.container.as_ref().expect("a container");
        assert_eq!(container["labels"]["app"], "wordpress", "{event:#?}");
        assert!(
            event.ppid.is_some_and(|ppid| ppid > 1 && ppid != event.pid),
            "the parent's pid: {event:#?}"
        );
        assert_eq!(&event.comm, applet, "the process name");
        assert_eq!(
            event.exe.as_deref(),
            Some("/bin/busybox"),
            "the process's file"
        );
    }
    // The second call of each: who its parent is, inside the container, and the resource.
    for (name, _, _, cmdline, path) in CALLS {
        let detailed = alerted.iter().find(|e| {
            e.syscall == name && e.parent_comm.as_deref() == Some("sh") && e.ns_ppid == Some(1)
        });
        let detailed = detailed.unwrap_or_else(|| {
            panic!("no alert of {name} names its parent (sh, pid 1 in the container):\n{context}")
        });
        assert!(detailed.ns_pid.is_some_and(|pid| pid > 1), "{detailed:#?}");
        assert_eq!(
            detailed.cmdline.as_deref(),
            Some(cmdline),
            "the source: {detailed:#?}"
        );
        if let Some(path) = path {
            assert_eq!(
                detailed.path.as_deref(),
                Some(path),
                "the resource: {detailed:#?}"
            );
        }
    }

    // The levels: the rules ahead of the policy win; syslog is dropped and counted.
    let shown: Vec<&TracerEvent> = leveled.events.iter().filter(|e| in_wordpress(e)).collect();
    assert!(
        shown.iter().all(|e| e.syscall != "syslog"),
        "a dropped call came out:\n{context}"
    );
    assert_eq!(shown.len(), shown_by_levels, "{shown:#?}\n{context}");
    assert_eq!(
        suppressed, syslog_records as f64,
        "tracer_events_suppressed_total{{reason=\"rule\"}}\n{context}"
    );
    let summary = format!("{syslog_records} dropped by rules");
    assert!(
        leveled.stderr_text().contains(&summary),
        "the summary does not say `{summary}`:\n{context}"
    );
    for event in &shown {
        let fields: BTreeSet<&str> =
            ["args", "path", "exe", "errno", "parent_comm", "stack"].into();
        match event.syscall.as_str() {
            "chown" => {
                assert_eq!(event.rule.as_deref(), Some("ownership"));
                assert_eq!(event.severity, Some(2));
                for field in &fields {
                    assert!(event.fields.contains(*field), "{field} is in every event");
                }
                assert_eq!(
                    (&event.args, &event.path, &event.exe, &event.parent_comm),
                    (&None, &None, &None, &None),
                    "metadata keeps no details: {event:#?}"
                );
                assert!(event.ppid.is_some(), "metadata keeps the parent's pid");
            }
            "unlink" => {
                assert_eq!(event.rule.as_deref(), Some("deletions"));
                assert_eq!(event.severity, Some(7));
                assert_eq!(event.tags.as_deref(), Some(&["files".to_owned()][..]));
                assert_eq!(event.message.as_deref(), Some("a file was deleted"));
                assert_eq!(
                    event.exe.as_deref(),
                    Some("/bin/busybox"),
                    "request keeps exe"
                );
            }
            _ => assert_eq!(event.rule.as_deref(), Some(POLICY_NAME), "{event:#?}"),
        }
    }
    assert!(
        shown.iter().any(|e| e.syscall == "unlink"
            && e.path.as_deref() == Some("/tmp/f2")
            && e.args.is_some()),
        "request keeps the path and arguments of the detailed unlink:\n{context}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tracer(args: &[&str]) -> std::process::Output {
    Command::new(tracer_bin())
        .args(args)
        .output()
        .expect("running tracer")
}

#[test]
fn rules_check_accepts_valid_files_and_locates_errors() {
    let dir = scratch("check");
    let policy = write(&dir, "policy.yaml", SEED_POLICY);
    let levels = write(&dir, "levels.yaml", LEVELS);
    let ok = tracer(&[
        "rules",
        "check",
        policy.to_str().unwrap(),
        levels.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{ok:?}");
    assert!(stdout.contains("policy.yaml: 1 rules"), "{stdout}");
    assert!(stdout.contains("levels.yaml: 3 rules"), "{stdout}");

    let typo = write(
        &dir,
        "typo.yaml",
        "rules:\n  - name: a\n    level: none\n    sycalls: [unlink]\n",
    );
    let block = write(
        &dir,
        "block.yaml",
        &SEED_POLICY.replace("action: Audit", "action: Block"),
    );
    let bad = tracer(&[
        "rules",
        "check",
        levels.to_str().unwrap(),
        typo.to_str().unwrap(),
        block.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(
        stderr.contains(&format!("{}:4:5: unknown key `sycalls`", typo.display()))
            && stderr.contains("did you mean `syscalls`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}:7:11: spec.action `Block` cannot be honoured",
            block.display()
        )),
        "every file's error is reported: {stderr}"
    );
    // The run itself refuses them before it loads anything, saying where.
    let run = tracer(&[
        "audit",
        "seccomp",
        "--rules",
        levels.to_str().unwrap(),
        "--rules",
        typo.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        stderr.contains(&format!(
            "--rules: {}:4:5: unknown key `sycalls`",
            typo.display()
        )),
        "{stderr}"
    );
    let yaml = write(&dir, "yaml.yaml", "rules:\n  - name: a\n   level: none\n");
    let bad = tracer(&["rules", "check", yaml.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        stderr.contains(&format!("{}:3:4: this is not valid YAML", yaml.display())),
        "{stderr}"
    );
    let missing = tracer(&["rules", "check", dir.join("absent.yaml").to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot read the rules file"),
        "{missing:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A JSON event line as `-o json` writes it.
fn event_line(syscall: &str, nr: u32, container: Option<(&str, &[(&str, &str)])>) -> String {
    let container = container.map_or(serde_json::Value::Null, |(name, labels)| {
        serde_json::json!({
            "runtime": "docker", "id": "4f3c", "name": name, "image": "wordpress:4.8",
            "labels": labels.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                .collect::<serde_json::Map<_, _>>(),
        })
    });
    serde_json::json!({
        "timestamp": "2026-11-26T22:00:00Z", "node": "n", "source": "audit", "pid": 7,
        "tid": null, "ppid": 1, "uid": 0, "gid": 0, "comm": syscall, "mntns_id": 1,
        "cgroup_id": 1, "syscall": syscall, "syscall_nr": nr, "arch": "x86_64", "code": "log",
        "code_raw": SECCOMP_RET_LOG, "signal": null, "errno": null, "errno_name": null,
        "args": null, "ip": null, "path": "/tmp/x", "path_truncated": false, "dirfd": null,
        "exe": "/bin/busybox", "cmdline": null, "cmdline_truncated": null,
        "parent_comm": null, "ns_pid": null, "ns_ppid": null, "stack": null,
        "container": container, "k8s": null,
    })
    .to_string()
}

#[test]
fn rules_test_shows_the_rule_each_event_matches_first() {
    let dir = scratch("test");
    let policy = write(&dir, "policy.yaml", SEED_POLICY);
    let levels = write(&dir, "levels.yaml", LEVELS);
    let selected: &[(&str, &str)] = &[
        ("app", "wordpress"),
        ("io.kubernetes.pod.namespace", "wordpress-mysql"),
    ];
    let lines = [
        event_line("syslog", 103, Some(("wordpress", selected))),
        event_line("chown", 92, Some(("wordpress", selected))),
        event_line("chroot", 161, Some(("wordpress", selected))),
        event_line("chroot", 161, Some(("db", &[("app", "mysql")]))),
        String::new(),
        event_line("mkdir", 83, None),
    ];
    let events = write(&dir, "events.jsonl", &(lines.join("\n") + "\n"));
    let run = tracer(&[
        "rules",
        "test",
        levels.to_str().unwrap(),
        policy.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{run:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let levels_at = |line: usize| format!("{}:{line}:5", levels.display());
    let (at3, at6) = (levels_at(3), levels_at(6));
    let expected = [
        vec![
            "LINE",
            "CONTAINER",
            "SYSCALL",
            "CODE",
            "RULE",
            "AT",
            "LEVEL",
        ],
        vec![
            "1",
            "wordpress",
            "syslog",
            "log",
            "drop-kernel-log-reads",
            &at3,
            "none",
        ],
        vec![
            "2",
            "wordpress",
            "chown",
            "log",
            "ownership",
            &at6,
            "metadata",
        ],
    ];
    assert_eq!(rows[..3], expected, "{stdout}");
    // The policy's rule: its name has a space, so the row has one word more.
    assert_eq!(
        rows[3],
        [
            "3",
            "wordpress",
            "chroot",
            "log",
            "Auditing",
            "Syscalls",
            &format!("{}:11:7", policy.display()),
            "full"
        ],
        "{stdout}"
    );
    assert_eq!(
        rows[4],
        ["4", "db", "chroot", "log", "(none)", "default", "full"],
        "{stdout}"
    );
    assert_eq!(
        rows[5],
        ["6", "-", "mkdir", "log", "(none)", "default", "full"],
        "{stdout}"
    );
    assert_eq!(rows.len(), 6, "{stdout}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(
            "5 events, 3 matched a rule, 2 got the default level full, 1 would be dropped"
        ),
        "{stderr}"
    );
    let broken = write(&dir, "broken.jsonl", "not json\n");
    let run = tracer(&[
        "rules",
        "test",
        policy.to_str().unwrap(),
        "--events",
        broken.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("broken.jsonl:1: not a tracer event"));
    let _ = std::fs::remove_dir_all(&dir);
}
