//! Naming the container behind each event, and telling host processes apart: runtimes keep a
//! [`ContainerIndex`] current, and the [`Enricher`] looks events up in it by mount namespace.
//! Nothing here waits: what only a runtime can answer is asked in the background
//! ([`lookups`]), and the event waits for the answer in the pipeline, not here.

pub mod cgroup_names;
pub mod containerd;
pub mod docker;
pub mod index;
pub mod lookups;
pub mod owners;
pub mod procfs;
pub mod reconnect;
pub mod runtimes;
pub mod turns;
pub mod whereabouts;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, MutexGuard},
};

use cgroup_names::CgroupNames;
pub use docker::DockerRuntime;
pub use index::ContainerIndex;
use lookups::{Asked, Lookups};
pub use runtimes::Runtimes;
use whereabouts::Whereabouts;

use crate::events::{Container, Event};

/// Container runtimes tracer can ask for names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// Every runtime whose API socket exists when tracer starts.
    Auto,
    /// dockerd (`--docker-socket`).
    Docker,
    /// containerd, every namespace (`--containerd-socket`).
    Containerd,
    /// podman's Docker-compatible API service (`--podman-socket`).
    Podman,
}

/// How many host processes outside the host's mount namespace are remembered.
const REMEMBERED_HOST_PROCESSES: usize = 65536;

/// What enrichment could do for an event at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enriched {
    /// All that can be known is filled in.
    Ready,
    /// The event is from container `id`, which only the runtime can name: call
    /// [`Enricher::finish`] once [`Enricher::lookup_done`] returns that id, or when waiting
    /// longer is not worth it.
    Waiting(String),
}

pub struct Enricher {
    index: Arc<Mutex<ContainerIndex>>,
    whereabouts: Whereabouts,
    lookups: Option<Lookups>,
    host_mntns: Option<u32>,
    /// (mount namespace, pid) of processes /proc showed outside every container. By pid as
    /// well as namespace: the kernel reuses the numbers of freed namespaces, and a container
    /// may get one a host process had.
    host_processes: HashSet<(u32, u32)>,
    /// Containers by cgroup id, for callers /proc no longer knows.
    cgroups: Option<CgroupNames>,
    /// Events of a container that got no name: see [`Enricher::misses`].
    misses: u64,
}

impl Enricher {
    pub fn new(
        index: Arc<Mutex<ContainerIndex>>,
        whereabouts: Whereabouts,
        runtimes: Option<Arc<Runtimes>>,
        host_mntns: Option<u32>,
    ) -> Self {
        Self {
            index,
            whereabouts,
            lookups: runtimes.filter(|r| !r.is_empty()).map(Lookups::new),
            host_mntns,
            host_processes: HashSet::new(),
            cgroups: None,
            misses: 0,
        }
    }

    /// Names the containers of callers that are gone from /proc by their cgroup, as `names`
    /// learned it.
    pub fn with_cgroup_names(self, names: CgroupNames) -> Self {
        Self {
            cgroups: Some(names),
            ..self
        }
    }

    fn index(&self) -> MutexGuard<'_, ContainerIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fills in what is known now: the caller's whereabouts, its container from the index, or
    /// that it runs on the host.
    pub fn enrich(&mut self, event: &mut Event) -> Enriched {
        self.whereabouts.fill(event);
        if let Some(ns) = event.mntns_id {
            if Some(ns) == self.host_mntns {
                event.on_host = true;
                return Enriched::Ready;
            }
            let known = self.index().by_mntns(ns);
            match known {
                Some((container, false)) => {
                    event.set_container(Some(container));
                    return Enriched::Ready;
                }
                // The kernel reuses the numbers of freed namespaces: a container that died a
                // moment ago may have handed its number to the next one. /proc decides, or, for
                // a caller already gone from /proc (killed at once), the cgroup it ran in;
                // without either answer, the last owner is the best guess.
                Some((dead, true)) => {
                    let placement = match procfs::placement(event) {
                        procfs::Placement::Unknown => self
                            .container_by_cgroup(event)
                            .map_or(procfs::Placement::Unknown, procfs::Placement::Container),
                        known => known,
                    };
                    return match placement {
                        procfs::Placement::Container(id) if id != dead.id => self.name(event, id),
                        procfs::Placement::Host => self.on_host(event),
                        _ => {
                            event.set_container(Some(dead));
                            Enriched::Ready
                        }
                    };
                }
                None => {}
            }
            if self.host_processes.contains(&(ns, event.pid)) {
                event.on_host = true;
                return Enriched::Ready;
            }
        }
        match procfs::placement(event) {
            procfs::Placement::Container(id) => self.name(event, id),
            procfs::Placement::Host => self.on_host(event),
            procfs::Placement::Unknown => match self.container_by_cgroup(event) {
                Some(id) => self.name(event, id),
                None => {
                    tracing::debug!(
                        "process {} (parent {:?}, mount namespace {:?}, cgroup {:?}) is gone \
                         from /proc and no container is known by its namespace or cgroup",
                        event.pid,
                        event.ppid,
                        event.mntns_id,
                        event.cgroup_id
                    );
                    Enriched::Ready
                }
            },
        }
    }

    fn container_by_cgroup(&self, event: &Event) -> Option<String> {
        self.cgroups.as_ref()?.container_of(event.cgroup_id?)
    }

    /// Fills in the container of an event that waited for a lookup, from what the index holds
    /// now; nothing more is asked.
    pub fn finish(&mut self, event: &mut Event, id: &str) {
        let container = self.named_in_index(event, id);
        if container.is_none() {
            self.misses += 1;
            tracing::debug!(
                "no runtime named container {id} of process {} in time",
                event.pid
            );
        }
        event.set_container(container);
    }

    /// Events found in a container that no runtime named: it did not know the container, did
    /// not answer in time, or none is asked.
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Waits for the next runtime lookup to end, and returns the container id it was about.
    pub async fn lookup_done(&mut self) -> String {
        match self.lookups.as_mut() {
            Some(lookups) => lookups.next_done().await,
            None => std::future::pending().await,
        }
    }

    fn name(&mut self, event: &mut Event, id: String) -> Enriched {
        if let Some(container) = self.named_in_index(event, &id) {
            event.set_container(Some(container));
            return Enriched::Ready;
        }
        match self.lookups.as_mut().map(|lookups| lookups.ask(&id)) {
            Some(Asked::Pending) => Enriched::Waiting(id),
            Some(Asked::Unknown) | None => {
                self.misses += 1;
                Enriched::Ready
            }
        }
    }

    fn named_in_index(&self, event: &Event, id: &str) -> Option<Arc<Container>> {
        let mut index = self.index();
        match event.mntns_id {
            Some(ns) => index.attach_namespace(id, ns),
            None => index.by_id(id),
        }
    }

    /// A caller outside the host's mount namespace that /proc places in no container.
    fn on_host(&mut self, event: &mut Event) -> Enriched {
        tracing::debug!(
            "process {} in mount namespace {:?} runs in no container's cgroup: a host process",
            event.pid,
            event.mntns_id
        );
        event.on_host = true;
        if let Some(ns) = event.mntns_id {
            if self.host_processes.len() >= REMEMBERED_HOST_PROCESSES {
                self.host_processes.clear();
            }
            self.host_processes.insert((ns, event.pid));
        }
        Enriched::Ready
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::test_support::sample_event;

    /// A container killed at once whose mount namespace number the kernel just freed from a
    /// container that died a moment before: /proc knows neither process any more, so the
    /// cgroup it ran in names it, not the namespace's last owner.
    #[test]
    fn a_reused_namespace_of_a_caller_gone_from_proc_is_named_by_its_cgroup() {
        const NS: u32 = 4026532177;
        let enricher = || {
            let container = |id: &str, name: &str| Container {
                runtime: "podman",
                id: id.into(),
                name: name.into(),
                ..Container::default()
            };
            let mut index = ContainerIndex::default();
            index.upsert(container("first", "podman_logged"), Some(NS));
            index.mark_dead("first", Instant::now());
            index.upsert(container("second", "podman_killed"), None);
            Enricher::new(
                Arc::new(Mutex::new(index)),
                Whereabouts::new(None),
                None,
                None,
            )
            .with_cgroup_names(CgroupNames::known(&[(19386, "first"), (19405, "second")]))
        };
        let gone = |cgroup_id| {
            let mut event = sample_event();
            // No such process, nor parent: the caller is gone from /proc.
            event.pid = u32::MAX - 1;
            event.ppid = Some(u32::MAX - 2);
            event.mntns_id = Some(NS);
            event.cgroup_id = cgroup_id;
            event
        };
        let mut event = gone(Some(19405));
        assert_eq!(enricher().enrich(&mut event), Enriched::Ready);
        assert_eq!(event.container.as_ref().unwrap().name, "podman_killed");

        // Without a cgroup to go by, the namespace's last owner is still the best guess.
        let mut event = gone(None);
        enricher().enrich(&mut event);
        assert_eq!(event.container.as_ref().unwrap().name, "podman_logged");
    }
}
