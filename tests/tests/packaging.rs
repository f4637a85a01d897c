//! The ways tracer is shipped, as an administrator uses them: the Debian package installed with
//! dpkg, its systemd unit checked by systemd itself and its capabilities tried on the kernel, the
//! container image built and run against a real dockerd, and the config and DaemonSet files read
//! as what they configure. No systemd runs as pid 1 here and no cluster is reachable: the unit's
//! sandboxing options and the DaemonSet are checked as files, the capabilities both grant are
//! tried for real.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use serde_yaml_ng::Value;
use tracer_integration_tests::{
    docker::{Dockerd, IMAGE},
    env,
    packaging::{self, Installed, succeed},
    tracer::{Tracer, TracerEvent},
    workload::Workload,
};

const HOW_TO_RUN: &str = "run these tests with `cargo xtask test`, which builds and packs tracer \
    and sets TRACER_BIN, SECCOMP_WORKLOAD, TRACER_DEB and TRACER_IMAGE_CONTEXT (as root)";

/// Events reach tracer within milliseconds; a container starts in a few seconds.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

fn tracer_bin() -> PathBuf {
    env::required_file("TRACER_BIN", HOW_TO_RUN)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The long options `tracer audit seccomp` has, from its own help.
fn audit_seccomp_options(tracer: &Path) -> BTreeSet<String> {
    let help = succeed(Command::new(tracer).args(["audit", "seccomp", "--help"]));
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=')
        .filter_map(|word| word.strip_prefix("--"))
        .filter(|name| !name.is_empty())
        .map(|name| {
            name.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .collect()
}

#[test]
fn the_default_config_uses_only_options_of_audit_seccomp() {
    let config: Value =
        serde_yaml_ng::from_str(&packaging::read("tracer.yaml")).expect("tracer.yaml is YAML");
    let config = config
        .as_mapping()
        .expect("tracer.yaml is a mapping of options");
    let options = audit_seccomp_options(&tracer_bin());
    for key in config.keys() {
        let key = key.as_str().expect("keys are option names");
        assert!(
            options.contains(key),
            "tracer.yaml sets {key:?}, which is no option of `tracer audit seccomp` (it has \
             {options:?})"
        );
    }
    let get = |key: &str| {
        config
            .get(key)
            .unwrap_or_else(|| panic!("tracer.yaml lacks {key}"))
    };
    assert_eq!(
        get("output").as_str(),
        Some("none"),
        "stdout is the journal"
    );
    let file = get("output-file").as_str().expect("output-file is a path");
    let unit = packaging::read("tracer.service");
    assert!(
        file.starts_with("/var/log/tracer/"),
        "the events file {file} must be in the directory the unit may write"
    );
    assert_eq!(packaging::unit_values(&unit, "LogsDirectory"), ["tracer"]);
    let metrics = get("metrics-addr").as_str().expect("metrics-addr");
    assert_eq!(
        metrics, "127.0.0.1:9464",
        "metrics stay on loopback by default"
    );
    assert_eq!(
        packaging::unit_values(&unit, "ExecStart"),
        [
            "/usr/bin/tracer",
            "audit",
            "seccomp",
            "--config",
            "/etc/tracer/tracer.yaml"
        ]
    );
}

#[test]
fn the_daemonset_gives_tracer_the_units_capabilities_and_the_hosts_namespaces() {
    let text = packaging::read("kubernetes/daemonset.yaml");
    let documents: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| serde::Deserialize::deserialize(document).expect("daemonset.yaml is YAML"))
        .collect();
    let daemonset = documents
        .iter()
        .find(|document| document["kind"] == "DaemonSet")
        .expect("a DaemonSet in daemonset.yaml");
    assert_eq!(daemonset["apiVersion"], "apps/v1");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(
        daemonset["spec"]["selector"]["matchLabels"],
        daemonset["spec"]["template"]["metadata"]["labels"],
        "the selector must match the pods' labels"
    );
    assert_eq!(pod["hostPID"], true, "pids and /proc must be the node's");
    assert_eq!(
        pod["hostNetwork"], true,
        "the audit socket exists only in the node's network namespace"
    );
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|arg| arg.as_str().expect("args are strings"))
        .collect();
    assert!(
        args.windows(2).any(|pair| pair == ["-o", "json"]),
        "JSON on stdout for the node's log agent: {args:?}"
    );
    assert!(
        args.windows(2)
            .any(|pair| pair[0] == "-r" && pair[1].split(',').any(|r| r == "containerd")),
        "a node with containerd and no Docker names its containers too: {args:?}"
    );
    let options = audit_seccomp_options(&tracer_bin());
    for arg in &args {
        if let Some(name) = arg.strip_prefix("--") {
            assert!(
                options.contains(name),
                "{arg} is no option of audit seccomp"
            );
        }
    }
    let metrics = args
        .iter()
        .skip_while(|arg| **arg != "--metrics-addr")
        .nth(1)
        .expect("--metrics-addr");
    let port = &container["ports"][0];
    assert_eq!(port["name"], "metrics");
    assert_eq!(
        metrics
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u64>().ok()),
        port["containerPort"].as_u64(),
        "the metrics port declared is the one tracer listens on"
    );

    // The same capabilities as the unit's, whose test below tries them on the kernel.
    let security = &container["securityContext"];
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    let added: BTreeSet<String> = security["capabilities"]["add"]
        .as_sequence()
        .expect("capabilities.add")
        .iter()
        .map(|cap| format!("CAP_{}", cap.as_str().expect("a capability name")))
        .collect();
    let unit: BTreeSet<String> = packaging::unit_capabilities().into_iter().collect();
    assert_eq!(
        added, unit,
        "the DaemonSet and the unit grant different capabilities"
    );
    assert_eq!(security["seccompProfile"]["type"], "Unconfined");

    let mounts: BTreeSet<&str> = container["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .map(|mount| mount["mountPath"].as_str().expect("mountPath"))
        .collect();
    for needed in [
        "/sys/kernel/btf",
        "/sys/kernel/tracing",
        "/var/run/docker.sock",
        "/run/containerd",
    ] {
        assert!(
            mounts.contains(needed),
            "{needed} is not mounted: {mounts:?}"
        );
    }
    let volumes = pod["volumes"].as_sequence().expect("volumes");
    for mount in container["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
    {
        assert!(
            volumes.iter().any(|volume| volume["name"] == mount["name"]),
            "the mount {:?} names no volume",
            mount["name"]
        );
    }
}

/// The unit's capabilities, and none other, are enough for tracer on this kernel: it attaches
/// and reports a logged call of a host process. (systemd's sandboxing options need systemd as
/// pid 1, which this machine lacks; `systemd-analyze verify` checks them in the package test.)
#[test]
fn the_units_capabilities_are_enough_to_attach_and_report() {
    env::require_root(HOW_TO_RUN);
    let workload = Workload::new(env::required_file("SECCOMP_WORKLOAD", HOW_TO_RUN));
    let caps = packaging::unit_capabilities();
    assert!(
        !caps.iter().any(|cap| cap == "CAP_SYS_ADMIN"),
        "tracer is meant to run without CAP_SYS_ADMIN"
    );
    let (granted, withheld): (Vec<String>, Vec<String>) =
        caps.into_iter().partition(|cap| packaging::grantable(cap));
    if !withheld.is_empty() {
        eprintln!("this machine's root cannot grant {withheld:?}; running with {granted:?}");
    }
    // Without these tracer cannot attach at all: the test would not be about the unit's set.
    for core in ["CAP_BPF", "CAP_PERFMON", "CAP_AUDIT_READ"] {
        assert!(granted.iter().any(|cap| cap == core), "cannot grant {core}");
    }
    let mut command = Command::new("setpriv");
    command.args(packaging::setpriv_args(&granted));
    command
        .arg(tracer_bin())
        .args(["audit", "seccomp", "-o", "json", "--host"]);
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    let tracer = Tracer::spawn(command);
    tracer.wait_attached();
    let run = workload.run(&["log"]);
    let pid = run.plan.pid;
    let seen = tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        events.iter().any(|e| e.pid == pid && e.syscall == "mkdir")
    });
    let finished = tracer.stop();
    assert!(
        seen,
        "no mkdir event of pid {pid} with the unit's capabilities; events: {:#?}\nstderr:\n{}",
        finished.events,
        finished.stderr_text()
    );
    finished.assert_stopped_cleanly();
}

#[test]
fn the_debian_package_installs_runs_and_purges() {
    env::require_root(HOW_TO_RUN);
    let deb = env::required_file("TRACER_DEB", HOW_TO_RUN);
    let installed = Installed::install(&deb);

    let files: BTreeSet<String> =
        succeed(Command::new("dpkg").args(["--listfiles", installed.name()]))
            .lines()
            .map(str::to_owned)
            .collect();
    for file in [
        "/usr/bin/tracer",
        "/lib/systemd/system/tracer.service",
        "/etc/tracer/tracer.yaml",
        "/usr/share/man/man1/tracer.1.gz",
        "/usr/share/man/man1/tracer-audit-seccomp.1.gz",
        "/usr/share/man/man1/tracer-profile-record.1.gz",
        "/usr/share/bash-completion/completions/tracer",
        "/usr/share/zsh/vendor-completions/_tracer",
        "/usr/share/fish/vendor_completions.d/tracer.fish",
    ] {
        assert!(files.contains(file), "the package lacks {file}: {files:#?}");
    }
    assert!(
        !files.iter().any(|f| f.contains("generate-docs")),
        "the packaging command is hidden, so it has no man page: {files:#?}"
    );
    let conffiles = succeed(Command::new("dpkg-query").args([
        "--showformat=${Conffiles}",
        "--show",
        installed.name(),
    ]));
    assert!(
        conffiles.contains("/etc/tracer/tracer.yaml"),
        "the config must be a conffile, kept across upgrades: {conffiles:?}"
    );
    assert_eq!(
        std::fs::read_to_string("/etc/tracer/tracer.yaml").expect("the installed config"),
        packaging::read("tracer.yaml")
    );

    let version = succeed(Command::new("/usr/bin/tracer").arg("--version"));
    assert!(version.starts_with("tracer "), "{version:?}");
    let page = succeed(
        Command::new("man")
            .args(["-l", "/usr/share/man/man1/tracer-audit-seccomp.1.gz"])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"),
    );
    for option in ["--probe", "--docker-socket", "--config", "--metrics-addr"] {
        assert!(
            page.contains(option),
            "the man page lacks {option}:\n{page}"
        );
    }
    let completion = std::fs::read_to_string("/usr/share/bash-completion/completions/tracer")
        .expect("the bash completion");
    assert!(completion.contains("--ring-buffer-size"), "{completion}");

    // systemd checks the installed unit: its keys, that ExecStart is an executable and that
    // Documentation= names a page man finds. It needs no running systemd.
    let verify = packaging::output(
        Command::new("systemd-analyze").args(["verify", "/lib/systemd/system/tracer.service"]),
    );
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        verify.status,
        text(&verify.stderr)
    );

    let run = packaging::output(
        Command::new("/usr/bin/tracer")
            .args(["audit", "seccomp", "--timeout", "1", "-o", "json"])
            .env("NO_COLOR", "1"),
    );
    let stderr = text(&run.stderr);
    assert!(
        run.status.success(),
        "the installed tracer failed: {stderr}"
    );
    assert!(stderr.contains("events delivered"), "no summary: {stderr}");
    for line in text(&run.stdout).lines() {
        TracerEvent::parse(line).unwrap_or_else(|e| panic!("{e}: not an event: {line}"));
    }

    let purge = installed.purge();
    assert!(
        purge.status.success(),
        "dpkg --purge: {}",
        text(&purge.stderr)
    );
    for gone in [
        "/usr/bin/tracer",
        "/etc/tracer/tracer.yaml",
        "/lib/systemd/system/tracer.service",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is left after purging");
    }
}

/// The image built from packaging/Dockerfile, run as the DaemonSet runs it (the node's pids and
/// network, a read-only root, the runtime socket), names the container whose call seccomp
/// logged, in JSON on its stdout.
#[test]
fn the_container_image_prints_json_events_of_other_containers() {
    env::require_root(HOW_TO_RUN);
    let context = PathBuf::from(env::required_var("TRACER_IMAGE_CONTEXT", HOW_TO_RUN));
    let dockerd = Dockerd::start();
    dockerd.import_busybox();
    let image = "tracer-packaging-test";
    dockerd.docker_ok(&[
        "build",
        "--network",
        "none",
        "--build-arg",
        &format!("ASSEMBLE_BASE={IMAGE}"),
        "-t",
        image,
        context.to_str().expect("a UTF-8 path"),
    ]);
    let socket = dockerd.socket();
    let mut run = dockerd.docker_command(&[
        "run",
        "--rm",
        "--name",
        "tracer-in-a-container",
        "--pid",
        "host",
        "--network",
        "host",
        "--cap-drop",
        "ALL",
        // Docker's default profile would refuse bpf() and perf_event_open(), as the
        // DaemonSet's seccompProfile says.
        "--security-opt",
        "seccomp=unconfined",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-v",
        "/sys/kernel/tracing:/sys/kernel/tracing:ro",
        "-v",
        &format!("{}:/var/run/docker.sock:ro", socket.display()),
    ]);
    // The unit's capabilities, as far as this machine's root has them (--privileged would ask
    // for all, which runc cannot apply here). Docker 20.10 names neither CAP_BPF nor
    // CAP_PERFMON; CAP_SYS_ADMIN stands in for both, as the kernel accepts it for them.
    let mut added = BTreeSet::new();
    for cap in packaging::unit_capabilities() {
        if !packaging::grantable(&cap) {
            eprintln!("this machine's root cannot grant {cap}; the container runs without it");
            continue;
        }
        let cap = match cap.as_str() {
            "CAP_BPF" | "CAP_PERFMON" => "SYS_ADMIN".to_owned(),
            other => other.trim_start_matches("CAP_").to_owned(),
        };
        if added.insert(cap.clone()) {
            run.args(["--cap-add", &cap]);
        }
    }
    // No arguments: the image's default, JSON on stdout.
    run.arg(image)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let tracer = Tracer::spawn(run);
    tracer.wait_attached();

    let profile = dockerd.seed_profile();
    dockerd.docker_ok(&[
        "run",
        "--rm",
        "--name",
        "logs-a-mkdir",
        "--network",
        "none",
        "--security-opt",
        &format!("seccomp={}", profile.display()),
        IMAGE,
        "mkdir",
        "/tmp/made",
    ]);
    let named = |e: &TracerEvent| {
        e.syscall == "mkdir"
            && e.code == "log"
            && e.container
                .as_ref()
                .is_some_and(|c| c["name"] == "logs-a-mkdir")
    };
    let seen = tracer.wait_for_events(EVENT_TIMEOUT, |events| events.iter().any(named));
    // SIGINT reaches the container through the client, as Ctrl-C would.
    let finished = tracer.stop();
    assert!(
        seen,
        "no mkdir event of container logs-a-mkdir on the image's stdout; events: {:#?}\n\
         stderr:\n{}",
        finished.events,
        finished.stderr_text()
    );
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
}

/// Debian's own checker finds nothing but the placeholder maintainer address, which a
/// distributor replaces through DEBFULLNAME and DEBEMAIL when packing.
#[test]
fn lintian_passes_the_debian_package() {
    let deb = env::required_file("TRACER_DEB", HOW_TO_RUN);
    let lintian = packaging::output(
        Command::new("lintian")
            .args(["--fail-on", "error,warning"])
            .args([
                "--suppress-tags",
                "bogus-mail-host,bogus-mail-host-in-debian-changelog",
            ])
            .arg(&deb),
    );
    assert!(
        lintian.status.success(),
        "lintian {}: {}\n{}",
        deb.display(),
        text(&lintian.stdout),
        text(&lintian.stderr)
    );
}
