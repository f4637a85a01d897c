//! Runs `seccomp-workload` scenarios and checks they ended as their plan said.

use std::{
    os::unix::process::ExitStatusExt as _,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    time::Duration,
};

use nix::sys::signal::Signal;

use crate::plan::{EXIT_UNSUPPORTED, ExpectedExit, Plan};

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
    /// What followed the plan on stdout (nothing, normally).
    pub stdout_rest: String,
    pub stderr: String,
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
        let child = Command::new(&self.path)
            .args(args)
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
        assert_eq!(
            plan.pid, pid,
            "seccomp-workload {args:?} announced pid {} but runs as {pid}",
            plan.pid
        );
        Run {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            plan,
            status,
            stdout_rest: rest.to_owned(),
            stderr,
        }
    }
}

impl Run {
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
            "seccomp-workload {:?} printed more than its plan: {:?}",
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
