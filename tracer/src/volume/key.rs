//! What `--dedup` and `--rate-limit` count together: calls of the same owner (a container, or
//! the host), and for dedup the same call, code and arch.

use crate::events::{Arch, Event, SeccompAction, owner::Owner};

/// `--dedup`'s key: container × syscall × code × arch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DedupKey {
    owner: Owner,
    syscall_nr: u32,
    code: SeccompAction,
    arch: Arch,
}

impl DedupKey {
    pub fn of(event: &Event) -> Self {
        Self {
            owner: Owner::of(event),
            syscall_nr: event.syscall_nr,
            code: event.code,
            arch: event.arch,
        }
    }
}

/// What `--rate-limit` gives one bucket (`--rate-limit-key`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RateKeyKind {
    /// One bucket per container and system call (the call's number in its arch).
    #[default]
    #[value(name = "container-syscall")]
    ContainerSyscall,
    /// One bucket per container, whatever the call.
    Container,
    /// One bucket per system call, whatever the container.
    Syscall,
}

/// `--rate-limit`'s key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RateKey {
    owner: Option<Owner>,
    syscall: Option<(Arch, u32)>,
}

impl RateKey {
    pub fn of(event: &Event, kind: RateKeyKind) -> Self {
        let owner = || Some(Owner::of(event));
        let syscall = || Some((event.arch, event.syscall_nr));
        match kind {
            RateKeyKind::ContainerSyscall => Self {
                owner: owner(),
                syscall: syscall(),
            },
            RateKeyKind::Container => Self {
                owner: owner(),
                syscall: None,
            },
            RateKeyKind::Syscall => Self {
                owner: None,
                syscall: syscall(),
            },
        }
    }
}
