//! What is known about containers, by id and by mount namespace, shared by the runtime watcher
//! (which writes) and the pipeline (which reads on every event).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::events::Container;

/// How long a container is still named after it died: its last events (a kill is often the
/// reason it died) may be read from the ring buffer a moment after the runtime reports the death.
pub const RETENTION: Duration = Duration::from_secs(60);

/// Told about every change of which running container a mount namespace belongs to, so the
/// kernel's filter can follow (`None`: the namespace no longer belongs to a running container;
/// its number may soon be another namespace's).
pub type NamespaceListener = Box<dyn FnMut(u32, Option<&Container>) + Send>;

struct Entry {
    container: Arc<Container>,
    mntns: Option<u32>,
    died: Option<Instant>,
}

#[derive(Default)]
pub struct ContainerIndex {
    by_id: HashMap<String, Entry>,
    by_mntns: HashMap<u32, String>,
    listener: Option<NamespaceListener>,
}

impl ContainerIndex {
    pub fn with_listener(listener: NamespaceListener) -> Self {
        Self {
            listener: Some(listener),
            ..Self::default()
        }
    }

    /// The container that owns `mntns`, and whether it has died: a dead container's namespace
    /// number may already belong to a new namespace, so the caller should confirm it.
    pub fn by_mntns(&self, mntns: u32) -> Option<(Arc<Container>, bool)> {
        let id = self.by_mntns.get(&mntns)?;
        self.by_id
            .get(id)
            .map(|e| (Arc::clone(&e.container), e.died.is_some()))
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<Container>> {
        self.by_id.get(id).map(|e| Arc::clone(&e.container))
    }

    /// Records a container (new, or with fresh metadata) and, when it runs, its mount
    /// namespace. Without a namespace a container that died stays dead: its metadata may be
    /// asked for after its death.
    pub fn upsert(&mut self, container: Container, mntns: Option<u32>) {
        let id = container.id.clone();
        let container = Arc::new(container);
        let died = match mntns {
            Some(_) => None,
            None => self.by_id.get(&id).and_then(|e| e.died),
        };
        let previous = self.by_id.insert(
            id.clone(),
            Entry {
                container: Arc::clone(&container),
                mntns,
                died,
            },
        );
        // A restarted container gets a new namespace; keep the old one's events named too.
        let old_mntns = previous
            .and_then(|p| p.mntns)
            .filter(|old| Some(*old) != mntns);
        if let (Some(old), None) = (old_mntns, mntns) {
            // Metadata without a namespace (e.g. a rename) keeps the namespace already known.
            if let Some(entry) = self.by_id.get_mut(&id) {
                entry.mntns = Some(old);
            }
        }
        let current = self.by_id.get(&id).and_then(|e| e.mntns);
        if let Some(ns) = current {
            self.by_mntns.insert(ns, id);
            if died.is_none() {
                self.notify(ns, Some(&container));
            }
        }
    }

    /// Ties a namespace to a container already known (found through /proc for a process the
    /// runtime's events did not cover yet).
    pub fn attach_namespace(&mut self, id: &str, mntns: u32) -> Option<Arc<Container>> {
        let entry = self.by_id.get_mut(id)?;
        entry.mntns = Some(mntns);
        let container = Arc::clone(&entry.container);
        let alive = entry.died.is_none();
        self.by_mntns.insert(mntns, id.to_owned());
        if alive {
            self.notify(mntns, Some(&container));
        }
        Some(container)
    }

    pub fn rename(&mut self, id: &str, name: &str) {
        let Some(entry) = self.by_id.get_mut(id) else {
            return;
        };
        let mut renamed = (*entry.container).clone();
        renamed.name = name.trim_start_matches('/').to_owned();
        entry.container = Arc::new(renamed);
        if let (Some(ns), None) = (entry.mntns, entry.died) {
            let container = Arc::clone(&entry.container);
            self.notify(ns, Some(&container));
        }
    }

    /// The container stopped: it stays named for [`RETENTION`], but its namespace number is
    /// released at once, since the kernel may give it to a new namespace any moment.
    pub fn mark_dead(&mut self, id: &str, now: Instant) {
        let Some(entry) = self.by_id.get_mut(id) else {
            return;
        };
        if entry.died.is_some() {
            return;
        }
        entry.died = Some(now);
        if let Some(ns) = entry.mntns
            && self.by_mntns.get(&ns).map(String::as_str) == Some(id)
        {
            self.notify(ns, None);
        }
    }

    /// Forgets containers dead for longer than [`RETENTION`]. Their namespace numbers are
    /// released too: the kernel reuses them for new namespaces.
    pub fn expire(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .by_id
            .iter()
            .filter(|(_, e)| {
                e.died
                    .is_some_and(|died| now.duration_since(died) > RETENTION)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let Some(entry) = self.by_id.remove(&id) else {
                continue;
            };
            if let Some(ns) = entry.mntns
                && self.by_mntns.get(&ns) == Some(&id)
            {
                self.by_mntns.remove(&ns);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn notify(&mut self, mntns: u32, container: Option<&Container>) {
        if let Some(listener) = self.listener.as_mut() {
            listener(mntns, container);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn container(id: &str, name: &str) -> Container {
        Container {
            runtime: "docker",
            id: id.into(),
            name: name.into(),
            ..Container::default()
        }
    }

    #[test]
    fn finds_containers_by_namespace_and_follows_renames() {
        let mut index = ContainerIndex::default();
        index.upsert(container("a", "first"), Some(10));
        assert_eq!(index.by_mntns(10).unwrap().0.name, "first");
        index.rename("a", "/second");
        assert_eq!(index.by_mntns(10).unwrap().0.name, "second");
        // Fresh metadata without a namespace keeps the one known.
        index.upsert(container("a", "third"), None);
        assert_eq!(index.by_mntns(10).unwrap().0.name, "third");
    }

    #[test]
    fn keeps_dead_containers_for_a_while() {
        let mut index = ContainerIndex::default();
        index.upsert(container("a", "gone"), Some(10));
        let died = Instant::now();
        index.mark_dead("a", died);
        index.expire(died + RETENTION / 2);
        assert_eq!(index.by_mntns(10).unwrap().0.name, "gone");
        index.expire(died + RETENTION * 2);
        assert!(index.by_mntns(10).is_none());
        assert!(index.is_empty());
    }

    #[test]
    fn tells_the_listener_about_every_namespace_change() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let mut index = ContainerIndex::with_listener(Box::new(move |ns, c| {
            log.lock().unwrap().push((ns, c.map(|c| c.name.clone())));
        }));
        index.upsert(container("a", "web"), Some(10));
        index.rename("a", "api");
        index.mark_dead("a", Instant::now() - RETENTION * 2);
        index.expire(Instant::now());
        // Released when it died, not again when it is forgotten.
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (10, Some("web".into())),
                (10, Some("api".into())),
                (10, None)
            ]
        );
    }

    #[test]
    fn releases_a_namespace_when_its_container_dies_and_never_revives_it() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let mut index = ContainerIndex::with_listener(Box::new(move |ns, c| {
            log.lock().unwrap().push((ns, c.map(|c| c.name.clone())));
        }));
        index.upsert(container("a", "unwanted"), Some(10));
        index.mark_dead("a", Instant::now());
        // Learned again after its death (a late lookup), and its namespace seen again: the
        // number must not go back to the dead container's owner in the kernel's view.
        index.upsert(container("a", "unwanted"), None);
        index.attach_namespace("a", 10);
        assert_eq!(
            *seen.lock().unwrap(),
            [(10, Some("unwanted".into())), (10, None)]
        );
        assert!(index.by_mntns(10).unwrap().1, "still known as dead");
    }
}
