//! tracer's webhook sink against a real HTTP(S) receiver on 127.0.0.1, with the real tracer on
//! this machine's kernel (the audit source) and a workload whose every logged call carries its
//! own number (`numbered-burst`: call `i` is reported with its own `ip`). Checked: in the
//! blocking modes a receiver stopped and restarted in the middle of a burst loses nothing and
//! duplicates nothing; in batch mode what arrives plus what tracer counts as unwritten is every
//! event it showed; a 5xx is retried and a 4xx is not; TLS with a CA file, a client certificate
//! and a bearer token; a spool sent by the next run; a pipeline waiting on a blocking webhook
//! still stops at once. Run as root.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use tracer_integration_tests::{
    env,
    faults::{STOP_LIMIT, STOP_PATIENCE},
    plan::NUMBERED_CALL_BYTES,
    receiver::{Receiver, TestPki},
    tracer::{Finished, STOP_TIMEOUT, Tracer, TracerEvent},
    workload::Workload,
};

const HOW_TO_RUN: &str = "run these tests as root with TRACER_BIN set to a release build of \
    tracer (`cargo build --release -p tracer`) and SECCOMP_WORKLOAD to the workload \
    (`cargo build -p tracer-integration-tests --bin seccomp-workload`)";
/// Each test reads the kernel's audit records: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// Events reach the receiver within milliseconds; this only ends a hung test.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the receiver stays down in the middle of a burst.
const OUTAGE: Duration = Duration::from_secs(1);

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

/// tracer on the audit source, the host's processes, events only to the webhook at `url`.
fn start(url: &str, webhook: &[&str]) -> Tracer {
    let mut args = vec![
        "audit",
        "seccomp",
        "--probe",
        "audit",
        "-o",
        "none",
        "--host",
        "-r",
        "docker",
        "--docker-socket",
        "/nonexistent",
        "--webhook",
        url,
    ];
    args.extend_from_slice(webhook);
    let tracer = Tracer::start(&tracer_bin(), &args);
    assert_eq!(tracer.wait_attached(), "audit");
    tracer
}

/// A burst of `calls` logged calls, each reported with a number of its own.
struct Burst {
    pid: u32,
    first_ip: u64,
    calls: u64,
}

impl Burst {
    fn run(calls: u32) -> Self {
        let calls_text = calls.to_string();
        let run = workload().run(&["numbered-burst", &calls_text]);
        run.assert_ended_as_planned();
        let first_ip = run.plan.expect[0]
            .details
            .ip
            .expect("numbered-burst announces its first call's ip");
        Self {
            pid: run.plan.pid,
            first_ip,
            calls: calls.into(),
        }
    }

    fn count(&self, events: &[TracerEvent]) -> u64 {
        events.iter().filter(|e| e.pid == self.pid).count() as u64
    }

    /// How many times each call arrived, by its number.
    fn arrivals(&self, events: &[TracerEvent]) -> BTreeMap<u64, u32> {
        let mut seen = BTreeMap::new();
        for event in events.iter().filter(|e| e.pid == self.pid) {
            let ip = event.ip.expect("the audit record gives every event its ip");
            let offset = ip.wrapping_sub(self.first_ip);
            assert!(
                offset % NUMBERED_CALL_BYTES == 0 && offset / NUMBERED_CALL_BYTES < self.calls,
                "event with ip {ip:#x} is none of the burst's calls (first at {:#x})",
                self.first_ip
            );
            *seen.entry(offset / NUMBERED_CALL_BYTES).or_insert(0) += 1;
        }
        seen
    }

    /// Panics unless every call arrived exactly once.
    #[track_caller]
    fn assert_each_once(&self, events: &[TracerEvent], context: &str) {
        let seen = self.arrivals(events);
        let missing: Vec<u64> = (0..self.calls).filter(|n| !seen.contains_key(n)).collect();
        let twice: Vec<(&u64, &u32)> = seen.iter().filter(|(_, times)| **times > 1).collect();
        assert!(
            missing.is_empty() && twice.is_empty(),
            "of the {} calls, {} never arrived (first: {:?}) and {} arrived more than once \
             (first: {:?}); {context}",
            self.calls,
            missing.len(),
            &missing[..missing.len().min(10)],
            twice.len(),
            &twice[..twice.len().min(10)]
        );
    }
}

/// Waits until no request has come for `quiet`: the sender has nothing left to send or retry.
fn wait_quiet(receiver: &Receiver, quiet: Duration) {
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    loop {
        let before = receiver.requests().len();
        let more = receiver.wait_for(quiet, |_, requests| requests.len() > before);
        if !more || Instant::now() > deadline {
            return;
        }
    }
}

fn describe(finished: &Finished, receiver: &Receiver) -> String {
    let requests = receiver.requests();
    let statuses: BTreeMap<u16, usize> = requests.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.status).or_insert(0) += 1;
        m
    });
    format!(
        "{} requests received (by status: {statuses:?}), {} events accepted; tracer's \
         stderr:\n{}",
        requests.len(),
        receiver.event_count(),
        finished.stderr_text()
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tracer-webhook-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Events in the spool's batches, from their file names (`...-{events}.ndjson[.gz]`).
fn spooled_events(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.'))
                .filter_map(|name| {
                    let stem = name.split(".ndjson").next()?;
                    stem.rsplit('-').next()?.parse::<u64>().ok()
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn blocking_modes_deliver_every_event_exactly_once_across_a_receiver_restart() {
    const CALLS: u32 = 5000;
    const BEFORE_OUTAGE: usize = 10;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for mode in ["blocking", "blocking-strict"] {
        let mut receiver = Receiver::start(|_| 200, None, None);
        receiver.stop_after(BEFORE_OUTAGE);
        let url = receiver.url();
        // Backoff 200 ms: a batch is given up in blocking mode after 5 sends over at least
        // 2.4 s, well past the outage.
        let tracer = start(
            &url,
            &[
                "--webhook-mode",
                mode,
                "--webhook-batch-max-size",
                "100",
                "--webhook-batch-max-wait",
                "100ms",
                "--webhook-buffer-size",
                "1000",
                "--webhook-initial-backoff",
                "200ms",
            ],
        );
        let burst = Burst::run(CALLS);
        assert!(
            receiver.wait_for(ARRIVAL_TIMEOUT, |_, r| r.len() >= BEFORE_OUTAGE),
            "{mode}: the receiver got {} requests, not {BEFORE_OUTAGE}; tracer's stderr:\n{}",
            receiver.requests().len(),
            tracer.stderr_text()
        );
        receiver.stop();
        let before_outage = burst.count(&receiver.events());
        std::thread::sleep(OUTAGE);
        receiver.restart();
        receiver.wait_for(ARRIVAL_TIMEOUT, |events, _| {
            burst.count(events) >= u64::from(CALLS)
        });
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let context = format!("--webhook-mode {mode}; {}", describe(&finished, &receiver));
        let summary = finished.expect_summary();
        assert!(
            before_outage < u64::from(CALLS),
            "all {CALLS} events had arrived before the receiver stopped, so the test proves \
             nothing; {context}"
        );
        assert_eq!(summary.lost, 0, "the kernel lost records: {context}");
        assert!(
            finished
                .stderr_text()
                .contains("cannot send events to the webhook"),
            "tracer never found the receiver down: {context}"
        );
        burst.assert_each_once(&receiver.events(), &context);
        assert_eq!(summary.unwritten, 0, "{context}");
        assert!(
            receiver.bad_lines().is_empty(),
            "{:?}",
            receiver.bad_lines()
        );
    }
}

#[test]
fn batch_mode_counts_every_event_it_drops_while_the_receiver_is_down() {
    const CALLS: u32 = 5000;
    const BEFORE_OUTAGE: usize = 3;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut receiver = Receiver::start(|_| 200, None, None);
    receiver.stop_after(BEFORE_OUTAGE);
    let tracer = start(
        &receiver.url(),
        &[
            "--webhook-mode",
            "batch",
            "--webhook-batch-max-size",
            "100",
            "--webhook-batch-max-wait",
            "100ms",
            "--webhook-buffer-size",
            "500",
            "--webhook-initial-backoff",
            "200ms",
        ],
    );
    let burst = Burst::run(CALLS);
    receiver.wait_for(ARRIVAL_TIMEOUT, |_, r| r.len() >= BEFORE_OUTAGE);
    receiver.stop();
    std::thread::sleep(OUTAGE * 2);
    receiver.restart();
    receiver.wait_for(ARRIVAL_TIMEOUT, |_, r| r.len() > BEFORE_OUTAGE);
    wait_quiet(&receiver, Duration::from_secs(1));
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let context = describe(&finished, &receiver);
    let summary = finished.expect_summary();
    let arrived = receiver.event_count() as u64;
    assert!(
        summary.unwritten > 0,
        "a 500-event buffer held all of a {CALLS}-call burst while the receiver was down, so \
         the test proves nothing; {context}"
    );
    assert_eq!(
        arrived + summary.unwritten,
        summary.shown,
        "{arrived} events arrived + {} counted as unwritten != {} shown; {context}",
        summary.unwritten,
        summary.shown
    );
    let twice = burst
        .arrivals(&receiver.events())
        .values()
        .filter(|n| **n > 1)
        .count();
    assert_eq!(twice, 0, "calls arrived more than once; {context}");
}

#[test]
fn a_spool_carries_every_batch_across_a_receiver_outage_in_batch_mode() {
    const CALLS: u32 = 5000;
    const BEFORE_OUTAGE: usize = 3;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let spool = scratch("outage");
    let mut receiver = Receiver::start(|_| 200, None, None);
    receiver.stop_after(BEFORE_OUTAGE);
    let tracer = start(
        &receiver.url(),
        &[
            "--webhook-spool",
            spool.to_str().expect("UTF-8 path"),
            "--webhook-batch-max-size",
            "100",
            "--webhook-batch-max-wait",
            "100ms",
            "--webhook-initial-backoff",
            "200ms",
        ],
    );
    let burst = Burst::run(CALLS);
    receiver.wait_for(ARRIVAL_TIMEOUT, |_, r| r.len() >= BEFORE_OUTAGE);
    receiver.stop();
    let before_outage = burst.count(&receiver.events());
    // The batch that failed goes to the spool at once, and the events after it follow.
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    while spooled_events(&spool) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(OUTAGE);
    let spooled_in_outage = spooled_events(&spool);
    receiver.restart();
    receiver.wait_for(ARRIVAL_TIMEOUT, |events, _| {
        burst.count(events) >= u64::from(CALLS)
    });
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let context = describe(&finished, &receiver);
    assert!(
        before_outage < u64::from(CALLS),
        "all {CALLS} events had arrived before the receiver stopped; {context}"
    );
    assert!(
        spooled_in_outage > 0,
        "nothing was spooled while the receiver was down; {context}"
    );
    let summary = finished.expect_summary();
    assert_eq!(summary.lost, 0, "the kernel lost records: {context}");
    burst.assert_each_once(&receiver.events(), &context);
    assert_eq!((summary.unwritten, summary.spooled), (0, 0), "{context}");
    assert_eq!(
        spooled_events(&spool),
        0,
        "the spool was not emptied; {context}"
    );
    let _ = std::fs::remove_dir_all(&spool);
}

#[test]
fn a_5xx_is_retried_and_a_4xx_is_not() {
    const CALLS: u32 = 200;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let args = [
        "--webhook-batch-max-size",
        "100",
        "--webhook-batch-max-wait",
        "100ms",
        "--webhook-initial-backoff",
        "100ms",
    ];

    let unavailable = Receiver::start(|n| if n < 2 { 503 } else { 200 }, None, None);
    let tracer = start(&unavailable.url(), &args);
    let burst = Burst::run(CALLS);
    unavailable.wait_for(ARRIVAL_TIMEOUT, |events, _| {
        burst.count(events) >= u64::from(CALLS)
    });
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let context = describe(&finished, &unavailable);
    let refused = unavailable
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert_eq!(refused, 2, "{context}");
    burst.assert_each_once(&unavailable.events(), &context);
    assert_eq!(finished.expect_summary().unwritten, 0, "{context}");

    let bad_request = Receiver::start(|_| 400, None, None);
    let tracer = start(&bad_request.url(), &args);
    Burst::run(CALLS);
    let sent = |requests: &[tracer_integration_tests::receiver::Request]| {
        requests.iter().map(|r| r.events as u64).sum::<u64>()
    };
    bad_request.wait_for(ARRIVAL_TIMEOUT, |_, requests| {
        sent(requests) >= u64::from(CALLS)
    });
    // A retry would come within the 100 ms backoff (± 20%).
    wait_quiet(&bad_request, Duration::from_secs(1));
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let context = describe(&finished, &bad_request);
    let summary = finished.expect_summary();
    assert_eq!(
        sent(&bad_request.requests()),
        summary.shown,
        "each event must be sent once, its batch not retried after a 400; {context}"
    );
    assert!(summary.shown >= u64::from(CALLS), "{context}");
    assert_eq!(summary.unwritten, summary.shown, "{context}");
    assert!(
        finished.stderr_text().contains("status 400"),
        "tracer did not say the receiver refused the batches: {context}"
    );
}

#[test]
fn sends_over_tls_with_a_client_certificate_and_a_bearer_token() {
    const CALLS: u32 = 300;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("tls");
    let pki = TestPki::new(&dir);
    let token = dir.join("token");
    std::fs::write(&token, "s3cret\n").expect("writing the token");
    let receiver = Receiver::start(|_| 200, Some("s3cret"), Some(&pki));
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
    let (ca, cert, key, token) = (
        path(&pki.ca_file),
        path(&pki.client_cert),
        path(&pki.client_key),
        path(&token),
    );
    let tracer = start(
        &receiver.url(),
        &[
            "--webhook-ca-file",
            &ca,
            "--webhook-client-cert",
            &cert,
            "--webhook-client-key",
            &key,
            "--webhook-token-file",
            &token,
            "--webhook-gzip",
            "--webhook-batch-max-wait",
            "100ms",
        ],
    );
    let burst = Burst::run(CALLS);
    receiver.wait_for(ARRIVAL_TIMEOUT, |events, _| {
        burst.count(events) >= u64::from(CALLS)
    });
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let context = describe(&finished, &receiver);
    burst.assert_each_once(&receiver.events(), &context);
    for request in receiver.requests() {
        assert_eq!(request.status, 200, "{request:?}; {context}");
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/x-ndjson"),
            "{context}"
        );
        assert_eq!(
            request.content_encoding.as_deref(),
            Some("gzip"),
            "{context}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batches_spooled_while_the_receiver_is_down_are_sent_by_the_next_run() {
    const CALLS: u32 = 500;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let spool = scratch("spool");
    let spool_arg = spool.to_str().expect("UTF-8 path").to_owned();
    let args = [
        "--webhook-spool",
        &spool_arg,
        "--webhook-batch-max-size",
        "100",
        "--webhook-batch-max-wait",
        "100ms",
        "--webhook-initial-backoff",
        "100ms",
    ];
    let mut receiver = Receiver::start(|_| 200, None, None);
    receiver.stop();

    let first = start(&receiver.url(), &args);
    let burst = Burst::run(CALLS);
    let deadline = Instant::now() + ARRIVAL_TIMEOUT;
    while spooled_events(&spool) < u64::from(CALLS) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = first.stop();
    first.assert_stopped_cleanly();
    let summary = first.expect_summary();
    assert_eq!(
        (summary.spooled, summary.unwritten),
        (summary.shown, 0),
        "every event shown must be spooled for the next run; stderr:\n{}",
        first.stderr_text()
    );
    assert!(summary.shown >= u64::from(CALLS), "{}", first.stderr_text());
    assert_eq!(spooled_events(&spool), summary.spooled);

    receiver.restart();
    let second = start(&receiver.url(), &args);
    receiver.wait_for(ARRIVAL_TIMEOUT, |events, _| {
        burst.count(events) >= u64::from(CALLS)
    });
    let second = second.stop();
    second.assert_stopped_cleanly();
    let context = format!(
        "{}\nthe first run's stderr:\n{}",
        describe(&second, &receiver),
        first.stderr_text()
    );
    burst.assert_each_once(&receiver.events(), &context);
    assert_eq!(
        spooled_events(&spool),
        0,
        "the spool was not emptied; {context}"
    );
    assert!(
        second.stderr_text().contains("an earlier run had spooled"),
        "{context}"
    );
    let _ = std::fs::remove_dir_all(&spool);
}

#[test]
fn a_pipeline_waiting_on_a_blocking_webhook_still_stops_at_once() {
    const CALLS: u32 = 2000;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut receiver = Receiver::start(|_| 200, None, None);
    receiver.stop();
    let args = [
        "--webhook-mode",
        "blocking-strict",
        "--webhook-buffer-size",
        "100",
        "--webhook-batch-max-size",
        "50",
        "--webhook-initial-backoff",
        "100ms",
    ];
    let waits = |tracer: &Tracer| {
        let deadline = Instant::now() + ARRIVAL_TIMEOUT;
        while !tracer.stderr_text().contains("tracer waits for it") {
            assert!(
                Instant::now() < deadline,
                "the pipeline never waited for the webhook; stderr:\n{}",
                tracer.stderr_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    let tracer = start(&receiver.url(), &args);
    Burst::run(CALLS);
    waits(&tracer);
    let stop = tracer.interrupt_timed(STOP_PATIENCE);
    let stderr = stop.finished.stderr_text();
    assert!(
        stop.exited_after.is_some_and(|t| t <= STOP_LIMIT),
        "tracer took {:?} (patience {:?}) to exit after SIGINT while waiting on the webhook; \
         stderr:\n{stderr}",
        stop.exited_after,
        stop.patience
    );
    stop.finished.assert_stopped_cleanly();
    let summary = stop.finished.expect_summary();
    assert_eq!(
        summary.unwritten, summary.shown,
        "nothing arrived, so every event shown must be counted as unwritten; stderr:\n{stderr}"
    );

    let mut with_timeout = args.to_vec();
    with_timeout.extend(["--timeout", "2"]);
    let tracer = start(&receiver.url(), &with_timeout);
    Burst::run(CALLS);
    waits(&tracer);
    let finished = tracer.wait_exit(STOP_TIMEOUT);
    finished.assert_stopped_cleanly();
    let summary = finished.expect_summary();
    assert_eq!(
        summary.unwritten,
        summary.shown,
        "{}",
        finished.stderr_text()
    );
}

#[test]
fn a_bad_url_or_file_fails_at_start_saying_what_to_do() {
    let bin = tracer_bin();
    let dir = scratch("bad-files");
    let (one, other) = (
        TestPki::new(&dir.join("one")),
        TestPki::new(&dir.join("other")),
    );
    let path = |p: &Path| p.to_str().expect("UTF-8 path").to_owned();
    let (cert, wrong_key) = (path(&one.client_cert), path(&other.client_key));
    for (args, expected) in [
        (&["--webhook", "collector:8443"][..], "http or https"),
        (&["--webhook", "http://"][..], "is not a URL"),
        (
            &[
                "--webhook",
                "https://127.0.0.1:1/",
                "--webhook-ca-file",
                "/nonexistent/ca.pem",
            ][..],
            "cannot read --webhook-ca-file",
        ),
        (
            &[
                "--webhook",
                "http://127.0.0.1:1/",
                "--webhook-spool",
                "/proc/spool",
            ][..],
            "make it a directory tracer can write to",
        ),
        (
            &[
                "--webhook",
                "https://127.0.0.1:1/",
                "--webhook-client-cert",
                &cert,
                "--webhook-client-key",
                &wrong_key,
            ][..],
            "is not the key of --webhook-client-cert",
        ),
    ] {
        let mut all = vec!["audit", "seccomp"];
        all.extend_from_slice(args);
        let output = Tracer::command(&bin, &all)
            .output()
            .expect("running tracer");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "tracer {args:?} exited with {} and did not say {expected:?}:\n{stderr}",
            output.status
        );
        assert!(
            !stderr.contains("attached"),
            "tracer {args:?} attached before failing:\n{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
