//! Seccomp profiles from what a container really does, against a real dockerd: `tracer profile
//! record` counts a container's calls, several programs, one of them making i386 calls
//! (workloads/compat.c); the profile it writes must name exactly the calls the kernel itself
//! logged for the same run, and let the same workload run with nothing refused. Without one
//! call it needs, the workload fails on that call, and `tracer profile check` names it.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::{
    containers::Scenarios,
    docker::{Dockerd, busybox_rootfs},
    kmsg::{AuditLog, SeccompRecord, UnlimitedPrintk},
    tracer::{Finished, Tracer, TracerEvent},
};

const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
const IMAGE: &str = "tracer-profile-local";
const COMPAT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/compat"));
/// Several programs: busybox's shell and applets, and the static i386 caller. The shell
/// outlives them by a second, so the container still runs while tracer names its events: a
/// container gone before that may stay unnamed on a slow machine, and naming is not what these
/// tests are about.
const WORKLOAD: &str = "mkdir /tmp/made && ls /tmp >/dev/null && cat /proc/self/status \
                        >/dev/null && /compat; status=$?; sleep 1; exit $status";
/// The i386 call only the compat program makes, by its i386 name.
const REMOVED: &str = "getuid32";
const I386_GETUID32: u64 = 199;
const EXIT_GROUP: u64 = 231;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
/// Logs every call, so the kernel's own records list what the workload called. Without its
/// arches, an i386 call would be of an arch the filter lacks, which kills.
const LOG_EVERYTHING: &str = r#"{"defaultAction":"SCMP_ACT_LOG",
    "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"]}"#;

impl Scenarios<'_> {
    pub fn records_a_profile_that_runs_the_workload_and_checks_what_it_lacks(&self) {
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        let rootfs = dockerd.scratch_dir("profile-rootfs");
        busybox_rootfs(&rootfs);
        let compat = rootfs.join("compat");
        fs::write(&compat, COMPAT).expect("writing the compat program");
        fs::set_permissions(&compat, fs::Permissions::from_mode(0o755)).expect("chmod");
        dockerd.import(&rootfs, IMAGE);
        let dir = dockerd.scratch_dir("profiles");
        let socket = dockerd.socket();
        let socket = socket.to_str().expect("UTF-8 path");
        let log_everything = dir.join("log-everything.json");
        fs::write(&log_everything, LOG_EVERYTHING).expect("writing the profile");

        // 1. Record, while the kernel logs every call of the same run.
        let recorder = Tracer::start(
            self.tracer,
            &[
                "profile",
                "record",
                "-c",
                "recorded",
                "--output-dir",
                dir.to_str().expect("UTF-8 path"),
                "--docker-socket",
                socket,
            ],
        );
        assert_eq!(recorder.wait_attached(), "recorder");
        let mut audit = AuditLog::from_now();
        let run = run_reading_the_kernel_log(&dockerd, "recorded", &log_everything, &mut audit);
        assert!(run.status.success(), "the recorded run failed: {run:?}");
        // The compat program's exit is the workload's last call the filter sees.
        audit.wait_for(EVENT_TIMEOUT, |records| {
            records.iter().any(|r| {
                r.syscall == EXIT_GROUP && r.exe.as_deref().is_some_and(|e| e.ends_with("/compat"))
            })
        });
        let recorded = recorder.stop();
        recorded.assert_stopped_cleanly();
        let profile_path = dir.join("recorded.json");
        let context = format!(
            "recorder stdout: {:?}\nstderr:\n{}",
            recorded.stdout_lines,
            recorded.stderr_text()
        );
        assert!(
            recorded
                .stdout_lines
                .iter()
                .any(|line| Path::new(line.trim()) == profile_path),
            "the recorder did not say it wrote {}\n{context}",
            profile_path.display()
        );

        // 2. The profile: refuses by default, allows by name what the kernel logged.
        let profile = read_json(&profile_path);
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO", "{profile:#}");
        let arches = strings(&profile["architectures"]);
        assert_eq!(
            arches,
            BTreeSet::from(["SCMP_ARCH_X86".to_owned(), "SCMP_ARCH_X86_64".to_owned()]),
            "the arches seen, x86-64 and i386\n{profile:#}"
        );
        let allowed = allowed_names(&profile);
        let logged = logged_names(&audit.records);
        assert!(
            logged.contains(REMOVED) && logged.contains("execve"),
            "the kernel logged no {REMOVED} or execve: {logged:?}\n{context}"
        );
        assert!(
            logged.is_subset(&allowed),
            "the profile lacks calls the kernel logged for the same run: {:?}\n{context}",
            logged.difference(&allowed).collect::<Vec<_>>()
        );
        // Records the kernel log's ring overwrote before they were read cannot be compared.
        if audit.overwritten() == 0 {
            assert_eq!(
                allowed, logged,
                "the profile allows calls the kernel did not log for the same run\n{context}"
            );
        }
        let calls = read_json(&dir.join("recorded.calls.json"));
        let getuid32_count = calls["i386"][REMOVED]["count"].as_u64().unwrap_or(0);
        let logged_getuid32 = audit
            .records
            .iter()
            .filter(|r| r.arch == AUDIT_ARCH_I386 && r.syscall == I386_GETUID32)
            .count() as u64;
        assert_eq!(
            getuid32_count, logged_getuid32,
            "i386 {REMOVED} calls counted vs logged\n{calls:#}"
        );

        // 3. Enforced, the same workload runs with nothing refused; 4. without one call it
        // needs, it fails on that call. --all-denials sees refusals no filter logs.
        let reduced_path = dir.join("reduced.json");
        fs::write(&reduced_path, without(&profile, REMOVED).to_string()).expect("writing");
        let tracer = Tracer::start_attached(
            self.tracer,
            self.probe,
            &["-o", "json", "--all-denials", "--docker-socket", socket],
        );
        let enforced = run_workload(&dockerd, "enforced", &profile_path);
        assert!(
            enforced.status.success(),
            "the workload failed under its own profile: {enforced:?}"
        );
        let reduced = run_workload(&dockerd, "reduced", &reduced_path);
        assert!(
            !reduced.status.success() && String::from_utf8_lossy(&reduced.stderr).contains(REMOVED),
            "without {REMOVED} the workload should fail on it: {reduced:?}"
        );
        tracer.wait_for_events(EVENT_TIMEOUT, |events| {
            !refused_in(events, "reduced").is_empty()
        });
        let refusals = tracer.stop();
        refusals.assert_stopped_cleanly();
        let context = format!(
            "events: {:#?}\nstderr:\n{}",
            refusals.events,
            refusals.stderr_text()
        );
        assert_eq!(
            refused_in(&refusals.events, "enforced"),
            BTreeSet::new(),
            "the recorded profile refused calls of its own workload\n{context}"
        );
        assert_eq!(
            refused_in(&refusals.events, "reduced"),
            BTreeSet::from([("i386".to_owned(), REMOVED.to_owned(), "EPERM".to_owned())]),
            "the reduced profile refuses exactly the removed call, with the profile's errno\n\
             {context}"
        );

        // 5. What the reduced profile would refuse, from a run under its audit mode, which logs
        // instead: `profile check` names the removed call, and finds nothing the full profile
        // lacks; live, `audit seccomp --check` does the same.
        let audit_mode = self.tracer_ok(&["profile", "audit-mode", path_str(&reduced_path)]);
        let audit_mode_path = dir.join("reduced-audit-mode.json");
        fs::write(&audit_mode_path, &audit_mode.stdout).expect("writing");
        let reduced_arg = path_str(&reduced_path).to_owned();
        let live = Tracer::start_attached(
            self.tracer,
            self.probe,
            &[
                "-o",
                "json",
                "--docker-socket",
                socket,
                "--check",
                &reduced_arg,
            ],
        );
        let mut audit = AuditLog::from_now();
        let audited = run_workload(&dockerd, "audited", &audit_mode_path);
        assert!(
            audited.status.success(),
            "the workload failed under the audit mode: {audited:?}"
        );
        audit.wait_for(EVENT_TIMEOUT, |records| {
            records.iter().any(is_logged_getuid32)
        });
        live.wait_for_events(EVENT_TIMEOUT, |events| {
            events.iter().any(|e| is_container(e, "audited"))
        });
        let live = live.stop();
        let events_path = dir.join("audited.jsonl");
        fs::write(&events_path, live.stdout_lines.join("\n") + "\n").expect("writing");
        self.assert_live_check_named_the_removed_call(&live);
        let context = format!(
            "kernel records: {:#?}\nevents: {:#?}",
            audit.records, live.events
        );
        let logged_removed = live
            .events
            .iter()
            .filter(|e| is_container(e, "audited") && e.syscall == REMOVED)
            .count();
        assert_eq!(
            logged_removed,
            audit
                .records
                .iter()
                .filter(|r| is_logged_getuid32(r))
                .count(),
            "tracer's logged {REMOVED} calls vs the kernel's records\n{context}"
        );
        let check = self.tracer_command(&[
            "profile",
            "check",
            path_str(&reduced_path),
            "--events",
            path_str(&events_path),
        ]);
        assert_eq!(check.status.code(), Some(1), "{check:?}");
        let report = String::from_utf8_lossy(&check.stdout);
        assert!(
            report.contains(REMOVED) && report.contains("i386"),
            "check did not name i386 {REMOVED}: {report}\n{context}"
        );
        let full = self.tracer_command(&[
            "profile",
            "check",
            path_str(&profile_path),
            "--events",
            path_str(&events_path),
        ]);
        assert_eq!(
            full.status.code(),
            Some(0),
            "the recorded profile lacks nothing: {full:?}"
        );
        eprintln!(
            "recorded {} calls by name ({} i386 {REMOVED}); check of the reduced profile:\n{}",
            allowed.len(),
            getuid32_count,
            report
        );
    }

    /// The live check ends non-zero and names the call in its report.
    fn assert_live_check_named_the_removed_call(&self, live: &Finished) {
        assert!(
            !live.status.success(),
            "audit seccomp --check ended 0 although the profile refuses {REMOVED}: {}",
            live.stderr_text()
        );
        assert!(
            live.stderr
                .iter()
                .any(|l| l.contains(REMOVED) && l.contains("i386")),
            "audit seccomp --check did not name i386 {REMOVED}: {}",
            live.stderr_text()
        );
    }

    fn tracer_command(&self, args: &[&str]) -> Output {
        Command::new(self.tracer)
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|error| panic!("running tracer {args:?}: {error}"))
    }

    fn tracer_ok(&self, args: &[&str]) -> Output {
        let output = self.tracer_command(args);
        assert!(output.status.success(), "tracer {args:?}: {output:?}");
        output
    }
}

fn run_workload(dockerd: &Dockerd, name: &str, profile: &Path) -> Output {
    let args = workload_args(name, profile);
    dockerd.docker(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `docker run` of the workload as container `name` under `profile`.
fn workload_args(name: &str, profile: &Path) -> Vec<String> {
    let seccomp = format!("seccomp={}", profile.display());
    [
        "run",
        "--name",
        name,
        "--network",
        "none",
        "--security-opt",
        &seccomp,
        IMAGE,
        "sh",
        "-c",
        WORKLOAD,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs the workload while reading the kernel log: under a profile that logs every call, the
/// records of one run can be more than a small VM's log buffer holds.
fn run_reading_the_kernel_log(
    dockerd: &Dockerd,
    name: &str,
    profile: &Path,
    audit: &mut AuditLog,
) -> Output {
    let args = workload_args(name, profile);
    let mut child = dockerd
        .docker_command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running docker");
    while child.try_wait().expect("waiting for docker").is_none() {
        audit.wait_for(Duration::from_millis(50), |_| false);
    }
    child.wait_with_output().expect("docker's output")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn read_json(path: &PathBuf) -> Value {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Names the profile allows without conditions.
fn allowed_names(profile: &Value) -> BTreeSet<String> {
    profile["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|rule| rule["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|rule| strings(&rule["names"]))
        .collect()
}

/// The same profile without `name`.
fn without(profile: &Value, name: &str) -> Value {
    let mut reduced = profile.clone();
    for rule in reduced["syscalls"].as_array_mut().into_iter().flatten() {
        if let Some(names) = rule["names"].as_array_mut() {
            names.retain(|n| n != name);
        }
    }
    reduced
}

/// The names of the calls the kernel logged, in their arch's table.
fn logged_names(records: &[SeccompRecord]) -> BTreeSet<String> {
    let name_of = |r: &SeccompRecord| -> String {
        let nr = r.syscall as usize;
        let name = match r.arch {
            AUDIT_ARCH_I386 => syscalls::x86::Sysno::new(nr).map(|s| s.name()),
            _ => syscalls::x86_64::Sysno::new(nr).map(|s| s.name()),
        };
        name.map(str::to_owned)
            .unwrap_or_else(|| format!("unknown {nr}"))
    };
    records
        .iter()
        .filter(|r| r.code == SECCOMP_RET_LOG)
        .map(name_of)
        .collect()
}

fn is_logged_getuid32(record: &SeccompRecord) -> bool {
    record.code == SECCOMP_RET_LOG
        && record.arch == AUDIT_ARCH_I386
        && record.syscall == I386_GETUID32
}

fn is_container(event: &TracerEvent, name: &str) -> bool {
    event
        .container
        .as_ref()
        .and_then(|c| c["name"].as_str())
        .is_some_and(|n| n == name)
}

/// (arch, call, errno name) of the refusals reported in container `name`.
fn refused_in(events: &[TracerEvent], name: &str) -> BTreeSet<(String, String, String)> {
    let mut refused = BTreeMap::new();
    for event in events.iter().filter(|e| is_container(e, name)) {
        if event.code != "log" {
            refused.insert(
                (
                    event.arch.clone().unwrap_or_default(),
                    event.syscall.clone(),
                    event.errno_name.clone().unwrap_or_default(),
                ),
                (),
            );
        }
    }
    refused.into_keys().collect()
}
