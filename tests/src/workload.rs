//! Runs `seccomp-workload` scenarios and checks they ended as their plan said.

use std::{
    os::unix::process::ExitStatusExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    time::Duration,
};

use nix::sys::signal::Signal;

use crate::plan::{Details, EXIT_UNSUPPORTED, Expected, ExpectedExit, Plan, Returned};

/// A burst of thousands of audited calls is throttled by the kernel's audit backlog; under
/// software emulation that still finishes in seconds.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// `comm` is the executable's file name cut to 15 bytes (`TASK_COMM_LEN` - 1).
pub fn comm_of(path: &Path) -> String {
    let name = path
        .file_name()
        .unwrap_or_else(|| panic!("{} has no file name", path.display()))
        .to_string_lossy();
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

pub struct Workload {
    pub path: PathBuf,
}

/// One finished scenario.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub plan: Plan,
    pub status: ExitStatus,
    /// What the calls returned, as the workload printed it after the plan.
    pub returned: Vec<Returned>,
    /// What followed the plan on stdout and is not a [`Returned`] line (nothing, normally).
    pub stdout_rest: String,
    pub stderr: String,
    /// The pid of the process that started the workload, when it is not the test itself.
    pub parent: Option<u32>,
}

impl Workload {
    #[track_caller]
    pub fn new(path: PathBuf) -> Self {
        assert!(
            path.is_file(),
            "the seccomp workload {} does not exist",
            path.display()
        );
        Self { path }
    }

    /// The `comm` the kernel gives the workload's threads.
    pub fn comm(&self) -> String {
        comm_of(&self.path)
    }

    /// Runs a scenario to its end; panics if it printed no plan, could not run on this kernel,
    /// or ran past [`RUN_TIMEOUT`].
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Run {
        let mut command = Command::new(&self.path);
        command.args(args);
        let Spawned { run, spawned } = self.run_command(command, args);
        assert_eq!(
            run.plan.pid, spawned,
            "seccomp-workload {args:?} announced pid {} but runs as {spawned}",
            run.plan.pid
        );
        run
    }

    /// Runs a scenario as the child of a shell (`sh -c`), so its parent is a process the test
    /// knows and whose name is `sh`, not one of the test harness's threads. The shell's exit
    /// status stands for the workload's: 128 + N for a workload killed by signal N.
    #[track_caller]
    pub fn run_as_child_of_sh(&self, args: &[&str]) -> Run {
        let mut command = Command::new("sh");
        // `; exit` keeps a shell from replacing itself with its last command.
        command
            .args(["-c", "\"$@\"; exit $?", "sh"])
            .arg(&self.path)
            .args(args);
        let Spawned { mut run, spawned } = self.run_command(command, args);
        assert_ne!(
            run.plan.pid, spawned,
            "sh ran seccomp-workload {args:?} in its own process instead of a child"
        );
        run.parent = Some(spawned);
        if let Some(code) = run.status.code().filter(|code| *code > 128) {
            run.status = ExitStatus::from_raw(code - 128);
        }
        run
    }

    #[track_caller]
    fn run_command(&self, mut command: Command, args: &[&str]) -> Spawned {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {} {args:?}: {error}", self.path.display()));
        let pid = child.id();
        let (done, finished) = mpsc::channel();
        // Waiting happens on a thread so a stuck workload can be timed out and killed.
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let output = match finished.recv_timeout(RUN_TIMEOUT) {
            Ok(output) => {
                output.unwrap_or_else(|error| panic!("waiting for the workload: {error}"))
            }
            Err(_) => {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
                panic!(
                    "seccomp-workload {args:?} did not finish within {RUN_TIMEOUT:?}; killed it"
                );
            }
        };
        let status = output.status;
        let (stdout, stderr) = (output.stdout, output.stderr);
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        let stderr = String::from_utf8_lossy(&stderr).into_owned();
        if status.code() == Some(EXIT_UNSUPPORTED) {
            panic!(
                "this kernel cannot run seccomp-workload {args:?}: {}",
                stderr.trim()
            );
        }
        let (first, rest) = stdout.split_once('\n').unwrap_or((&stdout, ""));
        let plan: Plan = serde_json::from_str(first).unwrap_or_else(|error| {
            panic!(
                "seccomp-workload {args:?} printed no plan ({error}); status {status}, \
                 stdout {stdout:?}, stderr {stderr:?}"
            )
        });
        let (returned, others): (Vec<_>, Vec<_>) = rest
            .lines()
            .map(|line| (serde_json::from_str::<Returned>(line).ok(), line))
            .partition(|(returned, _)| returned.is_some());
        Spawned {
            run: Run {
                args: args.iter().map(|a| (*a).to_owned()).collect(),
                plan,
                status,
                returned: returned.into_iter().filter_map(|(r, _)| r).collect(),
                stdout_rest: others
                    .into_iter()
                    .map(|(_, line)| format!("{line}\n"))
                    .collect(),
                stderr,
                parent: None,
            },
            spawned: pid,
        }
    }
}

struct Spawned {
    run: Run,
    /// The pid of the process the test started.
    spawned: u32,
}

impl Run {
    /// What the workload printed a call returned, by the call's arch and number; panics when
    /// it printed nothing for it.
    #[track_caller]
    pub fn returned(&self, expected: &Expected) -> &Returned {
        self.returned
            .iter()
            .find(|r| r.arch == expected.arch && r.syscall_nr == expected.syscall_nr)
            .unwrap_or_else(|| {
                panic!(
                    "seccomp-workload {:?} printed no result for its {} call; it printed {:?}",
                    self.args, expected.syscall, self.returned
                )
            })
    }

    /// The details a call must be reported with: the plan's, with the errno the caller really
    /// got and the ip it really called from, where the workload printed them.
    #[track_caller]
    pub fn details(&self, expected: &Expected) -> Details {
        let mut details = expected.details.clone();
        if let Some(returned) = self
            .returned
            .iter()
            .find(|r| r.arch == expected.arch && r.syscall_nr == expected.syscall_nr)
        {
            assert_eq!(
                returned.errno, details.errno,
                "seccomp-workload {:?}: {} did not fail as planned",
                self.args, expected.syscall
            );
            details.ip = returned.ip.or(details.ip);
        }
        details
    }

    /// The plan with each call's details as [`Run::details`] gives them: what the oracle
    /// compares tracer's events with.
    #[track_caller]
    pub fn plan_with_truth(&self) -> Plan {
        let mut plan = self.plan.clone();
        for expected in plan
            .expect
            .iter_mut()
            .chain(&mut plan.unaudited)
            .chain(&mut plan.not_seccomp)
        {
            expected.details = self.details(expected);
        }
        plan
    }

    /// Panics unless the workload exited, or was killed, as its plan announced.
    #[track_caller]
    pub fn assert_ended_as_planned(&self) {
        let ended = match self.status.signal() {
            Some(signal) => ExpectedExit::Signal(signal_name(signal)),
            None => ExpectedExit::Code(self.status.code().unwrap_or(-1)),
        };
        assert_eq!(
            ended,
            self.plan.exit,
            "seccomp-workload {:?} ended with {} instead of as planned; stderr: {}",
            self.args,
            self.status,
            self.stderr.trim()
        );
        assert!(
            self.stdout_rest.trim().is_empty(),
            "seccomp-workload {:?} printed more than its plan and its calls' results: {:?}",
            self.args,
            self.stdout_rest
        );
    }
}

/// `SIGSYS` for 31; the number itself for signals this platform does not name.
pub fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(signal) => signal.as_str().to_owned(),
        Err(_) => signal.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_is_the_file_name_cut_to_fifteen_bytes() {
        assert_eq!(comm_of(Path::new("/x/seccomp-workload")), "seccomp-workloa");
        assert_eq!(comm_of(Path::new("short")), "short");
    }

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(31), "SIGSYS");
        assert_eq!(signal_name(1000), "1000");
    }
}
