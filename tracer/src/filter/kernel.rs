//! The kernel program's drop list: mount namespaces whose events are discarded before they take
//! a ring buffer slot. Only namespaces confirmed to be unwanted go in: the host's, and those of
//! running containers not asked for. A container's number leaves the list the moment it dies,
//! since the kernel hands freed numbers to new namespaces. Anything unknown reaches userspace,
//! so a container killed before its runtime reported it is never lost.
//!
//! One task owns the map; the container index sends it each change over a channel, so no BPF
//! system call runs while the index is locked.

use std::collections::HashSet;

use aya::maps::{HashMap, MapData, MapError};
use tokio::sync::mpsc;
use tracer_common::MNTNS_DROP_CAPACITY;

use super::Filter;
use crate::events::Container;

/// A change in which running container owns a mount namespace, as the container index reports it.
#[derive(Debug)]
pub struct NamespaceChange {
    pub mntns: u32,
    pub running_container_name: Option<String>,
}

impl NamespaceChange {
    pub fn new(mntns: u32, container: Option<&Container>) -> Self {
        Self {
            mntns,
            running_container_name: container.map(|c| c.name.clone()),
        }
    }
}

pub struct DropList {
    map: HashMap<MapData, u32, u8>,
    filter: Filter,
    host_mntns: Option<u32>,
    /// What the map holds, so removals and the capacity check need no system call.
    dropped: HashSet<u32>,
}

impl DropList {
    /// Starts with the host's namespace when host processes are not wanted.
    pub fn new(
        map: HashMap<MapData, u32, u8>,
        filter: Filter,
        host_mntns: Option<u32>,
        show_host: bool,
    ) -> Result<Self, MapError> {
        let mut list = Self {
            map,
            filter,
            host_mntns,
            dropped: HashSet::new(),
        };
        if let (Some(host), false) = (host_mntns, show_host) {
            list.insert(host)?;
        }
        Ok(list)
    }

    /// Applies the index's changes until the index is gone; see [`NamespaceChange`].
    pub async fn follow(mut self, mut changes: mpsc::UnboundedReceiver<NamespaceChange>) {
        while let Some(change) = changes.recv().await {
            self.update(change.mntns, change.running_container_name.as_deref());
        }
    }

    /// Follows a change in which running container owns namespace `mntns`.
    pub fn update(&mut self, mntns: u32, running_container_name: Option<&str>) {
        if Some(mntns) == self.host_mntns {
            return;
        }
        let unwanted =
            running_container_name.is_some_and(|name| !self.filter.wants_container(name));
        let result = if unwanted {
            self.insert(mntns)
        } else {
            self.remove(mntns)
        };
        if let Err(error) = result {
            // Userspace filters the same events anyway; the kernel list only saves work.
            tracing::debug!("updating the kernel's namespace drop list: {error}");
        }
    }

    fn insert(&mut self, mntns: u32) -> Result<(), MapError> {
        if self.dropped.contains(&mntns) || self.dropped.len() >= MNTNS_DROP_CAPACITY as usize {
            return Ok(());
        }
        self.map.insert(mntns, 1, 0)?;
        self.dropped.insert(mntns);
        Ok(())
    }

    fn remove(&mut self, mntns: u32) -> Result<(), MapError> {
        if self.dropped.remove(&mntns) {
            self.map.remove(&mntns)?;
        }
        Ok(())
    }
}
