//! The container runtimes a run asks for names (`-r`): which ones `auto` picks, and one
//! question asked of all of them at once.

use std::{
    os::unix::fs::FileTypeExt as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use futures_util::{StreamExt as _, stream::FuturesUnordered};

use super::{ContainerIndex, DockerRuntime, Runtime, containerd::ContainerdRuntime};

/// What asking a runtime about a container found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// Recorded in the index.
    Known,
    /// The runtime has no such container: another runtime's.
    Unknown,
    /// The runtime did not answer.
    Unavailable,
}

/// Where each runtime's API listens (`--docker-socket`, `--containerd-socket`,
/// `--podman-socket`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sockets {
    pub docker: PathBuf,
    pub containerd: PathBuf,
    pub podman: PathBuf,
}

impl Sockets {
    fn of(&self, runtime: Runtime) -> Option<&Path> {
        match runtime {
            Runtime::Docker => Some(&self.docker),
            Runtime::Containerd => Some(&self.containerd),
            Runtime::Podman => Some(&self.podman),
            Runtime::Auto => None,
        }
    }
}

/// The order runtimes are listed in (the summary, the metrics, the `-r auto` message).
const PREFERENCE: [Runtime; 3] = [Runtime::Docker, Runtime::Podman, Runtime::Containerd];

/// The runtimes `selected` means, each once, in [`PREFERENCE`] order: `auto` stands for every
/// runtime whose socket exists now.
pub fn resolve(selected: &[Runtime], sockets: &Sockets) -> Vec<Runtime> {
    let auto = selected.contains(&Runtime::Auto);
    PREFERENCE
        .into_iter()
        .filter(|&runtime| {
            selected.contains(&runtime) || (auto && sockets.of(runtime).is_some_and(is_socket))
        })
        .collect()
}

fn is_socket(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
}

/// One runtime's client.
pub enum Client {
    /// dockerd, or podman through its Docker-compatible API.
    Docker(Arc<DockerRuntime>),
    Containerd(Arc<ContainerdRuntime>),
}

impl Client {
    async fn look_up(&self, id: &str) -> Learned {
        match self {
            Self::Docker(docker) => docker.look_up(id).await,
            Self::Containerd(containerd) => containerd.look_up(id).await,
        }
    }

    /// The name in `container.runtime` and in the metrics' `runtime` label.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Docker(docker) => docker.runtime_name(),
            Self::Containerd(_) => "containerd",
        }
    }

    pub fn api_calls(&self) -> u64 {
        match self {
            Self::Docker(docker) => docker.api_calls(),
            Self::Containerd(containerd) => containerd.api_calls(),
        }
    }

    fn spawn_watcher(&self) -> tokio::task::JoinHandle<()> {
        match self {
            Self::Docker(docker) => docker.spawn_watcher(),
            Self::Containerd(containerd) => containerd.spawn_watcher(),
        }
    }
}

/// The runtimes of a run, in the order they are asked.
pub struct Runtimes {
    clients: Vec<Client>,
}

impl Runtimes {
    /// Clients for `runtimes` (resolved: no `auto`), all writing to `index`.
    pub fn new(
        runtimes: &[Runtime],
        sockets: &Sockets,
        index: &Arc<Mutex<ContainerIndex>>,
    ) -> Self {
        let docker_too = runtimes.contains(&Runtime::Docker);
        let clients = runtimes
            .iter()
            .filter_map(|runtime| match runtime {
                Runtime::Docker => Some(Client::Docker(DockerRuntime::new(
                    sockets.docker.clone(),
                    Arc::clone(index),
                ))),
                Runtime::Podman => Some(Client::Docker(DockerRuntime::podman(
                    sockets.podman.clone(),
                    Arc::clone(index),
                ))),
                Runtime::Containerd => Some(Client::Containerd(ContainerdRuntime::new(
                    sockets.containerd.clone(),
                    Arc::clone(index),
                    docker_too,
                ))),
                Runtime::Auto => None,
            })
            .collect();
        Self { clients }
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Keeps the index current from every runtime until the tasks are aborted.
    pub fn spawn_watchers(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.clients.iter().map(Client::spawn_watcher).collect()
    }

    /// Asks every runtime about container `id` at once, and answers as soon as one knows it: a
    /// frozen runtime must not keep another's answer from the event waiting for it. `Unknown`
    /// only when every runtime said so: one that did not answer may know it once it is back.
    /// Two runtimes never record the same container: containerd leaves Docker's namespace to
    /// Docker, and skips a container another runtime recorded.
    pub async fn look_up(&self, id: &str) -> Learned {
        let mut answers: FuturesUnordered<_> = self
            .clients
            .iter()
            .map(|client| client.look_up(id))
            .collect();
        let mut outcome = Learned::Unknown;
        while let Some(answer) = answers.next().await {
            match answer {
                Learned::Known => return Learned::Known,
                Learned::Unavailable => outcome = Learned::Unavailable,
                Learned::Unknown => {}
            }
        }
        outcome
    }

    /// API requests made so far, by runtime, in the order they are asked.
    pub fn api_calls(&self) -> Vec<(&'static str, u64)> {
        self.clients
            .iter()
            .map(|client| (client.name(), client.api_calls()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    fn sockets(dir: &Path) -> Sockets {
        Sockets {
            docker: dir.join("docker.sock"),
            containerd: dir.join("containerd.sock"),
            podman: dir.join("podman.sock"),
        }
    }

    #[test]
    fn auto_picks_the_runtimes_whose_sockets_exist() {
        let dir = std::env::temp_dir().join(format!("tracer-auto-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sockets = sockets(&dir);
        assert!(
            resolve(&[Runtime::Auto], &sockets).is_empty(),
            "no socket yet"
        );

        let _containerd = UnixListener::bind(&sockets.containerd).unwrap();
        // A plain file where a socket should be is no runtime.
        std::fs::write(&sockets.podman, "").unwrap();
        assert_eq!(resolve(&[Runtime::Auto], &sockets), [Runtime::Containerd]);

        let _docker = UnixListener::bind(&sockets.docker).unwrap();
        assert_eq!(
            resolve(&[Runtime::Auto], &sockets),
            [Runtime::Docker, Runtime::Containerd],
            "in the order they are listed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn named_runtimes_are_kept_whether_their_sockets_exist_or_not() {
        let sockets = sockets(Path::new("/nonexistent"));
        assert_eq!(
            resolve(
                &[Runtime::Containerd, Runtime::Docker, Runtime::Containerd],
                &sockets
            ),
            [Runtime::Docker, Runtime::Containerd],
            "each once, in the order they are listed"
        );
        assert_eq!(
            resolve(&[Runtime::Podman, Runtime::Auto], &sockets),
            [Runtime::Podman]
        );
    }
}
