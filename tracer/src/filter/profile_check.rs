//! `audit seccomp --check PROFILE`: which of the calls seen the profile would refuse, as they
//! happen. Only those are shown; the run ends with their table and a non-zero exit.

use std::path::{Path, PathBuf};

use crate::{
    events::Event,
    profile::{self, Call, CheckContext, Checker, findings::Findings},
};

/// Where a call of no container is counted.
const HOST: &str = "host";

pub struct ProfileCheck {
    checker: Checker,
    path: PathBuf,
    findings: Findings,
}

/// What the check found, for the run's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckOutcome {
    pub profile: PathBuf,
    pub refused: u64,
    pub undecided: u64,
    /// The findings' tables, empty when there are none.
    pub report: String,
}

impl ProfileCheck {
    /// Reads the profile and resolves it for a container with Docker's default capabilities
    /// on this machine.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let profile = profile::load(path)?;
        let checker = Checker::new(&profile, CheckContext::of_this_host())?;
        Ok(Self {
            checker,
            path: path.to_owned(),
            findings: Findings::default(),
        })
    }

    /// Whether the profile would refuse the event's call, or cannot decide it: only such
    /// events are shown.
    pub fn keep(&mut self, event: &Event) -> bool {
        let call = Call {
            arch: event.arch,
            syscall: event.syscall.name,
            nr: event.syscall_nr,
            args: event.args,
        };
        let verdict = self.checker.decide(&call);
        let container = event.container.as_ref().map_or(HOST, |c| c.name.as_str());
        self.findings.add(container, &call, &verdict)
    }

    pub fn outcome(&self) -> CheckOutcome {
        CheckOutcome {
            profile: self.path.clone(),
            refused: self.findings.refused(),
            undecided: self.findings.undecided(),
            report: self.findings.render(),
        }
    }
}
