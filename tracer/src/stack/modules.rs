//! Finding the file a frame's module was loaded from, by its build id.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    path::PathBuf,
};

use super::{
    Places, buildid,
    cache::Bounded,
    index::{self, Indexes},
    maps::{self, Mapping},
};

/// How many found modules are remembered. Each one also holds blazesym's open file and parsed
/// debug information, so this bounds both tracer's memory and its file descriptors.
const MAX_FOUND: usize = 128;

/// How many build ids that could not be found are remembered.
const MAX_MISSING: usize = 4096;

/// How many sets of places one missing build id remembers having been looked for in.
const MAX_TRIED: usize = 16;

/// A module's file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Module {
    /// Where tracer opens it.
    pub host: PathBuf,
    /// Its path as the process saw it.
    pub path: String,
}

/// The process an event came from, as far as it is still there.
pub(super) struct Process {
    pub pid: u32,
    /// Its file mappings, read on first use (`Some(None)`: it is gone).
    maps: Option<Option<Vec<Mapping>>>,
}

impl Process {
    pub(super) fn new(pid: u32) -> Self {
        Self { pid, maps: None }
    }

    /// The process is gone after all: a file opened through it could not be read.
    pub(super) fn mark_gone(&mut self) {
        self.maps = Some(None);
    }

    pub(super) fn maps(&mut self) -> Option<&[Mapping]> {
        let pid = self.pid;
        self.maps.get_or_insert_with(|| maps::read(pid)).as_deref()
    }
}

pub(super) struct Modules {
    found: Bounded<Vec<u8>, Module>,
    /// Build id → the places it was looked for in, as [`place_ids`] names them.
    missing: Bounded<Vec<u8>, Vec<u64>>,
    indexes: Indexes,
    /// Files no found module stands for any more: the caller has blazesym let go of them.
    released: Vec<PathBuf>,
    pub lookups: u64,
    pub found_count: u64,
}

impl Modules {
    pub(super) fn new() -> Self {
        Self {
            found: Bounded::new(MAX_FOUND),
            missing: Bounded::new(MAX_MISSING),
            indexes: Indexes::new(),
            released: Vec::new(),
            lookups: 0,
            found_count: 0,
        }
    }

    pub(super) fn indexes_built(&self) -> u64 {
        self.indexes.built
    }

    /// The file with build id `id`, which the kernel found the frame at `ip` in.
    pub(super) fn find(
        &mut self,
        id: &[u8],
        ip: u64,
        process: &mut Process,
        places: &Places,
    ) -> Option<Module> {
        if let Some(module) = self.found.get(id) {
            return Some(module.clone());
        }
        // A live process is always asked: it costs one read of its maps per event, and it
        // may well have mapped what earlier ones could not be found for.
        let pid = process.pid;
        let live = process.maps().and_then(|maps| mapped(pid, maps, ip, id));
        let tried = place_ids(places);
        let known_missing = self
            .missing
            .get(id)
            .is_some_and(|before| tried.iter().all(|place| before.contains(place)));
        if live.is_none() && known_missing {
            return None;
        }
        self.lookups += 1;
        let found = live.or_else(|| self.search(id, places));
        match &found {
            Some(module) => {
                self.found_count += 1;
                self.missing.remove(id);
                self.remember(id, module.clone());
            }
            None => {
                let mut before = self.missing.remove(id).unwrap_or_default();
                before.retain(|place| !tried.contains(place));
                before.extend(tried);
                let excess = before.len().saturating_sub(MAX_TRIED);
                before.drain(..excess);
                self.missing.insert(id.to_vec(), before);
            }
        }
        found
    }

    /// Forgets the module with build id `id`: its file could not be read after all.
    pub(super) fn forget(&mut self, id: &[u8]) {
        if let Some(module) = self.found.remove(id) {
            self.released.push(module.host);
        }
    }

    /// The files blazesym should let go of, since the last call.
    pub(super) fn take_released(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.released)
    }

    fn remember(&mut self, id: &[u8], module: Module) {
        // The file just read at this path has build id `id`. A module remembered at the same
        // path was replaced since, and what blazesym has parsed there is the old file.
        let stale = self.found.remove_where(|m| m.host == module.host);
        self.released.extend(stale.into_iter().map(|m| m.host));
        self.released.push(module.host.clone());
        let dropped = self.found.insert(id.to_vec(), module);
        self.released.extend(dropped.into_iter().map(|m| m.host));
    }

    /// Looks for `id` as the executable, then among the libraries, under each root.
    fn search(&mut self, id: &[u8], places: &Places) -> Option<Module> {
        if let Some(exe) = &places.exe {
            for root in &places.roots {
                let host = root.join(exe.trim_start_matches('/'));
                if buildid::read(&host).as_deref() == Some(id) {
                    return Some(Module {
                        host,
                        path: exe.clone(),
                    });
                }
            }
        }
        for root in &places.roots {
            let Some(key) = index::dir_key(root) else {
                continue;
            };
            if let Some(path) = self.indexes.find(root, key, id) {
                let host = root.join(path.trim_start_matches('/'));
                return Some(Module { host, path });
            }
        }
        None
    }
}

/// The file mapped at `ip` in the live process, if it has build id `id`. Only that mapping is
/// looked at: the kernel found the frame in it, so any other build id there means the pid now
/// belongs to another process.
fn mapped(pid: u32, maps: &[Mapping], ip: u64, id: &[u8]) -> Option<Module> {
    let mapping = maps::containing(maps, ip)?;
    let host = maps::map_file(pid, mapping);
    (buildid::read(&host).as_deref() == Some(id)).then(|| Module {
        host,
        path: mapping.path.clone(),
    })
}

/// Names each (root, exe) that `places` would search, so that a build id that was missing from
/// all of them is not searched for again until a new root or exe comes along.
fn place_ids(places: &Places) -> Vec<u64> {
    places
        .roots
        .iter()
        .filter_map(|root| index::dir_key(root))
        .map(|key| {
            let mut hasher = DefaultHasher::new();
            (key, &places.exe).hash(&mut hasher);
            hasher.finish()
        })
        .collect()
}
