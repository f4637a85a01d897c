//! Every container that owned a mount namespace during a run, never forgotten: a recording
//! names containers that ran and exited long before it stopped, which the [`ContainerIndex`]
//! forgets a minute after their death.
//!
//! [`ContainerIndex`]: super::ContainerIndex

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use super::{ContainerIndex, DockerRuntime, docker::Learned, index::NamespaceListener, procfs};
use crate::events::Container;

/// Shared between the index's listener, which adds owners as the runtime reports them, and the
/// recording, which asks /proc and the runtime about namespaces no report covered.
#[derive(Clone, Default)]
pub struct NamespaceOwners {
    owners: Arc<Mutex<HashMap<u32, Vec<Arc<Container>>>>>,
}

impl NamespaceOwners {
    /// A listener for [`ContainerIndex::with_listener`] that adds every running container's
    /// namespace.
    pub fn listener(&self) -> NamespaceListener {
        let owners = self.clone();
        Box::new(move |mntns, container| {
            if let Some(container) = container {
                owners.add(mntns, Arc::new(container.clone()));
            }
        })
    }

    /// The containers that owned `mntns`: more than one where the kernel gave a dead
    /// container's namespace number to a new one during the run.
    pub fn of(&self, mntns: u32) -> Vec<Arc<Container>> {
        self.lock().get(&mntns).cloned().unwrap_or_default()
    }

    pub fn knows(&self, mntns: u32) -> bool {
        self.lock().contains_key(&mntns)
    }

    /// The container process `pid` runs in, from /proc: its cgroup, or its parent's shim for
    /// a container's first process. `None` for a process gone, on the host, or not yet moved
    /// into its container's cgroup (a runtime moves it there after making its namespaces).
    pub fn container_of_process(pid: u32) -> Option<String> {
        procfs::container_id_from_cgroup(pid)
            .or_else(|| procfs::parent(pid).and_then(procfs::container_id_from_shim))
    }

    /// Names the owner of `mntns` as container `id` (from [`Self::container_of_process`]): from
    /// the index, or else the runtime. Returns whether an owner is known now.
    pub async fn learn(
        &self,
        mntns: u32,
        id: &str,
        index: &Mutex<ContainerIndex>,
        docker: &DockerRuntime,
    ) -> bool {
        if self.knows(mntns) {
            return true;
        }
        let known = index.lock().unwrap_or_else(|e| e.into_inner()).by_id(id);
        let container = match known {
            Some(container) => Some(container),
            None => match docker.look_up(id).await {
                Learned::Known => index.lock().unwrap_or_else(|e| e.into_inner()).by_id(id),
                Learned::Unknown | Learned::Unavailable => None,
            },
        };
        match container {
            Some(container) => {
                self.add(mntns, container);
                true
            }
            None => false,
        }
    }

    fn add(&self, mntns: u32, container: Arc<Container>) {
        let mut owners = self.lock();
        let list = owners.entry(mntns).or_default();
        match list.iter_mut().find(|known| known.id == container.id) {
            // A rename or fresh metadata of the same container.
            Some(known) => *known = container,
            None => list.push(container),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Vec<Arc<Container>>>> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, name: &str) -> Container {
        Container {
            runtime: "docker",
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            labels: Default::default(),
            file_dirs: Vec::new(),
        }
    }

    #[test]
    fn keeps_every_owner_of_a_reused_namespace_and_follows_renames() {
        let owners = NamespaceOwners::default();
        let mut listener = owners.listener();
        listener(7, Some(&container("a", "first")));
        listener(7, None);
        listener(7, Some(&container("b", "second")));
        listener(7, Some(&container("a", "first-renamed")));
        let names: Vec<String> = owners.of(7).iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, ["first-renamed", "second"]);
        assert!(owners.of(8).is_empty());
    }
}
