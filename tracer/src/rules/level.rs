//! Levels: how much of an event goes out, after kube-apiserver's audit levels.

use std::{fmt, str::FromStr};

use crate::events::Event;

/// What an event carries, from nothing to everything. Ordered: each level keeps what the one
/// below it keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// The event is dropped (and counted as suppressed by a rule).
    None,
    /// Who made which call, where, and what seccomp did: no arguments, path or process details.
    Metadata,
    /// Adds why the call failed and what it was made with: errno, args, ip, path, dirfd, exe,
    /// cmdline, parent_comm and the namespace pids.
    Request,
    /// Adds the stack (with `--stack`): everything the event has. Events no rule matches get
    /// it unless a file sets `default-level`: they go out as they would without rules.
    #[default]
    Full,
}

impl Level {
    pub const NAMES: &'static str = "none, metadata, request or full";

    pub fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Metadata => "metadata",
            Level::Request => "request",
            Level::Full => "full",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Level {
    type Err = ();

    /// Any case; kube-apiserver's `RequestResponse` is `full`.
    fn from_str(text: &str) -> Result<Self, ()> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Ok(Level::None),
            "metadata" => Ok(Level::Metadata),
            "request" => Ok(Level::Request),
            "full" | "requestresponse" => Ok(Level::Full),
            _ => Err(()),
        }
    }
}

/// Removes from `event` what `level` does not keep. Called before the stack is symbolized, so a
/// level below `full` also saves that work.
pub fn trim(event: &mut Event, level: Level) {
    if level >= Level::Full {
        return;
    }
    event.stack = None;
    event.raw_stack = None;
    if level >= Level::Request {
        return;
    }
    event.errno = None;
    event.errno_name = None;
    event.args = None;
    event.ip = None;
    event.path = None;
    event.path_truncated = None;
    event.dirfd = None;
    event.exe = None;
    event.cmdline = None;
    event.cmdline_truncated = None;
    event.parent_comm = None;
    event.ns_pid = None;
    event.ns_ppid = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_keeps_what_the_one_below_keeps() {
        let every = Event::example();
        let mut request = every.clone();
        trim(&mut request, Level::Request);
        assert_eq!(request.stack, None);
        assert_eq!(request.args, every.args);
        assert_eq!(request.path, every.path);
        assert_eq!(request.errno, every.errno);
        assert_eq!(request.exe, every.exe);
        let mut metadata = request.clone();
        trim(&mut metadata, Level::Metadata);
        assert_eq!((metadata.args, metadata.path.as_deref()), (None, None));
        assert_eq!((metadata.errno, metadata.exe.as_deref()), (None, None));
        assert_eq!(metadata.comm, every.comm);
        assert_eq!(metadata.container, every.container);
        assert_eq!(metadata.syscall, every.syscall);
        let mut full = every.clone();
        trim(&mut full, Level::Full);
        assert_eq!(full, every);
    }

    #[test]
    fn names_read_in_any_case_with_kube_apiservers_own() {
        assert_eq!("Metadata".parse(), Ok(Level::Metadata));
        assert_eq!("RequestResponse".parse(), Ok(Level::Full));
        assert_eq!("NONE".parse(), Ok(Level::None));
        assert_eq!("all".parse::<Level>(), Err(()));
    }
}
