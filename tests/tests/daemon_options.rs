//! Running tracer unattended, on this machine's kernel with the audit source: a config file
//! (its keys, their errors, and flags that override them) and the Prometheus endpoint, scraped
//! over HTTP while real workloads make every metric move. Run as root.

use std::{fs, net::SocketAddr, path::PathBuf, sync::Mutex, time::Duration};

use nix::sys::signal::Signal;
use tracer_integration_tests::{
    docker::Dockerd,
    env,
    faults::Detached,
    metrics::{self, LOST_RING_BUFFER, LOST_SINK, SUPPRESSED_DEDUP, SUPPRESSED_RATE_LIMIT},
    tracer::{STOP_TIMEOUT, Tracer},
    workload::Workload,
};

const HOW_TO_RUN: &str = "run these tests as root with TRACER_BIN set to a release build of \
    tracer (`cargo build --release -p tracer`) and SECCOMP_WORKLOAD to the workload \
    (`cargo build -p tracer-integration-tests --bin seccomp-workload`)";
/// Each test reads the kernel's audit records: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// Events reach tracer within milliseconds; this only bounds a failing run.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The counts are published once a second.
const METRICS_PATIENCE: Duration = Duration::from_secs(15);

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

/// A config file in the temporary directory, removed when dropped.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("tracer-{}-{name}.yaml", std::process::id()));
        fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 path")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn an_unknown_key_stops_tracer_with_its_line_and_column() {
    let config = ConfigFile::new(
        "unknown-key",
        "# tracer on every node\noutput: json\n\nouptut: columns\n",
    );
    let finished = Tracer::start(
        &tracer_bin(),
        &["audit", "seccomp", "--config", config.path()],
    )
    .wait_exit(STOP_TIMEOUT);
    let stderr = finished.stderr_text();
    assert!(
        !finished.status.success(),
        "tracer accepted a config file with an unknown key; stderr:\n{stderr}"
    );
    for part in [
        config.path(),
        "line 4 column 1",
        "unknown key `ouptut`",
        "did you mean `output`",
    ] {
        assert!(stderr.contains(part), "stderr lacks {part:?}:\n{stderr}");
    }
    assert!(finished.events.is_empty() && finished.stdout_lines.is_empty());
}

#[test]
fn a_wrong_value_names_its_key_and_line() {
    let config = ConfigFile::new("wrong-value", "output: json\nruntimes: [docker, crio]\n");
    let finished = Tracer::start(
        &tracer_bin(),
        &["audit", "seccomp", "--config", config.path()],
    )
    .wait_exit(STOP_TIMEOUT);
    let stderr = finished.stderr_text();
    assert!(!finished.status.success(), "stderr:\n{stderr}");
    for part in ["line 2 column 11", "`runtimes`", "crio"] {
        assert!(stderr.contains(part), "stderr lacks {part:?}:\n{stderr}");
    }
}

/// The file alone sets the output and the timeout: tracer prints JSON and ends by itself.
#[test]
fn the_files_output_and_timeout_are_used() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = ConfigFile::new(
        "output-timeout",
        "probe: audit\noutput: json\ntimeout: 3\nhost: true\nruntimes: [docker]\n\
         docker-socket: /nonexistent\n",
    );
    let tracer = Tracer::start(
        &tracer_bin(),
        &["audit", "seccomp", "--config", config.path()],
    );
    assert_eq!(tracer.wait_attached(), "audit");
    let run = workload().run(&["log"]);
    run.assert_ended_as_planned();
    let pid = run.plan.pid;
    // No SIGINT: only the file's timeout ends it.
    let finished = tracer.wait_exit(EVENT_TIMEOUT);
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
    assert!(
        finished
            .events
            .iter()
            .any(|e| e.pid == pid && e.syscall == "mkdir"),
        "the workload's logged mkdir was not among the JSON events; stdout:\n{}\nstderr:\n{}",
        finished.stdout_lines.join("\n"),
        finished.stderr_text()
    );
}

/// A flag on the command line overrides the file's key (`-o json` over `output: columns`), and
/// a list key (`containername: [...]`) selects like `-c`: the event of a container none of
/// those names is left out, and counted as filtered in the metrics.
#[test]
fn a_flag_overrides_the_file_and_a_list_key_selects() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let workload = workload();
    let config = ConfigFile::new(
        "override",
        "probe: audit\noutput: columns\nhost: true\ncontainername: [web, db]\n\
         docker-socket: /nonexistent\n",
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], metrics::free_port()));
    let addr_text = addr.to_string();
    let tracer = Tracer::start(
        &tracer_bin(),
        &[
            "audit",
            "seccomp",
            "--config",
            config.path(),
            "-o",
            "json",
            "--metrics-addr",
            &addr_text,
        ],
    );
    assert_eq!(tracer.wait_attached(), "audit");
    let before = metrics::scrape(addr);
    // A process in a container no runtime knows: shown without -c, left out with it.
    let mut unnamed = Detached::start(&workload, &["log"], true);
    unnamed.wait_workload();
    let on_host = workload.run(&["log"]);
    on_host.assert_ended_as_planned();
    let host_pid = on_host.plan.pid;
    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        events.iter().any(|e| e.pid == host_pid)
    });
    let filtered =
        |scrape: &metrics::Scrape| scrape.total(metrics::SUPPRESSED_FILTER).unwrap_or(0.0);
    let mut after = metrics::scrape(addr);
    let deadline = std::time::Instant::now() + METRICS_PATIENCE;
    while filtered(&after) <= filtered(&before) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        after = metrics::scrape(addr);
    }
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let context = format!(
        "stdout:\n{}\nstderr:\n{}",
        finished.stdout_lines.join("\n"),
        finished.stderr_text()
    );
    finished.assert_stdout_is_events();
    assert!(
        finished.events.iter().any(|e| e.pid == host_pid),
        "the host process's event is missing: {context}"
    );
    assert!(
        !finished.events.iter().any(|e| e.pid == unnamed.plan.pid),
        "the event of a container not in `containername: [web, db]` was shown: {context}"
    );
    assert!(
        filtered(&after) > filtered(&before),
        "the container's event was not counted as filtered:\n{}\n{context}",
        after.text
    );
}

/// Every metric a run on the audit source can move, moved by real causes: a burst while tracer
/// is stopped overflows its receive buffer (kernel_audit loss), a stdout nobody reads fills the
/// sink's queue (depth, unwritten, sink loss), a webhook whose receiver is down retries and
/// fails its sends, a container dockerd does not know costs a Docker
/// API call and goes unnamed (a miss) and is filtered out by `-c`, and a call `--check`'s
/// profile allows is left out.
#[test]
fn every_metric_moves_on_the_audit_source() {
    const STOPPED_BURST: &str = "5000";
    const LIVE_BURST: &str = "40000";
    /// Live bursts at most, until the sink's queue (65,536 events) overflows.
    const LIVE_BURSTS: usize = 6;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let workload = workload();
    let dockerd = Dockerd::start();
    let socket = dockerd.socket();
    let profile = dockerd.scratch_dir("metrics").join("refuse-getppid.json");
    fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"action":"SCMP_ACT_ERRNO","names":["getppid"]}]}"#,
    )
    .expect("writing the profile");
    let addr = SocketAddr::from(([127, 0, 0, 1], metrics::free_port()));
    let addr_text = addr.to_string();
    // Nothing listens there: every send fails and is retried (sink retries and failures).
    let receiver_down = format!("http://127.0.0.1:{}/events", metrics::free_port());
    let args = [
        "audit",
        "seccomp",
        "--probe",
        "audit",
        "-o",
        "json",
        "--host",
        "-c",
        "no-such-container",
        "--docker-socket",
        socket.to_str().expect("UTF-8 path"),
        // About 500 records: a burst while tracer is stopped overflows it.
        "--audit-receive-buffer",
        "1M",
        "--check",
        profile.to_str().expect("UTF-8 path"),
        "--metrics-addr",
        &addr_text,
        "--webhook",
        &receiver_down,
        "--webhook-batch-max-wait",
        "100ms",
        "--webhook-initial-backoff",
        "100ms",
    ];
    let tracer = Tracer::spawn_with_stdout_unread(Tracer::command(&tracer_bin(), &args));
    assert_eq!(tracer.wait_attached(), "audit");
    let before = metrics::scrape(addr);

    // Before the bursts, whose records would crowd these out of the small receive buffer.
    // mkdir: the profile allows it, so --check leaves it out.
    workload.run(&["log"]).assert_ended_as_planned();
    let mut unknown = Detached::start(&workload, &["log"], true);
    unknown.wait_workload();
    tracer.signal(Signal::SIGSTOP);
    tracer.wait_stopped(Duration::from_secs(5));
    workload
        .run(&["burst", STOPPED_BURST])
        .assert_ended_as_planned();
    tracer.signal(Signal::SIGCONT);
    for _ in 0..LIVE_BURSTS {
        workload
            .run(&["burst", LIVE_BURST])
            .assert_ended_as_planned();
        let published = metrics::scrape(addr);
        if published.total(LOST_SINK).unwrap_or(0.0) > 0.0 {
            break;
        }
        // The count is published once a second.
        std::thread::sleep(Duration::from_millis(1100));
        if metrics::scrape(addr).total(LOST_SINK).unwrap_or(0.0) > 0.0 {
            break;
        }
    }
    let cannot_move = [
        (
            LOST_RING_BUFFER,
            "the audit source reads no ring buffer here (no eBPF event hook on this kernel)",
        ),
        (
            SUPPRESSED_DEDUP,
            "no --dedup: -c leaves it nothing to hold back (the volume tests move it)",
        ),
        (
            SUPPRESSED_RATE_LIMIT,
            "no --rate-limit: -c leaves it nothing to hold back (the volume tests move it)",
        ),
    ];
    let stderr = || tracer.stderr_text();
    metrics::assert_every_series_moves(addr, &before, &cannot_move, METRICS_PATIENCE, &stderr);
    // --check makes tracer exit 1 at the end; only the metrics are under test here.
    drop(tracer.finish());
}

/// A taken address stops tracer before it attaches, saying what to do.
#[test]
fn a_taken_metrics_address_is_refused_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    let addr = taken.local_addr().expect("its address").to_string();
    let finished = Tracer::start(
        &tracer_bin(),
        &[
            "audit",
            "seccomp",
            "--probe",
            "audit",
            "--metrics-addr",
            &addr,
        ],
    )
    .wait_exit(STOP_TIMEOUT);
    let stderr = finished.stderr_text();
    assert!(!finished.status.success(), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("cannot serve metrics on {addr}"))
            && stderr.contains("choose another port"),
        "{stderr}"
    );
    assert!(!stderr.contains("attached"), "it attached first:\n{stderr}");
}
