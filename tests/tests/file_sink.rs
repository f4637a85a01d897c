//! `--output-file` on this machine's kernel (the audit source): every event shown reaches the
//! file as a whole JSON line across rotations, with the mode asked for, gzipped on request; a
//! full disk is reported and counted, and writing resumes when there is room; SIGHUP moves
//! writing to a new file without losing a line; and rsyslog, reading the file as a shipper
//! does, gets every line once across rotations. Run as root.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use nix::sys::signal::Signal;
use tracer_integration_tests::{
    env,
    file_sink::{Rsyslog, ScratchDir, Tmpfs, mode, read_text, sink_files, wait_until, whole_lines},
    kmsg::wait_audit_queue_empty,
    tracer::{Finished, Summary, Tracer, TracerEvent},
    workload::Workload,
};

const HOW_TO_RUN: &str = "run these tests as root with TRACER_BIN set to a release build of \
    tracer (`cargo build --release -p tracer`) and SECCOMP_WORKLOAD to the workload \
    (`cargo build -p tracer-integration-tests --bin seccomp-workload`)";
/// Each test reads the kernel's audit records: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// The host's processes, with no runtime to ask.
const HOST_ONLY: [&str; 5] = ["--host", "-r", "docker", "--docker-socket", "/nonexistent"];
/// Lines shipped by rsyslog arrive within a second; this ends a stuck run.
const SHIP_TIMEOUT: Duration = Duration::from_secs(30);

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

/// tracer on the audit source writing to `file` with `options`, and `-o STDOUT`.
fn start(stdout: &str, file: &Path, options: &[&str]) -> Tracer {
    let mut args = vec!["audit", "seccomp", "--probe", "audit", "-o", stdout];
    args.extend(HOST_ONLY);
    args.extend(["--output-file", file.to_str().expect("a UTF-8 path")]);
    args.extend(options);
    let tracer = Tracer::start(&tracer_bin(), &args);
    assert_eq!(tracer.wait_attached(), "audit");
    tracer
}

/// Runs a burst of `calls` logged calls; returns the workload's pid.
fn burst(workload: &Workload, calls: u32) -> u32 {
    let run = workload.run(&["burst", &calls.to_string()]);
    run.assert_ended_as_planned();
    run.plan.pid
}

/// Every line of the sink's files, oldest first, each checked to be a whole JSON event.
#[track_caller]
fn file_lines(files: &[PathBuf]) -> Vec<String> {
    let mut all = Vec::new();
    for path in files {
        let lines = whole_lines(path, &read_text(path));
        for line in &lines {
            if let Err(error) = TracerEvent::parse(line) {
                panic!(
                    "{} holds a line that is not an event ({error}): {line}",
                    path.display()
                );
            }
        }
        all.extend(lines);
    }
    all
}

fn count_of(lines: &[String], pid: u32) -> u64 {
    lines
        .iter()
        .filter(|line| TracerEvent::parse(line).is_ok_and(|e| e.pid == pid))
        .count() as u64
}

/// Stops tracer cleanly and reads its summary.
#[track_caller]
fn stop(tracer: Tracer) -> (Finished, Summary) {
    let finished = tracer.stop();
    finished.assert_stopped_cleanly();
    let summary = finished.expect_summary();
    (finished, summary)
}

/// 20,000 logged calls with a 1 MiB file size: every event shown is in the files as a whole
/// JSON line, each file within the size and with mode 0604 (a umask of 022 would give 0644,
/// tracer's default is 0600).
#[test]
fn a_burst_rotates_into_files_that_hold_every_event_with_the_mode_asked_for() {
    const CALLS: u32 = 20_000;
    const MAX_SIZE: u64 = 1 << 20;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = ScratchDir::new("file-sink-burst");
    let path = dir.path().join("events.jsonl");
    // Nothing on stdout: the test's reader of stdout would be slower than the file.
    let tracer = start(
        "none",
        &path,
        &[
            "--output-file-max-size",
            "1M",
            "--output-file-max-backups",
            "0",
            "--output-file-mode",
            "0604",
        ],
    );
    let pid = burst(&workload(), CALLS);
    wait_audit_queue_empty();
    let (finished, summary) = stop(tracer);
    let files = sink_files(&path);
    let lines = file_lines(&files);
    let context = format!(
        "{} files, {} lines; summary {summary:?}; stderr:\n{}",
        files.len(),
        lines.len(),
        finished.stderr_text()
    );
    assert_eq!(summary.unwritten, 0, "{context}");
    assert_eq!(
        summary.shown, summary.delivered,
        "every event is shown with --host: {context}"
    );
    assert_eq!(
        lines.len() as u64,
        summary.delivered,
        "lines in the files != delivered: {context}"
    );
    assert_eq!(
        count_of(&lines, pid) + summary.lost,
        u64::from(CALLS),
        "the workload's lines + lost != its calls: {context}"
    );
    assert!(
        files.len() >= 10,
        "a burst this size rotates at least 10 times: {context}"
    );
    for file in &files {
        let size = std::fs::metadata(file).expect("stat").len();
        assert!(
            size <= MAX_SIZE,
            "{} has {size} bytes: {context}",
            file.display()
        );
        assert_eq!(
            mode(file),
            0o604,
            "{} has mode {:o}: {context}",
            file.display(),
            mode(file)
        );
    }
}

/// `--output-file-compress`: backups become valid gzip files of whole JSON lines with the mode
/// asked for, and together with the live file they hold every event, in the order and with the
/// bytes `-o json` printed.
#[test]
fn compressed_backups_are_gzip_files_of_every_line() {
    const CALLS: u32 = 3_000;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = ScratchDir::new("file-sink-gzip");
    let path = dir.path().join("events.jsonl");
    let tracer = start(
        "json",
        &path,
        &[
            "--output-file-max-size",
            "256K",
            "--output-file-max-backups",
            "0",
            "--output-file-compress",
            "--output-file-mode",
            "0640",
        ],
    );
    burst(&workload(), CALLS);
    wait_audit_queue_empty();
    // The backups are compressed in the background, all but the newest (which a shipper may
    // still be reading): wait for them.
    wait_until(Duration::from_secs(10), || {
        let files = sink_files(&path);
        files.len() > 2
            && files[..files.len() - 2]
                .iter()
                .all(|f| f.extension().is_some_and(|e| e == "gz"))
    });
    let (finished, summary) = stop(tracer);
    let files = sink_files(&path);
    let gzipped: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "gz"))
        .collect();
    let lines = file_lines(&files);
    let context = format!(
        "files {files:?}; summary {summary:?}; stderr:\n{}",
        finished.stderr_text()
    );
    assert!(
        gzipped.len() >= 2,
        "fewer than 2 gzipped backups: {context}"
    );
    for file in &gzipped {
        assert_eq!(
            mode(file),
            0o640,
            "{} has mode {:o}: {context}",
            file.display(),
            mode(file)
        );
    }
    assert_eq!(summary.unwritten, 0, "{context}");
    assert!(
        lines == finished.stdout_lines,
        "the files' lines differ from -o json's: {context}"
    );
}

/// A disk with no room: tracer says so once, counts what it could not write, and writes again
/// once there is room; the file holds only whole lines, and its lines and the unwritten count
/// add up to the events delivered.
#[test]
fn a_full_disk_is_reported_counted_and_written_to_again_when_there_is_room() {
    const CALLS: u32 = 200;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let disk = Tmpfs::mount("file-sink-full", "256k");
    let path = disk.path().join("events.jsonl");
    let tracer = start("none", &path, &["--output-file-max-size", "0"]);
    let filler = disk.fill();
    let workload = workload();
    let refused = burst(&workload, CALLS);
    wait_audit_queue_empty();
    let reported = wait_until(Duration::from_secs(10), || {
        tracer.stderr_text().contains("is full")
    });
    assert!(
        reported,
        "tracer did not report the full disk; stderr:\n{}",
        tracer.stderr_text()
    );
    std::fs::remove_file(&filler).expect("removing the filler");
    let written = burst(&workload, CALLS);
    wait_audit_queue_empty();
    let (finished, summary) = stop(tracer);
    let stderr = finished.stderr_text();
    let lines = file_lines(std::slice::from_ref(&path));
    let context = format!(
        "{} lines; summary {summary:?}; stderr:\n{stderr}",
        lines.len()
    );
    assert_eq!(
        stderr.matches("is full").count(),
        1,
        "the full disk is reported once: {context}"
    );
    assert!(
        stderr.contains("again"),
        "tracer did not say it writes again: {context}"
    );
    assert!(
        summary.unwritten >= u64::from(CALLS) - summary.lost,
        "{context}"
    );
    assert_eq!(
        lines.len() as u64 + summary.unwritten,
        summary.delivered,
        "{context}"
    );
    assert_eq!(
        count_of(&lines, refused),
        0,
        "events written to a full disk: {context}"
    );
    assert_eq!(
        count_of(&lines, written) + summary.lost,
        u64::from(CALLS),
        "the events made once there was room are not all in the file: {context}"
    );
}

/// logrotate's way: the file renamed while tracer runs, then SIGHUP. The renamed file keeps the
/// earlier events, the new file gets the later ones, and none is lost.
#[test]
fn sighup_moves_writing_to_a_new_file_and_loses_nothing() {
    const CALLS: u32 = 500;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = ScratchDir::new("file-sink-hup");
    let path = dir.path().join("events.jsonl");
    let renamed = dir.path().join("events.jsonl.rotated-by-logrotate");
    let tracer = start("json", &path, &[]);
    let workload = workload();
    let before = burst(&workload, CALLS);
    wait_audit_queue_empty();
    // Every event printed so far is in the file before it is renamed.
    let flushed = wait_until(Duration::from_secs(10), || {
        file_lines(std::slice::from_ref(&path)).len() >= tracer.events().len()
    });
    assert!(
        flushed,
        "the file did not catch up with stdout; stderr:\n{}",
        tracer.stderr_text()
    );
    std::fs::rename(&path, &renamed).expect("renaming the file");
    tracer.signal(Signal::SIGHUP);
    let after = burst(&workload, CALLS);
    wait_audit_queue_empty();
    let (finished, summary) = stop(tracer);
    let old = file_lines(&[renamed]);
    let new = file_lines(&[path]);
    let context = format!(
        "{} lines in the renamed file, {} in the new one; summary {summary:?}; stderr:\n{}",
        old.len(),
        new.len(),
        finished.stderr_text()
    );
    assert_eq!(summary.lost, 0, "{context}");
    assert_eq!(summary.unwritten, 0, "{context}");
    assert_eq!(count_of(&old, before), u64::from(CALLS), "{context}");
    assert_eq!(count_of(&old, after), 0, "{context}");
    assert_eq!(count_of(&new, after), u64::from(CALLS), "{context}");
    assert_eq!(count_of(&new, before), 0, "{context}");
    let both: Vec<String> = old.into_iter().chain(new).collect();
    assert!(
        both == finished.stdout_lines,
        "the two files' lines differ from -o json's: {context}"
    );
}

/// rsyslog's imfile following the file, as a shipper on a node does, across rotations: every
/// line of every file arrives exactly once. Bursts of calls, each rotating the file, while
/// rsyslog keeps up: imfile, watching `PATH`, drops what it has not read of a file renamed
/// under it, and, watching `PATH*`, may read a renamed file again, so a test of bursts that
/// rotate faster than it reads would test rsyslog.
#[test]
fn rsyslog_ships_every_line_once_across_rotations() {
    const BURSTS: u32 = 4;
    /// About 1.5 files' worth of lines at 256 KiB a file: each burst rotates.
    const CALLS: u32 = 550;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = ScratchDir::new("file-sink-rsyslog");
    let path = dir.path().join("events.jsonl");
    let tracer = start(
        "none",
        &path,
        &[
            "--output-file-max-size",
            "256K",
            "--output-file-max-backups",
            "0",
            "--output-file-mode",
            "0640",
        ],
    );
    let rsyslog = Rsyslog::start(dir.path(), &path);
    let workload = workload();
    // A shipper only follows what it is watching: one call's line shipped says it is.
    burst(&workload, 1);
    let following = wait_until(SHIP_TIMEOUT, || !rsyslog.shipped().is_empty());
    assert!(
        following,
        "rsyslog shipped nothing of {}; rsyslogd said:\n{}",
        path.display(),
        rsyslog.output()
    );
    for _ in 0..BURSTS {
        burst(&workload, CALLS);
        wait_audit_queue_empty();
        let written = wait_until(SHIP_TIMEOUT, || {
            let lines = file_lines(&sink_files(&path)).len();
            lines > 0 && rsyslog.shipped().len() >= lines
        });
        if !written {
            break;
        }
    }
    let (finished, summary) = stop(tracer);
    let files = sink_files(&path);
    let lines = file_lines(&files);
    wait_until(SHIP_TIMEOUT, || rsyslog.shipped().len() >= lines.len());
    let shipped = rsyslog.shipped();
    let context = format!(
        "{} files, {} lines written, {} shipped; summary {summary:?}; rsyslogd said:\n{}\ntracer's \
         stderr:\n{}",
        files.len(),
        lines.len(),
        shipped.len(),
        rsyslog.output(),
        finished.stderr_text()
    );
    assert!(
        files.len() > BURSTS as usize,
        "the file did not rotate in each burst: {context}"
    );
    assert_eq!(summary.unwritten, 0, "{context}");
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for line in &lines {
        *counts.entry(line).or_default() += 1;
    }
    for line in &shipped {
        *counts.entry(line).or_default() -= 1;
    }
    let differ: Vec<_> = counts.iter().filter(|(_, n)| **n != 0).take(5).collect();
    assert!(
        differ.is_empty() && shipped.len() == lines.len(),
        "rsyslog did not ship each line once (line: written - shipped): {differ:?}; {context}"
    );
}
