//! What `--dedup` and `--rate-limit` count together: calls of the same owner (a container, or
//! the host), and for dedup the same call, code and arch.

use std::{
    hash::{Hash, Hasher},
    sync::Arc,
};

use crate::events::{Arch, Container, Event, SeccompAction};

/// Whose calls an event reports.
#[derive(Clone, Debug)]
pub enum Owner {
    /// A named container, told apart by its id (a renamed container stays the same owner).
    Container(Arc<Container>),
    /// Every process of the host together, as one owner: a host has one set of services, and a
    /// flood from one of them is one flood.
    Host,
    /// A container no runtime has named (yet), by its mount namespace: its calls are counted
    /// apart from every other's.
    Unnamed(Option<u32>),
}

impl Owner {
    pub fn of(event: &Event) -> Self {
        match &event.container {
            Some(container) => Owner::Container(Arc::clone(container)),
            None if event.on_host => Owner::Host,
            None => Owner::Unnamed(event.mntns_id),
        }
    }
}

impl PartialEq for Owner {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Owner::Container(a), Owner::Container(b)) => Arc::ptr_eq(a, b) || a.id == b.id,
            (Owner::Host, Owner::Host) => true,
            (Owner::Unnamed(a), Owner::Unnamed(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Owner {}

impl Hash for Owner {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Owner::Container(container) => container.id.hash(state),
            Owner::Host => {}
            Owner::Unnamed(mntns) => mntns.hash(state),
        }
    }
}

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
