//! Timing the audited call: a child process installs a seccomp filter, then makes the same call
//! many times in a loop and reports the time per call of each round.
//!
//! The call is `getppid`, which does almost nothing, so the time is the seccomp path's own:
//! `Log` is the path tracer hooks (the filter logs the call, the kernel audits it), `Allow` is
//! the floor (the same filter runs and allows the call, nothing is audited).

use std::{
    io,
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use serde::{Deserialize, Serialize};

use crate::filter::{self, Action, Audit, Rule, nr};

/// The subcommand of `perf-lab` that runs in the child.
pub const SUBCOMMAND: &str = "calls";
/// Set in the child's environment: it calls from a mount namespace of its own, as a container's
/// process does (the profile recorder leaves the host's out).
const OWN_MOUNT_NAMESPACE: &str = "PERF_LAB_OWN_MOUNT_NAMESPACE";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallPath {
    Log,
    Allow,
}

impl CallPath {
    pub fn name(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Allow => "allow",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "log" => Some(Self::Log),
            "allow" => Some(Self::Allow),
            _ => None,
        }
    }
}

/// What the child reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallTimes {
    pub pid: u32,
    /// Nanoseconds per call, one figure per round.
    pub ns_per_call: Vec<f64>,
    /// Wall time of all rounds together, in seconds.
    pub seconds: f64,
}

/// A request for the child.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub path: CallPath,
    pub calls: u32,
    pub rounds: u32,
    /// The CPU the child runs on, so a consumer can be kept off it.
    pub cpu: Option<usize>,
    pub own_mount_namespace: bool,
}

/// Runs the child (this same executable) and returns what it measured.
pub fn time(lab: &Path, request: Request) -> io::Result<CallTimes> {
    let mut command = Command::new(lab);
    command.args([
        SUBCOMMAND,
        request.path.name(),
        &request.calls.to_string(),
        &request.rounds.to_string(),
    ]);
    if let Some(cpu) = request.cpu {
        command.arg(cpu.to_string());
    }
    if request.own_mount_namespace {
        command.env(OWN_MOUNT_NAMESPACE, "1");
    }
    let output = command.stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "the timed calls failed ({})",
            output.status
        )));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| io::Error::other(format!("the timed calls' report: {error}")))
}

/// The child's side: `calls log|allow CALLS ROUNDS [CPU]`. Prints one `CallTimes` as JSON.
pub fn child_main(args: &[String]) -> i32 {
    let parsed = match args {
        [path, calls, rounds, rest @ ..] if rest.len() <= 1 => CallPath::parse(path)
            .zip(calls.parse::<u32>().ok())
            .zip(rounds.parse::<u32>().ok())
            .zip(match rest {
                [] => Some(None),
                [cpu] => cpu.parse::<usize>().ok().map(Some),
                _ => None,
            }),
        _ => None,
    };
    let Some((((path, calls), rounds), cpu)) = parsed else {
        eprintln!("usage: perf-lab {SUBCOMMAND} log|allow CALLS ROUNDS [CPU]");
        return 2;
    };
    if let Some(cpu) = cpu
        && let Err(error) = pin_to_cpu(cpu)
    {
        eprintln!("perf-lab: cannot run on CPU {cpu}: {error}");
        return 1;
    }
    // SAFETY: unshare has no memory preconditions; the child is single-threaded here.
    if std::env::var_os(OWN_MOUNT_NAMESPACE).is_some()
        && unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0
    {
        eprintln!(
            "perf-lab: cannot enter a mount namespace of its own: {}",
            io::Error::last_os_error()
        );
        return 1;
    }
    // The same filter either way, so the floor pays for the same filter run.
    let logged = match path {
        CallPath::Log => nr::x86_64::GETPPID,
        CallPath::Allow => nr::x86_64::GETPGID,
    };
    // Fault in the code and warm the caches before the first timed round, before the filter so
    // that a burst audits exactly the calls asked for.
    for _ in 0..calls.min(1000) {
        getppid();
    }
    if let Err(error) = filter::install(&[Rule::x86_64(logged, Action::Log)], Audit::KillAndLog) {
        eprintln!("perf-lab: cannot install the seccomp filter: {error}");
        return 1;
    }
    let started = Instant::now();
    let ns_per_call = (0..rounds)
        .map(|_| {
            let round = Instant::now();
            for _ in 0..calls {
                getppid();
            }
            round.elapsed().as_nanos() as f64 / f64::from(calls.max(1))
        })
        .collect();
    let times = CallTimes {
        pid: std::process::id(),
        ns_per_call,
        seconds: started.elapsed().as_secs_f64(),
    };
    println!(
        "{}",
        serde_json::to_string(&times).expect("call times are plain data")
    );
    0
}

fn getppid() {
    // SAFETY: getppid takes no arguments. The raw call keeps libc from caching it.
    unsafe { libc::syscall(libc::SYS_getppid) };
}

/// Pins the calling thread (and what it starts later) to one CPU.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET only writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The number of CPUs this process may run on.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
