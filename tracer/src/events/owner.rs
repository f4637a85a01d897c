//! Whose calls an event reports: a container, the host, or a container no runtime named.

use std::{
    hash::{Hash, Hasher},
    sync::Arc,
};

use super::{Container, Event};

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

    /// As a person reads it: the container's name (not yet escaped for a terminal), `(host)`,
    /// or the mount namespace of a container no runtime named.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Owner::Container(container) => container.name.as_str().into(),
            Owner::Host => "(host)".into(),
            Owner::Unnamed(Some(mntns)) => format!("(mntns {mntns})").into(),
            Owner::Unnamed(None) => "(unknown)".into(),
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
