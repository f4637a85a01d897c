//! `--dedup`, `--rate-limit` and `--summary` on this machine's kernel (the audit source), each
//! checked against the kernel's own audit records of the same run: a flood from a Docker
//! container is one event and summaries that add up to it exactly, while kills in another
//! container go out at once; what the rate limit lets out and what it counts add up to what was
//! delivered; the summary table counts every call, on a terminal and off one. Run as root.

use std::{
    fs,
    io::Read as _,
    net::SocketAddr,
    os::unix::fs::PermissionsExt as _,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tracer_integration_tests::{
    audit_multicast::AuditMulticast,
    docker::{Dockerd, IMAGE},
    env,
    kmsg::SeccompRecord,
    metrics::{self, SUPPRESSED_DEDUP, SUPPRESSED_RATE_LIMIT, Watched},
    tracer::{Tracer, TracerEvent},
    workload::Workload,
};

const HOW_TO_RUN: &str = "run these tests as root with TRACER_BIN set to a build of tracer \
    (`cargo build -p tracer`) and SECCOMP_WORKLOAD to the workload \
    (`cargo build -p tracer-integration-tests --bin seccomp-workload`)";
/// Each test reads the kernel's audit records: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// The host's processes, with no runtime to ask.
const HOST_ONLY: [&str; 5] = ["--host", "-r", "docker", "--docker-socket", "/nonexistent"];
/// Events and records arrive within seconds, even of a flood.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);
/// x86-64 numbers, and the codes the kernel's records carry.
const GETPPID: u64 = 110;
const UNSHARE: u64 = 272;
const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
const SECCOMP_RET_KILL_THREAD: u32 = 0;

const FLOOD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/flood"));
const FLOOD_IMAGE: &str = "volume-flood";
const FLOOD_CALLS: u64 = 100_000;
/// The flood is spread over this long, so it spans several windows and the kills land in it.
const FLOOD_SECONDS: &str = "8";
const WINDOW: Duration = Duration::from_secs(1);

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

/// tracer's metrics endpoint on a free port: the address, and the flag's value.
fn metrics_addr() -> (SocketAddr, String) {
    let addr = SocketAddr::from(([127, 0, 0, 1], metrics::free_port()));
    (addr, addr.to_string())
}

/// Scrapes until `watched` reads `expected` (the counts are published once a second); panics
/// with the last scrape after [`EVENT_TIMEOUT`].
#[track_caller]
fn wait_metric(addr: SocketAddr, watched: Watched, expected: u64) {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let scrape = metrics::scrape(addr);
        if scrape.total(watched) == Some(expected as f64) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{watched:?} is not {expected}:\n{}",
            scrape.text
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn count(records: &[SeccompRecord], keep: impl Fn(&SeccompRecord) -> bool) -> u64 {
    records.iter().filter(|r| keep(r)).count() as u64
}

fn container_name(event: &TracerEvent) -> Option<&str> {
    event.container.as_ref()?.get("name")?.as_str()
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text:?} is not a timestamp: {error}"))
        .to_utc()
}

/// The flood's image: the static flood program alone.
fn import_flood(dockerd: &Dockerd) {
    let rootfs = dockerd.scratch_dir("flood-rootfs");
    let path = rootfs.join("flood");
    fs::write(&path, FLOOD).expect("writing the flood program");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod flood");
    dockerd.import(&rootfs, FLOOD_IMAGE);
}

/// A flood of 100,000 logged getppid calls in one container under `--dedup 1s` is its first
/// event and at most one summary per window, whose counts add up with it to the kernel's
/// records of the flood exactly; three kills in another container meanwhile each go out as an
/// event, before the window open at their time closes.
#[test]
fn dedup_turns_a_flood_into_one_event_and_exact_summaries_while_kills_go_out_at_once() {
    let bin = tracer_bin();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dockerd = Dockerd::start();
    dockerd.import_busybox();
    import_flood(&dockerd);
    let log_getppid = dockerd.scratch_dir("profiles").join("log-getppid.json");
    fs::write(
        &log_getppid,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"action":"SCMP_ACT_LOG","names":["getppid"]}]}"#,
    )
    .expect("writing the profile");
    let socket = dockerd.socket();
    let socket = socket.to_str().expect("UTF-8 path");
    let (addr, addr_text) = metrics_addr();
    let tracer = Tracer::start_attached(
        &bin,
        "audit",
        &[
            "-o",
            "json",
            "--dedup",
            "1s",
            "--docker-socket",
            socket,
            "--metrics-addr",
            &addr_text,
        ],
    );
    let kernel = AuditMulticast::subscribe();

    dockerd.docker_ok(&[
        "run",
        "-d",
        "--name",
        "flood",
        "--network",
        "none",
        "--security-opt",
        &format!("seccomp={}", log_getppid.display()),
        FLOOD_IMAGE,
        "/flood",
        &FLOOD_CALLS.to_string(),
        FLOOD_SECONDS,
    ]);
    assert!(
        tracer.wait_for_events(EVENT_TIMEOUT, |events| events
            .iter()
            .any(|e| container_name(e) == Some("flood"))),
        "no event of the flood within {EVENT_TIMEOUT:?}; stderr:\n{}",
        tracer.stderr_text()
    );
    // Meanwhile, three kills of the same call in another container: one key, so dedup would
    // hold the last two back if kills were not exempt.
    let killer = dockerd.docker(&[
        "run",
        "--name",
        "killer",
        "--network",
        "none",
        "--security-opt",
        &format!("seccomp={}", dockerd.seed_profile().display()),
        IMAGE,
        "sh",
        "-c",
        "unshare -i; unshare -i; unshare -i; true",
    ]);
    assert!(killer.status.success(), "the killer's shell: {killer:?}");
    let flood_exit = dockerd.docker_ok(&["wait", "flood"]);
    assert_eq!(flood_exit, "0", "the flood program failed");
    let records = kernel.finish();
    // The flood's process, which runc's init became: its getppid calls before the exec count
    // too, as they are in the container under its profile.
    let flood_pid = records
        .iter()
        .find(|r| r.comm.as_deref() == Some("flood"))
        .map(|r| r.pid)
        .expect("the kernel recorded the flood");
    let flood_records = count(&records, |r| {
        r.pid == flood_pid && r.syscall == GETPPID && r.code == SECCOMP_RET_LOG
    });
    let kill_records = count(&records, |r| {
        r.syscall == UNSHARE && r.code == SECCOMP_RET_KILL_THREAD
    });
    tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        events
            .iter()
            .filter(|e| container_name(e) == Some("killer"))
            .count()
            >= 3
    });
    // Every call of the flood but its first is held back, and counted as such.
    wait_metric(addr, SUPPRESSED_DEDUP, flood_records - 1);
    // And the summaries come out as their windows close, with no further call and no stop.
    let summarized = |events: &[TracerEvent]| -> u64 {
        events
            .iter()
            .filter(|e| e.is_summary() && container_name(e) == Some("flood"))
            .map(TracerEvent::calls)
            .sum()
    };
    assert!(
        tracer.wait_for_events(EVENT_TIMEOUT, |events| summarized(events)
            == flood_records - 1),
        "the flood's summaries counted {} of its {} held-back calls {EVENT_TIMEOUT:?} after it \
         ended, before any stop; stderr:\n{}",
        summarized(&tracer.events()),
        flood_records - 1,
        tracer.stderr_text()
    );
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
    let summary = finished.expect_summary();
    let context = format!(
        "tracer's summary {summary:?}; kernel records of the flood {flood_records}, of kills \
         {kill_records}; stderr:\n{}",
        finished.stderr_text()
    );
    assert_eq!(summary.lost, 0, "tracer lost records: {context}");
    assert!(
        flood_records >= FLOOD_CALLS,
        "the kernel did not record every call of the flood (its audit limits?): {context}"
    );
    // Other containers on the machine may be killed too; the killer's three are among these.
    assert!(
        kill_records >= 3,
        "kills recorded: {:#?}; {context}",
        records
            .iter()
            .filter(|r| r.syscall == UNSHARE)
            .collect::<Vec<_>>()
    );

    let flood: Vec<(usize, &TracerEvent)> = finished
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| container_name(e) == Some("flood"))
        .collect();
    let calls: Vec<_> = flood.iter().filter(|(_, e)| !e.is_summary()).collect();
    let summaries: Vec<_> = flood.iter().filter(|(_, e)| e.is_summary()).collect();
    assert_eq!(
        calls.len(),
        1,
        "only the flood's first call goes out: {:#?}\n{context}",
        calls
    );
    let held: u64 = summaries
        .iter()
        .map(|(_, e)| e.summary.as_ref().expect("a summary's counts").count)
        .sum();
    assert_eq!(
        1 + held,
        flood_records,
        "the first event and the summaries' counts ({held}) do not add up to the kernel's \
         records of the flood: {context}"
    );
    assert_eq!(summary.held_by_dedup, held, "{context}");
    let first_call = time(&calls[0].1.timestamp);
    let mut previous: Option<DateTime<Utc>> = None;
    for (at, (_, event)) in summaries.iter().enumerate() {
        let held = event.summary.as_ref().expect("counts");
        assert_eq!(held.reason, "dedup");
        assert_eq!(event.syscall, "getppid");
        assert_eq!(held.pids, [calls[0].1.pid], "one process made the flood");
        assert!(time(&held.first) >= first_call && held.first <= held.last);
        let closed = time(&event.timestamp);
        if let Some(previous) = previous {
            // Windows follow each other; the last summary may be the stop's, of a window
            // still open.
            let last = at + 1 == summaries.len();
            let gap = (closed - previous).to_std().unwrap_or_default();
            assert!(
                gap >= WINDOW - Duration::from_millis(5) || (last && closed >= previous),
                "two summaries of the flood {gap:?} apart, within one window: {:#?}\n{context}",
                summaries
            );
        }
        previous = Some(closed);
    }

    // The kills: each its own event, none summarized, and each out before the flood's window
    // open at its time closed.
    let kills: Vec<(usize, &TracerEvent)> = finished
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| container_name(e) == Some("killer"))
        .collect();
    assert_eq!(
        kills.iter().filter(|(_, e)| !e.is_summary()).count(),
        3,
        "every kill goes out as an event: {kills:#?}\n{context}"
    );
    let flood_last_call = summaries
        .last()
        .and_then(|(_, e)| e.summary.as_ref())
        .map(|held| time(&held.last))
        .expect("the flood was summarized");
    for (index, kill) in &kills {
        let called = time(&kill.timestamp);
        assert!(
            first_call <= called && called <= flood_last_call,
            "the kill at {called} was not made during the flood ({first_call} to \
             {flood_last_call}), so this run proves nothing about kills beside a flood"
        );
        let late = summaries.iter().find(|(at, e)| {
            at < index && time(&e.timestamp) > called + chrono::Duration::from_std(WINDOW).unwrap()
        });
        assert!(
            late.is_none(),
            "the kill made at {called} went out after the flood's summary of a later window \
             {late:?}\n{context}"
        );
    }
}

/// `--rate-limit 1/h --rate-limit-key container`: the host's first logged call goes out, the
/// rest of a 20,000-call burst is counted in summaries, passed + held back = what the kernel
/// recorded, and kills of host processes, which share the host's one bucket, all go out.
#[test]
fn rate_limit_counts_what_it_holds_back_and_lets_kills_pass() {
    const BURST: u64 = 20_000;
    let bin = tracer_bin();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let workload = workload();
    let mut args = vec![
        "-o",
        "json",
        "--rate-limit",
        "1/h",
        "--rate-limit-burst",
        "1",
        "--rate-limit-key",
        "container",
    ];
    args.extend(HOST_ONLY);
    let (addr, addr_text) = metrics_addr();
    args.extend(["--metrics-addr", &addr_text]);
    let tracer = Tracer::start_attached(&bin, "audit", &args);
    let kernel = AuditMulticast::subscribe();
    let burst = workload.run(&["burst", &BURST.to_string()]);
    burst.assert_ended_as_planned();
    let mut killed = Vec::new();
    for _ in 0..3 {
        let run = workload.run(&["kill-thread"]);
        run.assert_ended_as_planned();
        killed.push(run.plan.pid);
    }
    let records = kernel.finish();
    let burst_pid = burst.plan.pid;
    let recorded = count(&records, |r| r.pid == burst_pid && r.syscall == GETPPID);
    // With one bucket for the whole host, a summary may stand for calls of several kinds: the
    // totals of the host's calls are compared.
    let recorded_all = records.len() as u64;
    let kills_out = tracer.wait_for_events(EVENT_TIMEOUT, |events| {
        killed
            .iter()
            .all(|pid| events.iter().any(|e| e.pid == *pid))
    });
    assert!(
        kills_out,
        "the kills of {killed:?} did not all go out within {EVENT_TIMEOUT:?}: {:#?}\nstderr:\n{}",
        tracer
            .events()
            .iter()
            .filter(|e| !e.is_summary())
            .collect::<Vec<_>>(),
        tracer.stderr_text()
    );
    // What did not go out was held back, and counted as such at once.
    let passed_so_far = tracer
        .events()
        .iter()
        .filter(|e| e.container.is_none() && !e.is_summary())
        .count() as u64;
    wait_metric(addr, SUPPRESSED_RATE_LIMIT, recorded_all - passed_so_far);
    // The summaries come out a second after what they count, with no stop.
    let summarized = |events: &[TracerEvent]| -> u64 {
        events
            .iter()
            .filter(|e| e.is_summary() && e.container.is_none())
            .map(TracerEvent::calls)
            .sum()
    };
    assert!(
        tracer.wait_for_events(EVENT_TIMEOUT, |events| summarized(events)
            == recorded_all - passed_so_far),
        "the summaries counted {} of the {} held-back calls, before any stop; stderr:\n{}",
        summarized(&tracer.events()),
        recorded_all - passed_so_far,
        tracer.stderr_text()
    );
    // The last summary goes out at stop, if not before.
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    finished.assert_stdout_is_events();
    let summary = finished.expect_summary();
    let context = format!(
        "tracer's summary {summary:?}; kernel records of the burst {recorded}, of all calls \
         {recorded_all}; stderr:\n{}",
        finished.stderr_text()
    );
    assert_eq!(summary.lost, 0, "{context}");
    assert_eq!(
        recorded, BURST,
        "the kernel's records of the burst: {context}"
    );
    let host: Vec<&TracerEvent> = finished
        .events
        .iter()
        .filter(|e| e.container.is_none())
        .collect();
    let passed = host.iter().filter(|e| !e.is_summary()).count() as u64;
    let summaries: Vec<_> = host.iter().filter(|e| e.is_summary()).collect();
    let held: u64 = summaries.iter().map(|e| e.calls()).sum();
    // One bucket per owner: the host's processes together, and apart from them a process
    // that exited before tracer could place it (no mount namespace), keyed as a container no
    // runtime named. Each bucket lets its first call out, and kills always.
    let mut first_calls = std::collections::BTreeMap::<&str, u64>::new();
    for event in host
        .iter()
        .filter(|e| !e.is_summary() && e.code != "kill_thread")
    {
        let owner = if event.mntns_id.is_some() {
            "the host"
        } else {
            "unplaced"
        };
        *first_calls.entry(owner).or_default() += 1;
    }
    assert!(
        first_calls.values().all(|&n| n == 1),
        "1/h with a burst of 1 lets one call of each owner out: {first_calls:?}: {:#?}; {context}",
        host.iter().filter(|e| !e.is_summary()).collect::<Vec<_>>()
    );
    assert_eq!(
        passed + held,
        recorded_all,
        "passed ({passed}) + held back ({held}) is not what the kernel recorded: {context}"
    );
    assert!(held >= BURST - 1, "{context}");
    assert_eq!(summary.held_by_rate_limit, held, "{context}");
    assert!(
        summaries
            .iter()
            .all(|e| e.summary.as_ref().is_some_and(|s| s.reason == "rate_limit")),
        "{context}"
    );
    for pid in &killed {
        let kills = finished
            .events
            .iter()
            .filter(|e| e.pid == *pid && !e.is_summary() && e.code == "kill_thread")
            .count();
        assert_eq!(kills, 1, "the kill of pid {pid} did not go out: {context}");
    }
}

/// The rows of a summary table: (container, syscall, code) → count.
fn table_rows(lines: &[String]) -> Vec<(String, String, String, u64)> {
    lines
        .iter()
        .skip_while(|line| !line.starts_with("CONTAINER"))
        .skip(1)
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [container, syscall, code, count, _last_seen] => Some((
                    container.to_string(),
                    syscall.to_string(),
                    code.to_string(),
                    count.parse().ok()?,
                )),
                _ => None,
            }
        })
        .collect()
}

fn host_getppid_row(rows: &[(String, String, String, u64)]) -> Option<u64> {
    rows.iter()
        .find(|(container, syscall, code, _)| {
            container == "(host)" && syscall == "getppid" && code == "log"
        })
        .map(|row| row.3)
}

/// `--summary` with stdout not a terminal prints only the final table, and its count of the
/// host's logged getppid calls is the kernel's, with `--dedup` holding most of them back.
#[test]
fn summary_off_a_terminal_prints_the_final_table_with_every_call() {
    let bin = tracer_bin();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let workload = workload();
    let mut args = vec!["--summary", "--dedup", "30s"];
    args.extend(HOST_ONLY);
    let tracer = Tracer::start_attached(&bin, "audit", &args);
    let kernel = AuditMulticast::subscribe();
    let burst = workload.run(&["burst", "2000"]);
    burst.assert_ended_as_planned();
    let records = kernel.finish();
    let recorded = count(&records, |r| {
        r.syscall == GETPPID && r.code == SECCOMP_RET_LOG
    });
    // Nothing on stdout before the stop: the table is printed once.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        tracer.events().is_empty(),
        "events on stdout with --summary"
    );
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let rows = table_rows(&finished.stdout_lines);
    let context = format!(
        "stdout:\n{}\nstderr:\n{}",
        finished.stdout_lines.join("\n"),
        finished.stderr_text()
    );
    assert_eq!(
        finished.stdout_lines[0]
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["CONTAINER", "SYSCALL", "CODE", "COUNT", "LAST", "SEEN"],
        "{context}"
    );
    assert!(
        !finished.stdout_lines.iter().any(|l| l.contains('\u{1b}')),
        "escape sequences off a terminal: {context}"
    );
    assert_eq!(
        host_getppid_row(&rows),
        Some(recorded),
        "the table's count of the host's logged getppid is not the kernel's {recorded}: \
         {context}"
    );
    assert!(recorded >= 2000, "{context}");
}

/// `--summary` on a terminal (a pseudo-terminal from `script`): the table is drawn on the
/// alternate screen and redrawn about once a second, with the burst's count once it is in;
/// at the stop the screen is left and the final table printed with the kernel's count.
#[test]
fn summary_on_a_terminal_redraws_the_table_and_prints_the_final_one() {
    const ENTER: &str = "\x1b[?1049h";
    const HOME: &str = "\x1b[H";
    const LEAVE: &str = "\x1b[?1049l";
    let bin = tracer_bin();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let workload = workload();
    let command = format!(
        "exec {} audit seccomp --probe audit --summary --timeout 6 {}",
        bin.display(),
        HOST_ONLY.join(" ")
    );
    let mut script = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .spawn()
        .expect("script (util-linux) runs tracer on a pseudo-terminal");
    let mut stdout = script.stdout.take().expect("piped");
    let output = Arc::new(Mutex::new(Vec::<u8>::new()));
    let reader = {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(read) = stdout.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                output.lock().unwrap().extend_from_slice(&buffer[..read]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !text().contains("attached audit") {
        assert!(
            Instant::now() < deadline,
            "tracer did not attach under script: {:?}",
            text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kernel = AuditMulticast::subscribe();
    let burst = workload.run(&["burst", "3000"]);
    burst.assert_ended_as_planned();
    let records = kernel.finish();
    let recorded = count(&records, |r| {
        r.syscall == GETPPID && r.code == SECCOMP_RET_LOG
    });
    let status = script.wait().expect("script ends with tracer's --timeout");
    reader.join().expect("the pty's reader");
    let text = text();
    let context = format!("the terminal got:\n{text:?}");
    assert!(status.success(), "tracer under script: {status}; {context}");
    let entered = text
        .find(ENTER)
        .unwrap_or_else(|| panic!("no alternate screen; {context}"));
    let left = text
        .rfind(LEAVE)
        .unwrap_or_else(|| panic!("the alternate screen was not left; {context}"));
    let live = &text[entered..left];
    let redraws = live.matches(HOME).count();
    assert!(redraws >= 4, "{redraws} redraws in 6 s; {context}");
    // A redraw after the burst shows its count.
    let last_redraw = &live[live.rfind(HOME).expect("counted above")..];
    let lines = |text: &str| -> Vec<String> {
        text.replace(HOME, "")
            .replace("\x1b[K", "")
            .replace("\x1b[J", "")
            .replace('\r', "")
            .lines()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        host_getppid_row(&table_rows(&lines(last_redraw))),
        Some(recorded),
        "the live table's last redraw does not count the kernel's {recorded} calls; {context}"
    );
    let final_table = lines(&text[left + LEAVE.len()..]);
    assert_eq!(
        host_getppid_row(&table_rows(&final_table)),
        Some(recorded),
        "the final table does not count the kernel's {recorded} calls; {context}"
    );
}
