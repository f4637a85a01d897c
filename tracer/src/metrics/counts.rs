//! The pipeline's own counts of events, kept in plain arrays indexed by the labels' positions:
//! counting an event is one increment, with no label set hashed and no atomic operation. They
//! are copied to the shared [`Metrics`](super::Metrics) once a second.

use chrono::{DateTime, Utc};

use crate::events::{Arch, Event, SeccompAction, Source, summary::Reason};

/// Values of the `code` label, in index order.
pub const CODES: [&str; 9] = [
    "kill_process",
    "kill_thread",
    "trap",
    "errno",
    "user_notif",
    "trace",
    "log",
    "allow",
    "unknown",
];
/// Values of the `arch` label, in index order.
pub const ARCHES: [&str; 12] = [
    "x86_64",
    "x32",
    "i386",
    "aarch64",
    "arm",
    "riscv64",
    "loongarch64",
    "ppc64",
    "ppc64le",
    "s390x",
    "unknown",
    "undetected",
];
/// Values of the `source` label, in index order.
pub const SOURCES: [&str; 7] = [
    "fentry",
    "kprobe",
    "audit",
    "syscall-exit",
    "task-exit",
    "syscall-enter",
    "trap-signal",
];
/// Every (code, arch, source).
pub const KINDS: usize = CODES.len() * ARCHES.len() * SOURCES.len();

/// Why an event was not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppressed {
    /// `-c` or the host filter (`--host` not given).
    Filter,
    /// `--check`: the profile would allow the call.
    Check,
    /// `--dedup` held it back; a summary event counts it.
    Dedup,
    /// `--rate-limit` held it back; a summary event counts it.
    RateLimit,
    /// `--rules`: the first rule the event matched (or the default level) is `none`.
    Rule,
}

impl Suppressed {
    pub const ALL: [Suppressed; 5] = [
        Suppressed::Filter,
        Suppressed::Check,
        Suppressed::Dedup,
        Suppressed::RateLimit,
        Suppressed::Rule,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Suppressed::Filter => "filter",
            Suppressed::Check => "check",
            Suppressed::Dedup => "dedup",
            Suppressed::RateLimit => "rate_limit",
            Suppressed::Rule => "rule",
        }
    }

    /// The reason for calls the volume stage held back.
    pub fn held_back(reason: Reason) -> Self {
        match reason {
            Reason::Dedup => Suppressed::Dedup,
            Reason::RateLimit => Suppressed::RateLimit,
        }
    }
}

#[derive(Clone, Debug)]
pub struct EventCounts {
    pub by_kind: Box<[u64; KINDS]>,
    pub suppressed: [u64; Suppressed::ALL.len()],
    /// When the last event's call was made.
    pub last_event: Option<DateTime<Utc>>,
}

impl Default for EventCounts {
    fn default() -> Self {
        Self {
            by_kind: Box::new([0; KINDS]),
            suppressed: [0; Suppressed::ALL.len()],
            last_event: None,
        }
    }
}

impl EventCounts {
    #[inline]
    pub fn event(&mut self, event: &Event) {
        self.by_kind[kind_index(event.code, event.arch, event.source)] += 1;
        self.last_event = Some(event.timestamp);
    }

    #[inline]
    pub fn suppressed(&mut self, why: Suppressed) {
        self.suppressed[why as usize] += 1;
    }
}

/// The position of (code, arch, source) in [`EventCounts::by_kind`].
#[inline]
pub fn kind_index(code: SeccompAction, arch: Arch, source: Source) -> usize {
    let code = match code {
        SeccompAction::KillProcess => 0,
        SeccompAction::KillThread => 1,
        SeccompAction::Trap => 2,
        SeccompAction::Errno => 3,
        SeccompAction::UserNotif => 4,
        SeccompAction::Trace => 5,
        SeccompAction::Log => 6,
        SeccompAction::Allow => 7,
        SeccompAction::Unknown(_) => 8,
    };
    let arch = match arch {
        Arch::X86_64 => 0,
        Arch::X32 => 1,
        Arch::I386 => 2,
        Arch::Aarch64 => 3,
        Arch::Arm => 4,
        Arch::Riscv64 => 5,
        Arch::Loongarch64 => 6,
        Arch::Powerpc64 => 7,
        Arch::Powerpc64le => 8,
        Arch::S390x => 9,
        Arch::Unknown(_) => 10,
        Arch::Undetected => 11,
    };
    let source = match source {
        Source::Fentry => 0,
        Source::Kprobe => 1,
        Source::Audit => 2,
        Source::SyscallExit => 3,
        Source::TaskExit => 4,
        Source::SyscallEnter => 5,
        Source::TrapSignal => 6,
    };
    (code * ARCHES.len() + arch) * SOURCES.len() + source
}

/// The labels of position `index` in [`EventCounts::by_kind`].
pub fn kind_labels(index: usize) -> [(&'static str, &'static str); 3] {
    let source = index % SOURCES.len();
    let arch = index / SOURCES.len() % ARCHES.len();
    let code = index / SOURCES.len() / ARCHES.len();
    [
        ("code", CODES[code]),
        ("arch", ARCHES[arch]),
        ("source", SOURCES[source]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_what_the_output_calls_them() {
        let cases = [
            (SeccompAction::Log, Arch::X86_64, Source::Audit),
            (SeccompAction::KillThread, Arch::I386, Source::Fentry),
            (
                SeccompAction::Unknown(0x1234_0000),
                Arch::Undetected,
                Source::TrapSignal,
            ),
            (SeccompAction::Errno, Arch::S390x, Source::SyscallExit),
        ];
        let mut seen = std::collections::HashSet::new();
        for (code, arch, source) in cases {
            let index = kind_index(code, arch, source);
            assert!(index < KINDS && seen.insert(index));
            let [(_, c), (_, a), (_, s)] = kind_labels(index);
            assert_eq!(c, code.name().unwrap_or("unknown"));
            assert_eq!(
                a,
                arch.name().unwrap_or(if arch == Arch::Undetected {
                    "undetected"
                } else {
                    "unknown"
                })
            );
            assert_eq!(s, source.as_str());
        }
    }
}
