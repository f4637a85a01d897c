//! Which container a cgroup belongs to, by the cgroup's id.
//!
//! The kernel programs report the caller's cgroup id with every event. A container whose first
//! process is killed at once can be gone from /proc, shim and all, before its event is named:
//! nothing is left to ask. Its cgroup directory, named after the container, is made before the
//! process starts, though, so a watch on the cgroup v2 tree learns the id while the container
//! runs, and the kernel never hands a cgroup id out twice, so what it learned stays true.
//!
//! Only cgroup v2 (the unified hierarchy) has the ids the programs report; on a host without it
//! nothing is watched and events are named from /proc alone.

use std::{
    collections::{HashMap, VecDeque},
    ffi::OsStr,
    fs,
    os::{
        fd::{AsFd as _, AsRawFd, RawFd},
        unix::fs::MetadataExt as _,
    },
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::{io::unix::AsyncFd, task::JoinHandle};

use super::procfs;

/// Containers' cgroups sit at most this deep below the root: `/docker/ID`,
/// `/system.slice/docker-ID.scope`, `/kubepods.slice/kubepods-QOS.slice/kubepods-QOS-podUID.slice/
/// cri-containerd-ID.scope`. Directories deeper than this are neither watched nor read.
const WATCH_DEPTH: usize = 3;
/// Cgroups remembered at most; the oldest are forgotten first.
const REMEMBERED: usize = 16384;

#[derive(Default)]
struct Known {
    by_cgroup: HashMap<u64, String>,
    order: VecDeque<u64>,
}

impl Known {
    fn insert(&mut self, cgroup: u64, container: String) {
        if self.by_cgroup.insert(cgroup, container).is_none() {
            self.order.push_back(cgroup);
        }
        while self.order.len() > REMEMBERED {
            if let Some(oldest) = self.order.pop_front() {
                self.by_cgroup.remove(&oldest);
            }
        }
    }
}

/// The containers' cgroups seen so far, kept current by a background task.
#[derive(Clone, Default)]
pub struct CgroupNames {
    known: Arc<Mutex<Known>>,
}

impl CgroupNames {
    /// Reads the cgroup tree and follows new directories in a task of its own; `None` (with the
    /// reason logged at debug level) where there is no cgroup v2 tree or no inotify.
    pub fn watch() -> Option<(Self, JoinHandle<()>)> {
        let root = cgroup2_root()?;
        Self::watch_tree(&root)
            .map_err(|error| {
                tracing::debug!(
                    "not following cgroups under {} ({error}): containers are named from /proc \
                     only",
                    root.display()
                );
            })
            .ok()
    }

    fn watch_tree(root: &Path) -> std::io::Result<(Self, JoinHandle<()>)> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        // SAFETY: the Inotify owns its file descriptor for as long as it lives, and the AsyncFd
        // owns the Inotify.
        let inotify = unsafe {
            AsyncFd::register_with_interest(Watches(inotify), tokio::io::Interest::READABLE)?
        };
        let names = Self::default();
        let mut tree = Tree {
            inotify,
            names: names.clone(),
            watched: HashMap::new(),
        };
        tree.visit(root.to_owned(), 0);
        let task = tokio::spawn(async move {
            if let Err(error) = tree.follow().await {
                tracing::debug!("stopped following cgroups: {error}");
            }
        });
        Ok((names, task))
    }

    /// Names already known, without watching anything: for tests of what uses them.
    #[cfg(test)]
    pub fn known(pairs: &[(u64, &str)]) -> Self {
        let names = Self::default();
        for &(cgroup, container) in pairs {
            names.lock().insert(cgroup, container.into());
        }
        names
    }

    /// The id of the container whose cgroup has this id, if one was seen.
    pub fn container_of(&self, cgroup_id: u64) -> Option<String> {
        self.lock().by_cgroup.get(&cgroup_id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// nix's Inotify, readable by tokio.
struct Watches(Inotify);

impl AsRawFd for Watches {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

struct Tree {
    inotify: AsyncFd<Watches>,
    names: CgroupNames,
    /// Watched directories and their depth below the root.
    watched: HashMap<WatchDescriptor, (PathBuf, usize)>,
}

impl Tree {
    /// Records `dir` if it is a container's cgroup, else watches it and what is below it.
    fn visit(&mut self, dir: PathBuf, depth: usize) {
        if let Some(id) = dir.file_name().and_then(container_id) {
            // Read at once: the directory goes when the container does.
            if let Ok(meta) = fs::metadata(&dir) {
                self.names.lock().insert(meta.ino(), id);
            }
            return;
        }
        if depth > WATCH_DEPTH {
            return;
        }
        // Watched before it is read, so nothing made in between is missed.
        match self
            .inotify
            .get_ref()
            .0
            .add_watch(&dir, AddWatchFlags::IN_CREATE)
        {
            Ok(watch) => {
                self.watched.insert(watch, (dir.clone(), depth));
            }
            Err(error) => {
                tracing::debug!("cannot watch the cgroup {}: {error}", dir.display());
                return;
            }
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                self.visit(entry.path(), depth + 1);
            }
        }
    }

    async fn follow(&mut self) -> std::io::Result<()> {
        loop {
            let mut ready = self.inotify.readable().await?;
            let events = match self.inotify.get_ref().0.read_events() {
                Ok(events) => events,
                Err(nix::errno::Errno::EAGAIN) => {
                    ready.clear_ready();
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            for event in events {
                if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    tracing::debug!(
                        "missed cgroups made during a burst: their containers are named from \
                         /proc only"
                    );
                }
                if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.watched.remove(&event.wd);
                    continue;
                }
                let (Some(name), true) = (event.name, event.mask.contains(AddWatchFlags::IN_ISDIR))
                else {
                    continue;
                };
                if let Some((parent, depth)) = self.watched.get(&event.wd).cloned() {
                    self.visit(parent.join(name), depth + 1);
                }
            }
        }
    }
}

/// The container id a cgroup directory's name holds (`ID`, `docker-ID.scope`,
/// `cri-containerd-ID.scope`).
fn container_id(name: &OsStr) -> Option<String> {
    procfs::container_id_in_cgroup_segment(name.to_str()?)
}

/// Where the cgroup v2 tree is mounted: `/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a
/// host that still mounts v1 controllers there.
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let root = mounts.lines().find_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        (after.split_whitespace().next() == Some("cgroup2"))
            .then(|| before.split_whitespace().nth(4).map(PathBuf::from))?
    });
    if root.is_none() {
        tracing::debug!("no cgroup v2 tree is mounted: containers are named from /proc only");
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn forgets_the_oldest_cgroups_first() {
        let mut known = Known::default();
        for cgroup in 0..=REMEMBERED as u64 {
            known.insert(cgroup, ID.to_owned());
        }
        assert_eq!(known.by_cgroup.len(), REMEMBERED);
        assert!(!known.by_cgroup.contains_key(&0));
        assert!(known.by_cgroup.contains_key(&(REMEMBERED as u64)));
    }

    #[test]
    fn reads_container_ids_from_cgroup_directory_names() {
        for name in [
            ID.to_owned(),
            format!("docker-{ID}.scope"),
            format!("cri-containerd-{ID}.scope"),
        ] {
            assert_eq!(
                container_id(OsStr::new(&name)).as_deref(),
                Some(ID),
                "{name}"
            );
        }
        assert_eq!(container_id(OsStr::new("system.slice")), None);
    }

    /// A directory made under the cgroup v2 tree, named like Docker's, is known by its inode
    /// (the id the kernel programs report) soon after, and stays known once removed.
    #[tokio::test]
    #[ignore = "needs root and a cgroup v2 tree"]
    async fn learns_a_containers_cgroup_as_it_is_made_and_keeps_it() {
        let root = cgroup2_root().expect("a cgroup v2 tree");
        let parent = root.join(format!("tracer-test-{}", std::process::id()));
        let _ = fs::remove_dir(&parent);
        fs::create_dir(&parent).expect("making a test cgroup");
        let (names, task) = CgroupNames::watch().expect("following cgroups");
        let nested = parent.join(format!("docker-{ID}.scope"));
        fs::create_dir(&nested).expect("making a container-like cgroup");
        let cgroup = fs::metadata(&nested).expect("stat").ino();
        let mut found = None;
        for _ in 0..200 {
            found = names.container_of(cgroup);
            if found.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        fs::remove_dir(&nested).expect("removing the container-like cgroup");
        fs::remove_dir(&parent).expect("removing the test cgroup");
        task.abort();
        assert_eq!(found.as_deref(), Some(ID));
        assert_eq!(names.container_of(cgroup).as_deref(), Some(ID));
    }
}
