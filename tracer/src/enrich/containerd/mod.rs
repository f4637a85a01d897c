//! containerd: names containers from containerd's API (gRPC on its socket), in every namespace
//! (kubelet's containers are in `k8s.io`, `ctr`'s in `default`, Docker's in `moby`), kept
//! current from its event stream.
//!
//! A container is asked about once: at its creation (or when a lookup finds it before the event
//! stream did), in each namespace until one has it; its task's start only ties the namespace
//! to it. Where Docker is asked too, the `moby` namespace is left to Docker, so Docker's
//! containers keep Docker's names.

mod convert;
mod watch;

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use containerd_client::{
    services::v1::{
        GetContainerRequest, GetRequest, ListNamespacesRequest,
        containers_client::ContainersClient, namespaces_client::NamespacesClient,
        tasks_client::TasksClient,
    },
    tonic::{self, Code, transport::Channel},
};

use super::{
    index::ContainerIndex, procfs, reconnect::DirectAttempts, runtimes::Learned, turns::Turns,
};

pub const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";
/// The namespace where Docker keeps its containers in containerd.
const DOCKER_NAMESPACE: &str = "moby";

pub struct ContainerdRuntime {
    socket: PathBuf,
    index: Arc<Mutex<ContainerIndex>>,
    /// The connection while containerd answers; `None` while it is down.
    channel: RwLock<Option<Channel>>,
    /// Lookups reaching the runtime while the watcher has no connection.
    direct_attempts: DirectAttempts,
    /// containerd's namespaces as last listed, and those seen in its events since.
    namespaces: RwLock<Vec<String>>,
    /// Whether Docker is asked too: then `moby` is Docker's to name.
    leaves_moby_to_docker: bool,
    /// A lookup and the event of the container's creation ask one after the other.
    turns: Turns,
    api_calls: AtomicU64,
}

impl ContainerdRuntime {
    pub fn new(
        socket: PathBuf,
        index: Arc<Mutex<ContainerIndex>>,
        leaves_moby_to_docker: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            socket,
            index,
            channel: RwLock::new(None),
            direct_attempts: DirectAttempts::default(),
            namespaces: RwLock::new(Vec::new()),
            leaves_moby_to_docker,
            turns: Turns::default(),
            api_calls: AtomicU64::new(0),
        })
    }

    /// containerd API requests made so far.
    pub fn api_calls(&self) -> u64 {
        self.api_calls.load(Ordering::Relaxed)
    }

    /// Keeps the index current until the task is dropped; see [`watch`].
    pub fn spawn_watcher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(watch::run(Arc::clone(self)))
    }

    /// Finds container `id` in containerd's namespaces and records it in the index, unless the
    /// event stream recorded it while this waited for its turn.
    pub async fn look_up(&self, id: &str) -> Learned {
        let _turn = self.turns.take(id).await;
        if self.knows(id) {
            return Learned::Known;
        }
        let Some(channel) = self.channel_or_connect().await else {
            return Learned::Unavailable;
        };
        let namespaces = match self.known_namespaces(&channel).await {
            Ok(namespaces) => namespaces,
            Err(status) => {
                tracing::debug!("listing containerd's namespaces: {status}");
                return Learned::Unavailable;
            }
        };
        for namespace in namespaces {
            match self.learn_in(&channel, &namespace, id).await {
                Ok(true) => return Learned::Known,
                Ok(false) => {}
                Err(status) => {
                    tracing::debug!("asking containerd about container {id}: {status}");
                    return Learned::Unavailable;
                }
            }
        }
        Learned::Unknown
    }

    /// Asks namespace `namespace` for container `id` and, if it has it, its task's pid; records
    /// what it found. `Ok(false)`: no such container there.
    async fn learn_in(
        &self,
        channel: &Channel,
        namespace: &str,
        id: &str,
    ) -> Result<bool, tonic::Status> {
        if self.is_left_to_docker(namespace) {
            return Ok(false);
        }
        self.count_call();
        let request = in_namespace(GetContainerRequest { id: id.to_owned() }, namespace);
        let container = match ContainersClient::new(channel.clone()).get(request).await {
            Ok(response) => response.into_inner().container,
            Err(status) if status.code() == Code::NotFound => return Ok(false),
            Err(status) => return Err(status),
        };
        let Some(container) = container else {
            return Ok(false);
        };
        let pid = self.running_pid(channel, namespace, id).await?;
        self.record(convert::container(container), pid);
        Ok(true)
    }

    /// The pid of container `id`'s task while it runs.
    async fn running_pid(
        &self,
        channel: &Channel,
        namespace: &str,
        id: &str,
    ) -> Result<Option<u32>, tonic::Status> {
        self.count_call();
        let request = in_namespace(
            GetRequest {
                container_id: id.to_owned(),
                exec_id: String::new(),
            },
            namespace,
        );
        match TasksClient::new(channel.clone()).get(request).await {
            Ok(response) => Ok(response
                .into_inner()
                .process
                .and_then(|process| convert::running_pid(&process))),
            // Created, not started (or already gone): its start event gives the pid.
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Whether the index has container `id` from containerd.
    fn knows(&self, id: &str) -> bool {
        self.index()
            .by_id(id)
            .is_some_and(|known| known.runtime == convert::RUNTIME)
    }

    /// Records a container unless another runtime already named it (Docker's containers seen in
    /// `moby` through a containerd Docker does not share).
    fn record(&self, container: crate::events::Container, pid: Option<u32>) {
        let mut index = self.index();
        if index
            .by_id(&container.id)
            .is_some_and(|known| known.runtime != convert::RUNTIME)
        {
            return;
        }
        let mntns = pid.and_then(procfs::mount_namespace);
        index.upsert(container, mntns);
    }

    /// The container stopped: see [`ContainerIndex::mark_dead`]. Not for another runtime's.
    fn mark_dead(&self, id: &str, now: Instant) {
        let mut index = self.index();
        if index
            .by_id(id)
            .is_some_and(|known| known.runtime == convert::RUNTIME)
        {
            index.mark_dead(id, now);
        }
    }

    fn is_left_to_docker(&self, namespace: &str) -> bool {
        self.leaves_moby_to_docker && namespace == DOCKER_NAMESPACE
    }

    /// The namespaces to look in: as the watcher last listed them, or listed here.
    async fn known_namespaces(&self, channel: &Channel) -> Result<Vec<String>, tonic::Status> {
        let known = self.namespaces();
        if !known.is_empty() {
            return Ok(known);
        }
        self.list_namespaces(channel).await
    }

    async fn list_namespaces(&self, channel: &Channel) -> Result<Vec<String>, tonic::Status> {
        self.count_call();
        let response = NamespacesClient::new(channel.clone())
            .list(ListNamespacesRequest {
                filter: String::new(),
            })
            .await?;
        let names: Vec<String> = response
            .into_inner()
            .namespaces
            .into_iter()
            .map(|namespace| namespace.name)
            .filter(|name| !self.is_left_to_docker(name))
            .collect();
        *self.namespaces.write().unwrap_or_else(|e| e.into_inner()) = names.clone();
        Ok(names)
    }

    /// Remembers a namespace an event came from (made after the last listing).
    fn note_namespace(&self, namespace: &str) {
        let mut known = self.namespaces.write().unwrap_or_else(|e| e.into_inner());
        if !known.iter().any(|n| n == namespace) {
            known.push(namespace.to_owned());
        }
    }

    fn namespaces(&self) -> Vec<String> {
        self.namespaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A connection, made here when containerd is back but the watcher has not noticed yet: a
    /// container started right after a restart must not go unnamed for that.
    async fn channel_or_connect(&self) -> Option<Channel> {
        if let Some(channel) = self.channel() {
            return Some(channel);
        }
        if !self.direct_attempts.may_try() {
            return None;
        }
        let channel = self.connect().await.ok()?;
        self.set_channel(Some(channel.clone()));
        Some(channel)
    }

    async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        self.count_call();
        containerd_client::connect(&self.socket).await
    }

    fn channel(&self) -> Option<Channel> {
        self.channel
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_channel(&self, channel: Option<Channel>) {
        *self.channel.write().unwrap_or_else(|e| e.into_inner()) = channel;
    }

    fn index(&self) -> std::sync::MutexGuard<'_, ContainerIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_call(&self) {
        self.api_calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// A request in containerd namespace `namespace` (containerd reads it from this header).
fn in_namespace<T>(message: T, namespace: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = namespace.parse() {
        request.metadata_mut().insert("containerd-namespace", value);
    }
    request
}
