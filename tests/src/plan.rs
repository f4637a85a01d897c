//! What a workload scenario announces before it makes its seccomp'd calls.
//!
//! The workload prints one [`Plan`] as a JSON line and flushes it before the first filtered call,
//! so the plan reaches the test even when the call kills the process.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub scenario: String,
    /// Process id (thread-group id) of the workload.
    pub pid: u32,
    pub expect: Vec<Expected>,
    pub exit: ExpectedExit,
    /// Calls seccomp refuses with ERRNO under a filter without `SECCOMP_FILTER_FLAG_LOG`: the
    /// kernel never audits them, so only `--all-denials` can report them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unaudited: Vec<Expected>,
    /// Calls the filter allows and the kernel itself then fails (`code` is `allow`, the
    /// errno in `details`): nothing may report them, whatever the errno.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_seccomp: Vec<Expected>,
    /// What the workload knows of itself, for the fields that describe the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
}

/// `count` audited calls of one kind, all made by thread `tid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub tid: u32,
    pub syscall_nr: u32,
    pub arch: String,
    /// The call's name in `arch`'s table.
    pub syscall: String,
    /// The action's name, as tracer prints it.
    pub code: String,
    pub count: u32,
    /// What each of these calls must be reported with beyond its key, where the scenario
    /// knows it.
    #[serde(default, skip_serializing_if = "Details::is_empty")]
    pub details: Details,
}

/// The truth about one kind of call, for the fields that say why it failed. `None` where the
/// scenario makes no claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// The errno the caller gets: the ERRNO action's data, or the kernel's own for a call
    /// seccomp allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// Its symbolic name, as tracer prints it (`EPERM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_name: Option<String>,
    /// The six argument registers, in the order of the call's arch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<[u64; 6]>,
    /// The user instruction pointer after the system call instruction, as the kernel's `ip=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathArg>,
}

impl Details {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The path argument of a call, as tracer must report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathArg {
    /// At most [`PATH_REPORTED_BYTES`] bytes of the path the call was given.
    pub path: String,
    pub truncated: bool,
    /// The directory descriptor of an `*at` call with a relative path; `None` otherwise.
    pub dirfd: Option<i32>,
}

/// How much of a path tracer reports: a 256-byte buffer with room for the NUL.
pub const PATH_REPORTED_BYTES: usize = 255;

/// The argument registers of the two logged calls of the `logged-twice` scenario.
/// The bytes between the call sites of `numbered-burst`: call `i` is reported with `ip` the
/// first call's plus `i` times this, so an event's `ip` says which call it was.
pub const NUMBERED_CALL_BYTES: u64 = 8;

pub const LOGGED_TWICE_ARGS: [[u64; 6]; 2] = [
    [
        0x1111_0000_0000_0011,
        0x2222_0000_0000_0012,
        0x3333_0000_0000_0013,
        0x4444_0000_0000_0014,
        0x5555_0000_0000_0015,
        0xf666_0000_0000_0016,
    ],
    [
        0x1111_0000_0000_0021,
        0x2222_0000_0000_0022,
        0x3333_0000_0000_0023,
        0x4444_0000_0000_0024,
        0x5555_0000_0000_0025,
        0xf666_0000_0000_0026,
    ],
];

/// The process a scenario runs in, as it sees itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// `/proc/self/exe`, resolved.
    pub exe: String,
    /// argv joined by single spaces.
    pub cmdline: String,
    pub ppid: u32,
    /// `comm` of the parent.
    pub parent_comm: String,
    /// Its pid and its parent's as its own pid namespace numbers them (`getpid`, `getppid`).
    pub ns_pid: u32,
    pub ns_ppid: u32,
}

/// One line a workload prints after a call it made, with what the call returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Returned {
    pub syscall: String,
    pub arch: String,
    pub syscall_nr: u32,
    /// The raw return value: `-errno` on failure.
    pub ret: i64,
    pub errno: Option<i32>,
    /// The address after the system call instruction, where the scenario knows it.
    pub ip: Option<u64>,
}

/// How the workload process ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedExit {
    Code(i32),
    /// Killed by this signal (e.g. `SIGSYS`).
    Signal(String),
}

impl Plan {
    pub fn expected_events(&self) -> u32 {
        self.expect.iter().map(|e| e.count).sum()
    }
}

/// Exit code with which the workload says the kernel cannot run a scenario at all (for example
/// i386 calls on a kernel without IA32 emulation), as opposed to a scenario that went wrong.
pub const EXIT_UNSUPPORTED: i32 = 77;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_one_json_line() {
        let plan = Plan {
            scenario: "kill-process".into(),
            pid: 42,
            expect: vec![Expected {
                tid: 42,
                syscall_nr: 272,
                arch: "x86_64".into(),
                syscall: "unshare".into(),
                code: "kill_process".into(),
                count: 1,
                details: Details::default(),
            }],
            exit: ExpectedExit::Signal("SIGSYS".into()),
            unaudited: Vec::new(),
            not_seccomp: Vec::new(),
            process: None,
        };
        let line = serde_json::to_string(&plan).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""exit":{"signal":"SIGSYS"}"#), "{line}");
        assert_eq!(serde_json::from_str::<Plan>(&line).unwrap(), plan);
        // Details nobody claimed stay out of the line.
        assert!(
            !line.contains("details") && !line.contains("unaudited"),
            "{line}"
        );
    }

    #[test]
    fn carries_arguments_above_two_to_the_53_exactly() {
        let details = Details {
            args: Some([u64::MAX, 0x6666_0000_0000_0006, 1, 2, 3, 4]),
            ..Details::default()
        };
        let line = serde_json::to_string(&details).unwrap();
        assert!(line.contains("18446744073709551615"), "{line}");
        assert_eq!(serde_json::from_str::<Details>(&line).unwrap(), details);
    }
}
