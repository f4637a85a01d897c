//! `tracer profile` as users run it, on files: Docker's own profiles (testdata/profiles, from
//! moby) and profiles and events written here. Recording live, and the profiles' effect on a
//! real runtime, are the container scenarios' (tests/src/profiles.rs). Needs no root.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;
use tracer_integration_tests::env;

const HOW_TO_RUN: &str = "run these tests with `cargo xtask test`, which builds tracer and sets \
    TRACER_BIN";

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/profiles")
        .join(name)
}

fn tracer(args: &[&str]) -> Output {
    let bin = env::required_file("TRACER_BIN", HOW_TO_RUN);
    Command::new(&bin)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|error| panic!("running {} {args:?}: {error}", bin.display()))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tracer-profile-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", text(&output.stdout)))
}

/// The names each rule with `action` allows, rule by rule, `name` or `names`.
fn rules_with(profile: &Value, action: &str) -> Vec<Value> {
    profile["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rule| rule["action"] == action)
        .cloned()
        .collect()
}

#[test]
fn audit_mode_of_dockers_profiles_keeps_what_they_allow_and_logs_the_rest() {
    for name in [
        "moby-default.json",
        "moby-default-old-format.json",
        "moby-example.json",
        "moby-conditional_include.json",
    ] {
        let path = testdata(name);
        let input: Value =
            serde_json::from_str(&fs::read_to_string(&path).expect("reading")).expect(name);
        let output = tracer(&["profile", "audit-mode", path.to_str().expect("UTF-8")]);
        assert!(output.status.success(), "{name}: {output:?}");
        let audit = json(&output);
        assert_eq!(audit["defaultAction"], "SCMP_ACT_LOG", "{name}");
        assert_eq!(
            rules_with(&audit, "SCMP_ACT_ALLOW"),
            rules_with(&input, "SCMP_ACT_ALLOW"),
            "{name}: the allow rules must be kept as they are"
        );
        for refusing in ["SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
            assert!(
                rules_with(&audit, refusing).is_empty(),
                "{name}: a {refusing} rule is left"
            );
        }
        assert_eq!(audit["archMap"], input["archMap"], "{name}");
        assert_eq!(audit["architectures"], input["architectures"], "{name}");
    }
}

#[test]
fn a_malformed_profile_is_named_with_its_line_and_column() {
    let dir = scratch("malformed");
    let profile = dir.join("broken.json");
    fs::write(
        &profile,
        "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [ {\"names\": [\"read\"] \"action\": \"SCMP_ACT_ALLOW\"} ]\n}\n",
    )
    .expect("writing");
    let events = dir.join("events.jsonl");
    fs::write(&events, "").expect("writing");
    let output = tracer(&[
        "profile",
        "check",
        profile.to_str().expect("UTF-8"),
        "--events",
        events.to_str().expect("UTF-8"),
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("broken.json") && stderr.contains("line 3 column"),
        "the error names neither the file nor where: {stderr}"
    );
    let unknown = dir.join("unknown.json");
    fs::write(&unknown, r#"{"defaultAction":"SCMP_ACT_NOPE"}"#).expect("writing");
    let output = tracer(&["profile", "audit-mode", unknown.to_str().expect("UTF-8")]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        text(&output.stderr).contains("SCMP_ACT_NOPE"),
        "{}",
        text(&output.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn merge_allows_what_any_input_allows_and_check_names_what_the_first_lacks() {
    let dir = scratch("merge");
    let a = dir.join("a.json");
    let b = dir.join("b.json");
    fs::write(
        &a,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    )
    .expect("writing");
    fs::write(
        &b,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["personality"],"action":"SCMP_ACT_ALLOW",
                         "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#,
    )
    .expect("writing");
    let (a, b) = (a.to_str().expect("UTF-8"), b.to_str().expect("UTF-8"));
    let merged = tracer(&["profile", "merge", a, b]);
    assert!(merged.status.success(), "{merged:?}");
    let merged = json(&merged);
    let allowed: Vec<String> = rules_with(&merged, "SCMP_ACT_ALLOW")
        .iter()
        .flat_map(|rule| rule["names"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect();
    for name in ["read", "write", "personality"] {
        assert!(allowed.iter().any(|n| n == name), "{name} in {merged:#}");
    }
    let kept_comparison = rules_with(&merged, "SCMP_ACT_ALLOW")
        .iter()
        .any(|rule| rule["args"][0]["value"] == 8);
    assert!(kept_comparison, "the argument rule was lost: {merged:#}");

    let check = tracer(&["profile", "merge", "--check", a, b]);
    assert_eq!(check.status.code(), Some(1), "{check:?}");
    let report = text(&check.stdout);
    assert!(
        report.contains("write") && report.contains("personality") && !report.contains("read"),
        "merge --check should name write and personality, which only b allows: {report}"
    );
    let same = tracer(&["profile", "merge", "--check", b, a]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "b lacks nothing a allows: {same:?}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn record_from_events_writes_a_profile_per_container_in_both_formats() {
    let dir = scratch("from-events");
    let events = dir.join("events.jsonl");
    let event = |container: &str, arch: &str, syscall: &str, nr: u32| {
        format!(
            r#"{{"timestamp":"2026-11-26T10:00:00Z","arch":"{arch}","syscall":"{syscall}","syscall_nr":{nr},"code":"log","args":null,"container":{{"runtime":"docker","id":"{container}-id","name":"{container}","image":"busybox","labels":{{}}}}}}"#
        )
    };
    let lines = [
        event("web", "x86_64", "read", 0),
        event("web", "x86_64", "read", 0),
        event("web", "i386", "getuid32", 199),
        event("db", "x86_64", "write", 1),
    ];
    fs::write(&events, lines.join("\n") + "\n").expect("writing");
    let out = dir.join("out");
    fs::create_dir_all(&out).expect("mkdir");
    let (events, out_arg) = (
        events.to_str().expect("UTF-8"),
        out.to_str().expect("UTF-8"),
    );
    let record = tracer(&[
        "profile",
        "record",
        "--from-events",
        events,
        "--output-dir",
        out_arg,
    ]);
    assert!(record.status.success(), "{record:?}");
    let web: Value =
        serde_json::from_str(&fs::read_to_string(out.join("web.json")).expect("web.json"))
            .expect("web.json is JSON");
    assert_eq!(web["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(web["defaultErrnoRet"], 1);
    assert_eq!(
        web["architectures"],
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    );
    assert_eq!(
        rules_with(&web, "SCMP_ACT_ALLOW")[0]["names"],
        serde_json::json!(["getuid32", "read"])
    );
    let calls: Value = serde_json::from_str(
        &fs::read_to_string(out.join("web.calls.json")).expect("web.calls.json"),
    )
    .expect("JSON");
    assert_eq!(calls["x86_64"]["read"]["count"], 2, "{calls:#}");
    assert!(out.join("db.json").exists(), "no profile for db");

    let kubernetes = tracer(&[
        "profile",
        "record",
        "--from-events",
        events,
        "--output-dir",
        out_arg,
        "--merge",
        "image",
        "-o",
        "kubernetes",
    ]);
    assert!(kubernetes.status.success(), "{kubernetes:?}");
    let yaml = fs::read_to_string(out.join("busybox.yaml")).expect("busybox.yaml");
    for expected in [
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1",
        "kind: SeccompProfile",
        "SCMP_ARCH_X86",
        "getuid32",
        "write",
    ] {
        assert!(yaml.contains(expected), "{expected} missing:\n{yaml}");
    }
    let _ = fs::remove_dir_all(&dir);
}
