//! The kernel program's drop list: mount namespaces whose events are discarded before they take
//! a ring buffer slot. Only namespaces known for sure to be unwanted go in; anything unknown
//! reaches userspace, so a container killed before its runtime reported it is never lost.

use std::collections::HashSet;

use aya::maps::{HashMap, MapData, MapError};
use tracer_common::MNTNS_DROP_CAPACITY;

use super::Filter;
use crate::events::Container;

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

    /// Follows a change in which container owns namespace `mntns` (see the container index).
    pub fn update(&mut self, mntns: u32, container: Option<&Container>) {
        if Some(mntns) == self.host_mntns {
            return;
        }
        let unwanted = container.is_some_and(|c| !self.filter.wants_container(&c.name));
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
