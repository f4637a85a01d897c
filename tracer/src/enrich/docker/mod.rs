//! Docker: names containers from the Docker API, kept current from its event stream.
//!
//! The API is asked once per container (at start, and once more when a container is found that
//! the event stream has not covered yet), never once per seccomp event.

mod convert;
mod watch;

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use bollard::query_parameters::InspectContainerOptions;

use super::{index::ContainerIndex, procfs};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

pub struct DockerRuntime {
    socket: PathBuf,
    index: Arc<Mutex<ContainerIndex>>,
    /// The connected client while dockerd answers; `None` while it is down.
    client: RwLock<Option<bollard::Docker>>,
    api_calls: AtomicU64,
}

impl DockerRuntime {
    pub fn new(socket: PathBuf, index: Arc<Mutex<ContainerIndex>>) -> Arc<Self> {
        Arc::new(Self {
            socket,
            index,
            client: RwLock::new(None),
            api_calls: AtomicU64::new(0),
        })
    }

    /// Docker API requests made so far.
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    /// Keeps the index current until the task is dropped; see [`watch`].
    pub fn spawn_watcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(watch::run(Arc::clone(self)))
    }

    /// Inspects container `id` and records it; false when dockerd is down or the container gone.
    pub async fn learn(&self, id: &str) -> bool {
        let Some(client) = self.client() else {
            return false;
        };
        self.count_call();
        let inspected = client
            .inspect_container(id, None::<InspectContainerOptions>)
            .await;
        match inspected {
            Ok(response) => match convert::container(response) {
                Some((container, pid)) => {
                    let mntns = pid.and_then(procfs::mount_namespace);
                    self.index().upsert(container, mntns);
                    true
                }
                None => false,
            },
            Err(error) => {
                tracing::debug!("inspecting container {id}: {error}");
                false
            }
        }
    }

    fn client(&self) -> Option<bollard::Docker> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_client(&self, client: Option<bollard::Docker>) {
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = client;
    }

    fn index(&self) -> std::sync::MutexGuard<'_, ContainerIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_call(&self) {
        self.api_calls.fetch_add(1, Ordering::Relaxed);
    }
}
