use std::{collections::BTreeMap, path::Path, sync::Arc};

use super::*;
use crate::{
    events::{Arch, Container, Event, SeccompAction, SyscallName},
    test_support::sample_denial_event,
};

const SEED_POLICY: &str = include_str!("../../../tests/testdata/kubearmor-syscall-forensics.yaml");

fn load(files: &[(&str, &str)]) -> Result<Loaded, RulesError> {
    let mut loaded = Loaded::default();
    for (name, text) in files {
        load::parse(Path::new(name), text, &mut loaded)?;
    }
    Ok(loaded)
}

fn rules(text: &str) -> RuleSet {
    RuleSet::new(load(&[("rules.yaml", text)]).unwrap_or_else(|e| panic!("{e}"))).unwrap()
}

/// The error's `line:column` and message.
fn error(text: &str) -> (String, String) {
    match load(&[("bad.yaml", text)]) {
        Err(RulesError::At {
            line,
            column,
            problem,
            ..
        }) => (format!("{line}:{column}"), problem.to_string()),
        other => panic!("expected a located error, got {other:?}"),
    }
}

fn container(name: &str, labels: &[(&str, &str)]) -> Arc<Container> {
    Arc::new(Container {
        runtime: "docker",
        id: "id".into(),
        name: name.into(),
        image: "docker.io/library/wordpress:4.8-apache".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        file_dirs: Vec::new(),
    })
}

/// A logged call of `syscall` (x86-64) with every detail, in `container`.
fn call(syscall: &str, container: Option<Arc<Container>>) -> Event {
    let mut event = sample_denial_event();
    let nr = crate::profile::arch_names::syscall_number(Arch::X86_64, syscall).unwrap();
    event.syscall = SyscallName::of(Arch::X86_64, nr);
    event.syscall_nr = nr;
    event.code = SeccompAction::Log;
    event.set_container(container);
    event
}

fn wordpress() -> Arc<Container> {
    container(
        "wordpress",
        &[
            ("app", "wordpress"),
            ("io.kubernetes.pod.namespace", "wordpress-mysql"),
            ("io.kubernetes.pod.name", "wordpress-7c966b5d85-wvtln"),
            ("io.kubernetes.container.name", "wordpress"),
        ],
    )
}

#[test]
fn the_seed_kubearmor_policy_marks_its_calls_in_the_selected_containers() {
    let rules = rules(SEED_POLICY);
    assert_eq!(rules.rules().len(), 1);
    let event = rules.apply(call("unlink", Some(wordpress()))).unwrap();
    assert_eq!(event.rule.as_deref(), Some("Auditing Syscalls"));
    assert_eq!(event.severity, Some(1), "KubeArmor's default severity");
    assert_eq!(event.message.as_deref(), Some("Warning! Syscall Alert"));
    assert_eq!(
        event.tags.as_deref(),
        Some(&["CIS-4.4,4.3,4.12", "NIST-4.4,4.3,4.12", "MITRE-T1602"].map(String::from)[..])
    );
    // Audit keeps everything: the process, its parent and the resource.
    assert_eq!(event.path.as_deref(), Some("data"));
    assert_eq!(event.exe.as_deref(), Some("/usr/bin/mkdir"));
    assert_eq!(event.parent_comm.as_deref(), Some("bash"));
    for syscall in [
        "chown",
        "chroot",
        "swapoff",
        "syslog",
        "sethostname",
        "kill",
    ] {
        let event = rules.apply(call(syscall, Some(wordpress()))).unwrap();
        assert_eq!(
            event.rule.as_deref(),
            Some("Auditing Syscalls"),
            "{syscall}"
        );
    }
    // Calls it does not name, containers without its label or outside its namespace, and
    // the host are left as they are.
    let not_named = rules.apply(call("mkdir", Some(wordpress()))).unwrap();
    assert_eq!(not_named.rule, None);
    let other_app = container(
        "db",
        &[
            ("app", "mysql"),
            ("io.kubernetes.pod.namespace", "wordpress-mysql"),
        ],
    );
    let other_namespace = container(
        "wordpress",
        &[
            ("app", "wordpress"),
            ("io.kubernetes.pod.namespace", "default"),
        ],
    );
    for container in [Some(other_app), Some(other_namespace), None] {
        let event = rules.apply(call("unlink", container.clone())).unwrap();
        assert_eq!(event.rule, None, "{container:?}");
        assert_eq!(
            event,
            call("unlink", container),
            "unmatched events are unchanged"
        );
    }
}

#[test]
fn what_kubearmor_does_that_tracer_cannot_is_an_error() {
    let block = SEED_POLICY.replace("action: Audit", "action: Block");
    let (at, message) = error(&block);
    assert_eq!(at, "7:11");
    assert!(message.contains("cannot block"), "{message}");
    let file = SEED_POLICY.replace(
        "  syscalls:\n",
        "  file:\n    matchPaths:\n    - path: /etc/passwd\n  syscalls:\n",
    );
    let (at, message) = error(&file);
    assert_eq!(at, "9:3");
    assert!(message.contains("spec.file"), "{message}");
    let typo = SEED_POLICY.replace("- sethostname", "- sethostnam");
    let (at, message) = error(&typo);
    assert_eq!(at, "21:9");
    assert!(
        message.contains("`sethostnam` is not a system call"),
        "{message}"
    );
    let severity = SEED_POLICY.replace("action: Audit", "action: Audit\n  severity: 11");
    let (at, message) = error(&severity);
    assert_eq!(at, "8:13");
    assert!(message.contains("from 1 (lowest) to 10"), "{message}");
}

#[test]
fn a_kubearmor_policy_without_an_action_loads_with_a_warning() {
    let loaded = load(&[("p.yaml", &SEED_POLICY.replace("  action: Audit\n", ""))]).unwrap();
    assert_eq!(loaded.rules.len(), 1);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("spec.action")),
        "{:?}",
        loaded.warnings
    );
}

const ORDERED: &str = r#"
rules:
  - name: quiet-dmesg
    level: none
    syscalls: [syslog]
  - name: web-writes
    level: metadata
    containers: ["web-*"]
    severity: 3
  - name: everything-in-web
    level: request
    containers: ["web-*"]
    severity: 9
"#;

#[test]
fn the_first_matching_rule_wins() {
    let rules = rules(ORDERED);
    let web = || Some(container("web-1", &[]));
    assert!(rules.apply(call("syslog", web())).is_none(), "dropped");
    let event = rules.apply(call("mkdirat", web())).unwrap();
    assert_eq!(
        (event.rule.as_deref(), event.severity),
        (Some("web-writes"), Some(3))
    );
    assert_eq!(
        rules.decide(&call("mkdirat", None)).rule.map(|r| &*r.name),
        None
    );
    assert_eq!(rules.decide(&call("mkdirat", None)).level, Level::Full);
}

#[test]
fn rules_are_tried_file_by_file_in_the_order_given() {
    let first = "rules:\n  - name: a\n    syscalls: [mkdirat]\n";
    let second = "rules:\n  - name: b\n    syscalls: [mkdirat, unlink]\n";
    let set = |files: &[(&str, &str)]| RuleSet::new(load(files).unwrap()).unwrap();
    let event = call("mkdirat", None);
    let ab = set(&[("1.yaml", first), ("2.yaml", second)]);
    assert_eq!(&*ab.decide(&event).rule.unwrap().name, "a");
    let ba = set(&[("2.yaml", second), ("1.yaml", first)]);
    assert_eq!(&*ba.decide(&event).rule.unwrap().name, "b");
    assert_eq!(&*ab.decide(&call("unlink", None)).rule.unwrap().name, "b");
}

#[test]
fn levels_decide_what_an_event_carries() {
    let rules = rules(
        "default-level: none\nrules:\n  - {name: m, level: metadata, syscalls: [mkdirat]}\n  - {name: r, level: request, syscalls: [unlink]}\n",
    );
    let metadata = rules.apply(call("mkdirat", None)).unwrap();
    assert_eq!((metadata.args, metadata.path.as_deref()), (None, None));
    assert_eq!(metadata.errno, None);
    assert_eq!(metadata.rule.as_deref(), Some("m"));
    let request = rules.apply(call("unlink", None)).unwrap();
    assert!(request.args.is_some() && request.path.is_some());
    assert_eq!(request.errno, Some(13));
    assert!(
        rules.apply(call("chown", None)).is_none(),
        "the default level"
    );
}

#[test]
fn every_condition_narrows_the_match() {
    let rules = rules(
        r#"
rules:
  - name: all
    containers: ["wordp*"]
    images: ["docker.io/library/wordpress:*"]
    labels: {app: wordpress}
    namespaces: [wordpress-mysql]
    pods: ["wordpress-*"]
    syscalls: [mkdirat]
    codes: [SCMP_ACT_LOG, errno]
    errnos: [EACCES, 1]
    arches: [x86_64]
    exes: ["/usr/bin/*"]
    paths: ["d*"]
    uids: [1000]
"#,
    );
    let base = || call("mkdirat", Some(wordpress()));
    assert_eq!(&*rules.decide(&base()).rule.unwrap().name, "all");
    type Change = Box<dyn Fn(&mut Event)>;
    let misses: Vec<(&str, Change)> = vec![
        (
            "container",
            Box::new(|e| e.set_container(Some(container("web", &[("app", "wordpress")])))),
        ),
        (
            "syscall",
            Box::new(|e| {
                e.syscall_nr = 83;
                e.syscall = SyscallName::of(Arch::X86_64, 83);
            }),
        ),
        ("code", Box::new(|e| e.code = SeccompAction::KillThread)),
        ("errno", Box::new(|e| e.errno = Some(2))),
        ("no errno", Box::new(|e| e.errno = None)),
        ("arch", Box::new(|e| e.arch = Arch::I386)),
        (
            "exe",
            Box::new(|e| e.exe = Some("/usr/local/bin/mkdir".into())),
        ),
        ("path", Box::new(|e| e.path = Some("/data".into()))),
        ("no path", Box::new(|e| e.path = None)),
        ("uid", Box::new(|e| e.uid = 0)),
    ];
    for (what, change) in misses {
        let mut event = base();
        change(&mut event);
        assert!(
            rules.decide(&event).rule.is_none(),
            "a different {what} matched"
        );
    }
}

#[test]
fn exe_globs_stay_within_a_directory_unless_doubled() {
    let rules = rules(
        "rules:\n  - {name: one, exes: [\"/usr/*\"]}\n  - {name: deep, exes: [\"/usr/**\"]}\n",
    );
    let mut event = call("mkdirat", None);
    event.exe = Some("/usr/bin/mkdir".into());
    assert_eq!(&*rules.decide(&event).rule.unwrap().name, "deep");
    event.exe = Some("/usr/mkdir".into());
    assert_eq!(&*rules.decide(&event).rule.unwrap().name, "one");
}

#[test]
fn calls_of_other_arches_and_unknown_numbers_match_rules_without_syscalls() {
    let rules =
        rules("rules:\n  - {name: named, syscalls: [mkdirat]}\n  - {name: any, codes: [log]}\n");
    let mut event = call("mkdirat", None);
    event.arch = Arch::Undetected;
    assert_eq!(&*rules.decide(&event).rule.unwrap().name, "any");
    let mut event = call("mkdirat", None);
    event.syscall_nr = 5000;
    assert_eq!(&*rules.decide(&event).rule.unwrap().name, "any");
    let mut event = call("mkdirat", None);
    event.arch = Arch::I386;
    // i386's mkdirat is 296.
    event.syscall_nr = 296;
    assert_eq!(&*rules.decide(&event).rule.unwrap().name, "named");
}

#[test]
fn malformed_rules_are_located() {
    let cases = [
        (
            "rules:\n  - name: a\n    level: loud\n",
            "3:12",
            "the level `loud`",
        ),
        (
            "rules:\n  - name: a\n    sycalls: [read]\n",
            "3:5",
            "did you mean `syscalls`",
        ),
        ("rules:\n  - level: none\n", "2:5", "needs `name`"),
        (
            "rules:\n  - name: a\n    syscalls: [read, nosuchcall]\n",
            "3:22",
            "`nosuchcall`",
        ),
        (
            "rules:\n  - name: a\n    errnos: [EWHAT]\n",
            "3:14",
            "not an errno",
        ),
        (
            "rules:\n  - name: a\n    codes: [deny]\n",
            "3:13",
            "not a seccomp action",
        ),
        (
            "rules:\n  - name: a\n    paths: [\"/a/[b\"]\n",
            "3:13",
            "not a valid glob",
        ),
        (
            "rules:\n  - name: a\n    syscalls: []\n",
            "3:15",
            "empty list",
        ),
        (
            "rules:\n  - name: a\n    severity: 0\n",
            "3:15",
            "from 1 (lowest) to 10",
        ),
        (
            "rules:\n  - name: a\n   level: none\n",
            "3:4",
            "not valid YAML",
        ),
        ("rulez:\n  - name: a\n", "1:1", "neither tracer rules"),
        ("rules: {name: a}\n", "1:8", "a list of rules"),
        (
            "rules:\n  - name: a\n    labels: [app]\n",
            "3:13",
            "must be a mapping",
        ),
    ];
    for (text, at, message) in cases {
        let (found_at, found) = error(text);
        assert_eq!(
            (found_at.as_str(), found.contains(message)),
            (at, true),
            "{text:?}: {found}"
        );
    }
}

#[test]
fn the_default_level_is_set_once() {
    let one = "default-level: metadata\n";
    let error = load(&[("a.yaml", one), ("b.yaml", "default-level: none\n")])
        .unwrap_err()
        .to_string();
    assert!(
        error
            .starts_with("b.yaml:1:16: `default-level` was already set to metadata at a.yaml:1:16"),
        "{error}"
    );
}

#[test]
fn json_event_lines_match_as_live_events_do() {
    let rules = rules(SEED_POLICY);
    let mut event = rules.apply(call("unlink", Some(wordpress()))).unwrap();
    event.rule = None;
    let mut json = Vec::new();
    crate::output::Formatter::event(
        &mut crate::output::json::Json::new(false),
        &event,
        &mut json,
    );
    let line: event_line::EventLine = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        rules.decide(&line).rule.map(|r| &*r.name),
        Some("Auditing Syscalls")
    );
    let mut other = call("unlink", None);
    other.errno = Some(1);
    json.clear();
    crate::output::Formatter::event(
        &mut crate::output::json::Json::new(false),
        &other,
        &mut json,
    );
    let line: event_line::EventLine = serde_json::from_slice(&json).unwrap();
    assert!(rules.decide(&line).rule.is_none());
}

#[test]
fn kubearmor_sources_paths_and_container_names_become_conditions() {
    let rules = rules(
        r#"
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: data-deletions}
spec:
  action: Audit
  severity: 4
  selector:
    matchLabels: {kubearmor.io/container.name: wordpress}
  syscalls:
    matchSyscalls:
    - syscall: [unlink]
      fromSource:
      - dir: /usr/bin/
      severity: 8
    matchPaths:
    - path: /srv/[x].db
      syscall: [mkdirat]
    - dir: /srv/data/
      recursive: true
      syscall: [mkdirat]
"#,
    );
    assert_eq!(rules.rules().len(), 3);
    let mut event = call("unlink", Some(wordpress()));
    event.exe = Some("/usr/bin/unlink".into());
    let verdict = rules.decide(&event);
    assert_eq!(
        verdict.rule.map(|r| r.severity),
        Some(Some(8)),
        "the entry's own"
    );
    event.exe = Some("/usr/local/bin/unlink".into());
    assert!(rules.decide(&event).rule.is_none(), "not from /usr/bin/");
    let mut event = call("mkdirat", Some(wordpress()));
    event.path = Some("/srv/[x].db".into());
    assert_eq!(rules.decide(&event).rule.map(|r| r.severity), Some(Some(4)));
    event.path = Some("/srv/x.db".into());
    assert!(
        rules.decide(&event).rule.is_none(),
        "a path is literal, not a glob"
    );
    event.path = Some("/srv/data/a/b".into());
    assert!(rules.decide(&event).rule.is_some(), "recursive");
    let mut elsewhere = event.clone();
    elsewhere.set_container(Some(container("db", &[])));
    assert!(rules.decide(&elsewhere).rule.is_none(), "another container");
}
