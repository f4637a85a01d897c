//! Docker: names containers from the Docker API, kept current from its event stream. podman
//! answers the same API on a socket of its own (`podman system service`), so it is the same
//! client with another socket and runtime name.
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

pub use super::runtimes::Learned;
use super::{index::ContainerIndex, procfs, reconnect::DirectAttempts, turns::Turns};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Where `podman system service` listens when run as root.
pub const DEFAULT_PODMAN_SOCKET: &str = "/run/podman/podman.sock";

/// Which daemon answers the Docker API.
#[derive(Clone, Copy, Debug)]
struct Flavor {
    /// `container.runtime` of the containers it names.
    runtime: &'static str,
    /// The daemon, as messages name it.
    daemon: &'static str,
    /// The API version to speak without asking; `None`: agree on one with the daemon.
    api_version: Option<&'static bollard::ClientVersion>,
}

const DOCKER: Flavor = Flavor {
    runtime: "docker",
    daemon: "dockerd",
    api_version: None,
};
const PODMAN: Flavor = Flavor {
    runtime: "podman",
    daemon: "podman's API service",
    api_version: Some(&PODMAN_API_VERSION),
};
/// The Docker API version podman 3 and 4 serve (podman 5 serves 1.44, and older versions too).
const PODMAN_API_VERSION: bollard::ClientVersion = bollard::ClientVersion {
    major_version: 1,
    minor_version: 41,
};

pub struct DockerRuntime {
    flavor: Flavor,
    socket: PathBuf,
    index: Arc<Mutex<ContainerIndex>>,
    /// The connected client while dockerd answers; `None` while it is down.
    client: RwLock<Option<bollard::Docker>>,
    /// Lookups reaching the runtime while the watcher has no connection.
    direct_attempts: DirectAttempts,
    /// dockerd's own directory (`DockerRootDir`), where the vfs driver keeps containers' files.
    data_root: RwLock<Option<PathBuf>>,
    /// A lookup and the event of the container's creation or start ask one after the other.
    turns: Turns,
    api_calls: AtomicU64,
}

/// How often, and how far apart, an answer that cannot be read is asked for again (podman's
/// `stopped` state lasts until its clean-up, a few hundred milliseconds after the exit).
const UNREADABLE_RETRIES: u32 = 10;
const UNREADABLE_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);
/// Per-request timeout; the event stream itself stays open.
const REQUEST_TIMEOUT_SECS: u64 = 30;

impl DockerRuntime {
    /// dockerd at `socket`.
    pub fn new(socket: PathBuf, index: Arc<Mutex<ContainerIndex>>) -> Arc<Self> {
        Self::with_flavor(DOCKER, socket, index)
    }

    /// podman's Docker-compatible API at `socket`.
    pub fn podman(socket: PathBuf, index: Arc<Mutex<ContainerIndex>>) -> Arc<Self> {
        Self::with_flavor(PODMAN, socket, index)
    }

    fn with_flavor(
        flavor: Flavor,
        socket: PathBuf,
        index: Arc<Mutex<ContainerIndex>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            flavor,
            socket,
            index,
            client: RwLock::new(None),
            direct_attempts: DirectAttempts::default(),
            data_root: RwLock::new(None),
            turns: Turns::default(),
            api_calls: AtomicU64::new(0),
        })
    }

    /// `docker` or `podman`.
    pub fn runtime_name(&self) -> &'static str {
        self.flavor.runtime
    }

    /// Docker API requests made so far.
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    /// Keeps the index current until the task is dropped; see [`watch`].
    pub fn spawn_watcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(watch::run(Arc::clone(self)))
    }

    /// Inspects container `id` and records it in the index: for what changed (its start, its
    /// namespace).
    pub async fn learn(&self, id: &str) -> Learned {
        let _turn = self.turns.take(id).await;
        self.inspect(id).await
    }

    /// [`Self::learn`] for an event of a container not in the index, unless the event stream
    /// recorded it while this waited for its turn.
    pub async fn look_up(&self, id: &str) -> Learned {
        let _turn = self.turns.take(id).await;
        let known = self
            .index()
            .by_id(id)
            .is_some_and(|known| known.runtime == self.flavor.runtime);
        if known {
            return Learned::Known;
        }
        self.inspect(id).await
    }

    async fn inspect(&self, id: &str) -> Learned {
        let Some(client) = self.client_or_connect().await else {
            return Learned::Unavailable;
        };
        let mut unreadable = 0;
        loop {
            self.count_call();
            let inspected = client
                .inspect_container(id, None::<InspectContainerOptions>)
                .await;
            return match inspected {
                Ok(response) => match convert::container(
                    response,
                    self.flavor.runtime,
                    self.data_root().as_deref(),
                ) {
                    Some((container, pid)) => {
                        let mntns = pid.and_then(procfs::mount_namespace);
                        self.index().upsert(container, mntns);
                        Learned::Known
                    }
                    None => Learned::Unknown,
                },
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Learned::Unknown,
                // podman shows a container that has just exited, until its clean-up a moment
                // later, in a state Docker's API does not have (`stopped`), and the answer
                // cannot be read: ask again shortly, a bounded number of times.
                Err(bollard::errors::Error::JsonDataError { .. })
                    if unreadable < UNREADABLE_RETRIES =>
                {
                    unreadable += 1;
                    tokio::time::sleep(UNREADABLE_RETRY_PAUSE).await;
                    continue;
                }
                Err(error) => {
                    tracing::debug!("inspecting container {id}: {error}");
                    Learned::Unavailable
                }
            };
        }
    }

    /// A connected client, connecting here when dockerd is back but the watcher has not noticed
    /// yet: a container started right after a restart must not go unnamed for that.
    async fn client_or_connect(&self) -> Option<bollard::Docker> {
        if let Some(client) = self.client() {
            return Some(client);
        }
        if !self.direct_attempts.may_try() {
            return None;
        }
        let client = self.connect().await.ok()?;
        self.set_client(Some(client.clone()));
        Some(client)
    }

    /// Opens a client and agrees on an API version with dockerd (which may be older than ours).
    /// podman's answer to the version question takes about 0.4 s, long enough for a container
    /// started meanwhile to go unnamed: it is spoken to in the version every podman since 3
    /// serves, after a ping that says it is there.
    async fn connect(&self) -> Result<bollard::Docker, bollard::errors::Error> {
        let socket = self.socket.to_string_lossy();
        let version = match self.flavor.api_version {
            Some(version) => version,
            None => bollard::API_DEFAULT_VERSION,
        };
        let client = bollard::Docker::connect_with_unix(&socket, REQUEST_TIMEOUT_SECS, version)?;
        self.count_call();
        match self.flavor.api_version {
            Some(_) => client.ping().await.map(|_| client),
            None => client.negotiate_version().await,
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

    fn data_root(&self) -> Option<PathBuf> {
        self.data_root
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether containers of the vfs driver have their files in Docker's layer store, found from
    /// the daemon's root directory. Not podman's, whose store is laid out otherwise (and whose
    /// `info` takes about a second, which would delay naming the first containers).
    fn keeps_vfs_layers(&self) -> bool {
        self.flavor.runtime == DOCKER.runtime
    }

    /// Asks dockerd where it keeps its files.
    async fn learn_data_root(&self, client: &bollard::Docker) {
        self.count_call();
        match client.info().await {
            Ok(info) => {
                *self.data_root.write().unwrap_or_else(|e| e.into_inner()) =
                    info.docker_root_dir.map(PathBuf::from);
            }
            Err(error) => tracing::debug!("asking dockerd for its root directory: {error}"),
        }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, ContainerIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_call(&self) {
        self.api_calls.fetch_add(1, Ordering::Relaxed);
    }
}
