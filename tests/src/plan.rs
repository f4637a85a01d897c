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
            }],
            exit: ExpectedExit::Signal("SIGSYS".into()),
        };
        let line = serde_json::to_string(&plan).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""exit":{"signal":"SIGSYS"}"#), "{line}");
        assert_eq!(serde_json::from_str::<Plan>(&line).unwrap(), plan);
    }
}
