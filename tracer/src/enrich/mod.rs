//! Naming the container behind each event: runtimes keep a [`ContainerIndex`] current, and the
//! [`Enricher`] looks events up in it by mount namespace.

pub mod docker;
pub mod index;
pub mod procfs;

use std::sync::{Arc, Mutex};

pub use docker::DockerRuntime;
pub use index::ContainerIndex;

use crate::events::Event;

/// Container runtimes tracer can ask for names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    Docker,
}

pub struct Enricher {
    index: Arc<Mutex<ContainerIndex>>,
    docker: Option<Arc<DockerRuntime>>,
}

impl Enricher {
    pub fn new(index: Arc<Mutex<ContainerIndex>>, docker: Option<Arc<DockerRuntime>>) -> Self {
        Self { index, docker }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, ContainerIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fills in `event.container` when the event came from a container a runtime knows.
    pub async fn enrich(&self, event: &mut Event) {
        if let Some(ns) = event.mntns_id {
            let known = {
                let index = self.index();
                if index.is_known_non_container(ns) {
                    return;
                }
                index.by_mntns(ns)
            };
            match known {
                Some((container, false)) => {
                    event.container = Some(container);
                    return;
                }
                // The kernel reuses the numbers of freed namespaces: a container that died a
                // moment ago may hand its number to the next one. /proc decides; without an
                // answer there, the last owner is the best guess.
                Some((dead, true)) => {
                    let resolved = self.resolve(event).await;
                    let on_the_host = resolved.is_none() && self.index().is_known_non_container(ns);
                    event.container = if on_the_host {
                        None
                    } else {
                        resolved.or(Some(dead))
                    };
                    return;
                }
                None => {}
            }
        }
        event.container = self.resolve(event).await;
    }

    /// A namespace the runtime's events have not covered yet: a container that started a moment
    /// ago, or one whose process seccomp killed before the runtime reported it. /proc tells
    /// which container; its metadata comes from the index, or from the runtime once.
    async fn resolve(&self, event: &Event) -> Option<Arc<crate::events::Container>> {
        let id = container_id_of(event);
        let Some(id) = id else {
            // A live process outside every container: remember, so /proc is read once per
            // namespace. A vanished one proves nothing.
            if let Some(ns) = event.mntns_id
                && procfs::mount_namespace(event.pid) == Some(ns)
            {
                self.index().mark_non_container(ns);
            }
            return None;
        };
        let attach = |index: &mut ContainerIndex| match event.mntns_id {
            Some(ns) => index.attach_namespace(&id, ns),
            None => index.by_id(&id),
        };
        if let Some(container) = attach(&mut self.index()) {
            return Some(container);
        }
        let docker = self.docker.as_ref()?;
        if docker.learn(&id).await {
            attach(&mut self.index())
        } else {
            None
        }
    }
}

/// The container of the calling process, or of its parent: a container's first process is a
/// child of the runtime's shim, which outlives it when seccomp kills it.
fn container_id_of(event: &Event) -> Option<String> {
    procfs::container_id_from_cgroup(event.pid).or_else(|| {
        let ppid = event.ppid?;
        let parent_in_same_namespace =
            event.mntns_id.is_some() && procfs::mount_namespace(ppid) == event.mntns_id;
        if parent_in_same_namespace {
            procfs::container_id_from_cgroup(ppid)
        } else {
            procfs::container_id_from_shim(ppid)
        }
    })
}
