//! Counting tests in libtest's output. Every test executable, whether cargo runs it here or init
//! runs it in a VM, prints `running N tests` first and `test result: ...` last; cargo names each
//! executable in a `Running` or `Doc-tests` line before it.

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader, Write},
    ops::AddAssign,
    process::{Command, ExitStatus},
};

use anyhow::{Context as _, Result};

use crate::process;

/// Tests by outcome. Ignored tests are skipped ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// A test, named by the executable it is in (without cargo's hash) and its path.
pub type TestId = (String, String);

/// What a stream of libtest output said, line by line.
#[derive(Debug, Default)]
pub struct Tally {
    pub counts: Counts,
    /// Test executables that started (`running N tests`) but printed no result: they crashed or
    /// were killed. Each counts as one failed test.
    pub unfinished: u64,
    /// Tests reported ignored, and tests that ran (passed or failed), by name.
    pub ignored: BTreeSet<TestId>,
    pub ran: BTreeSet<TestId>,
    executable: String,
    running: bool,
}

impl Tally {
    pub fn line(&mut self, line: &str) {
        let line = line.trim_end();
        if let Some(executable) = executable_of(line) {
            self.executable = executable;
        } else if is_running_line(line) {
            self.end_executable();
            self.running = true;
        } else if let Some(counts) = parse_result(line) {
            self.counts += counts;
            self.running = false;
        } else if let Some((name, ran)) = parse_test_line(line) {
            let id = (self.executable.clone(), name.to_owned());
            if ran {
                self.ran.insert(id);
            } else {
                self.ignored.insert(id);
            }
        }
    }

    /// Call when the output ends: an executable still running then never reported.
    pub fn end(&mut self) {
        self.end_executable();
    }

    fn end_executable(&mut self) {
        if std::mem::take(&mut self.running) {
            self.unfinished += 1;
        }
    }

    /// The counts, with each executable that never reported as one failure.
    pub fn total(&self) -> Counts {
        let mut total = self.counts;
        total.failed += self.unfinished;
        total
    }

    pub fn merge(&mut self, other: Tally) {
        self.counts += other.counts;
        self.unfinished += other.unfinished;
        self.ignored.extend(other.ignored);
        self.ran.extend(other.ran);
    }
}

/// The executable a cargo line announces, without the hash in its file name (which changes
/// with features and flags): `Running unittests src/lib.rs (target/debug/deps/tracer-0ffc94e606b9d61f)`
/// gives `unittests src/lib.rs (target/debug/deps/tracer)`, `Doc-tests tracer` gives
/// `Doc-tests tracer`.
fn executable_of(line: &str) -> Option<String> {
    let line = line.trim();
    if line.starts_with("Doc-tests ") {
        return Some(line.to_owned());
    }
    let rest = line.strip_prefix("Running ")?;
    let Some(open) = rest.strip_suffix(')') else {
        return Some(rest.to_owned());
    };
    let without_hash = match open.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            stem
        }
        _ => open,
    };
    Some(format!("{without_hash})"))
}

/// `running 3 tests`, `running 1 test`.
fn is_running_line(line: &str) -> bool {
    line.strip_prefix("running ")
        .and_then(|rest| rest.split_once(' '))
        .is_some_and(|(count, word)| {
            count.parse::<u64>().is_ok() && matches!(word, "test" | "tests")
        })
}

/// `test result: ok. 68 passed; 5 failed; 0 ignored; 0 measured; 0 filtered out; finished in 2.02s`,
/// wherever it starts in the line (a VM console may put other text before it).
pub fn parse_result(line: &str) -> Option<Counts> {
    let (_, rest) = line.split_once("test result: ")?;
    let (_, rest) = rest.split_once(". ")?;
    let (mut passed, mut failed, mut ignored) = (None, None, None);
    for part in rest.split(';') {
        let Some((count, word)) = part.trim().split_once(' ') else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        match word {
            "passed" => passed = Some(count),
            "failed" => failed = Some(count),
            "ignored" => ignored = Some(count),
            _ => {}
        }
    }
    Some(Counts {
        passed: passed?,
        failed: failed?,
        skipped: ignored?,
    })
}

/// `test probe::tests::x ... ok` gives `(name, true)`, `... FAILED` too; `... ignored` (with
/// or without a reason) gives `(name, false)`.
fn parse_test_line(line: &str) -> Option<(&str, bool)> {
    let (name, outcome) = line.strip_prefix("test ")?.rsplit_once(" ... ")?;
    match outcome {
        "ok" | "FAILED" => Some((name, true)),
        _ if outcome.starts_with("ignored") => Some((name, false)),
        _ => None,
    }
}

/// A finished cargo command and the tests it ran.
pub struct Counted {
    pub status: ExitStatus,
    pub tally: Tally,
    pub line: String,
}

impl Counted {
    /// The tests, and one failure when the command failed without a failing test to show for it
    /// (a build error, say).
    pub fn total(&self) -> Counts {
        let mut total = self.tally.total();
        if !self.status.success() && total.failed == 0 {
            total.failed = 1;
        }
        total
    }
}

/// Runs `cmd` with its standard output and error merged into one pipe (so cargo's `Running`
/// lines stay in order with the tests' output), copies every line to our standard output as it
/// arrives, and counts the tests.
pub fn run(cmd: Command) -> Result<Counted> {
    run_echoing(cmd, &mut std::io::stdout())
}

fn run_echoing(mut cmd: Command, echo: &mut dyn Write) -> Result<Counted> {
    let line = process::display(&cmd);
    eprintln!("$ {line}");
    let (reader, writer) = std::io::pipe().context("cannot create a pipe")?;
    cmd.stdout(writer.try_clone().context("cannot duplicate a pipe")?)
        .stderr(writer);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    // The command keeps its copies of the pipe's write end; without dropping them the pipe
    // would never reach its end.
    drop(cmd);
    let mut tally = Tally::default();
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading the output of `{line}`"))?;
        if read == 0 {
            break;
        }
        // Our own output may be a closed pipe; the tests still run to their end.
        let _ = echo.write_all(&buf).and_then(|()| echo.flush());
        tally.line(&String::from_utf8_lossy(&buf));
    }
    tally.end();
    let status = child
        .wait()
        .with_context(|| format!("waiting for `{line}`"))?;
    Ok(Counted {
        status,
        tally,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_result_lines_of_passing_and_failing_runs() {
        assert_eq!(
            parse_result(
                "test result: FAILED. 68 passed; 5 failed; 2 ignored; 0 measured; 0 filtered \
                 out; finished in 2.02s"
            ),
            Some(Counts {
                passed: 68,
                failed: 5,
                skipped: 2
            })
        );
        assert_eq!(
            parse_result(
                "[6.1] test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out"
            ),
            Some(Counts {
                passed: 1,
                failed: 0,
                skipped: 0
            })
        );
        assert_eq!(parse_result("test result: ok"), None);
        assert_eq!(parse_result("test tests::x ... ok"), None);
    }

    #[test]
    fn names_executables_without_their_hash() {
        assert_eq!(
            executable_of(
                "     Running unittests src/lib.rs (target/debug/deps/tracer-0ffc94e606b9d61f)"
            )
            .as_deref(),
            Some("unittests src/lib.rs (target/debug/deps/tracer)")
        );
        assert_eq!(
            executable_of(
                "     Running unittests src/main.rs (target/debug/deps/tracer-00112233445566ff)"
            )
            .as_deref(),
            Some("unittests src/main.rs (target/debug/deps/tracer)"),
            "a crate's library and binary are told apart"
        );
        assert_eq!(
            executable_of("   Doc-tests tracer_common").as_deref(),
            Some("Doc-tests tracer_common")
        );
        assert_eq!(executable_of("running 3 tests"), None);
    }

    #[test]
    fn counts_a_stream_and_the_executables_that_never_reported() {
        let mut tally = Tally::default();
        for line in [
            "     Running unittests src/lib.rs (target/debug/deps/tracer-0ffc94e606b9d61f)",
            "",
            "running 3 tests",
            "test probe::exits::tests::remembers ... ignored, needs root and BPF",
            "test cli::tests::parses ... ok",
            "test output::tests::renders ... FAILED",
            "test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out",
            "     Running unittests src/main.rs (target/debug/deps/xtask-00112233445566ff)",
            "running 2 tests",
            "test tests::cli ... ok",
            "thread 'main' has overflowed its stack",
        ] {
            tally.line(line);
        }
        tally.end();
        assert_eq!(
            tally.total(),
            Counts {
                passed: 1,
                failed: 2,
                skipped: 1
            }
        );
        let lib = "unittests src/lib.rs (target/debug/deps/tracer)";
        let id = |exe: &str, name: &str| (exe.to_owned(), name.to_owned());
        assert!(
            tally
                .ignored
                .contains(&id(lib, "probe::exits::tests::remembers"))
        );
        assert!(tally.ran.contains(&id(lib, "output::tests::renders")));
        assert!(tally.ran.contains(&id(
            "unittests src/main.rs (target/debug/deps/xtask)",
            "tests::cli"
        )));
    }

    #[test]
    fn a_failed_command_without_failed_tests_counts_as_one_failure() {
        let status = |code| {
            use std::os::unix::process::ExitStatusExt as _;
            ExitStatus::from_raw(code << 8)
        };
        let mut tally = Tally::default();
        tally.line("test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
        let counted = Counted {
            status: status(101),
            tally,
            line: "cargo test".into(),
        };
        assert_eq!(
            counted.total(),
            Counts {
                passed: 4,
                failed: 1,
                skipped: 0
            }
        );
        let passed = Counted {
            status: status(0),
            tally: Tally::default(),
            line: "cargo fmt".into(),
        };
        assert_eq!(passed.total(), Counts::default());
    }

    #[test]
    fn runs_a_command_and_counts_what_it_printed() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'running 1 test'; echo 'test a ... ok' >&2; \
             echo 'test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out'",
        ]);
        let mut echoed = Vec::new();
        let counted = run_echoing(cmd, &mut echoed).unwrap();
        assert!(counted.status.success());
        assert_eq!(
            String::from_utf8(echoed).unwrap().lines().count(),
            3,
            "every line of both streams is echoed"
        );
        assert_eq!(
            counted.total(),
            Counts {
                passed: 1,
                failed: 0,
                skipped: 0
            }
        );
        assert!(counted.tally.ran.contains(&(String::new(), "a".to_owned())));
    }
}
