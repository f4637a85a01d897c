//! Build ids of the shared objects in a root's library directories, for modules of processes
//! that are gone.

use std::{
    collections::{HashMap, HashSet},
    fs,
    os::unix::fs::MetadataExt as _,
    path::Path,
    time::{Duration, Instant},
};

use super::{buildid, cache::Bounded};

/// The library directories, relative to a root. The `/usr` ones come first so that on a merged
/// `/usr`, where `lib` links to `usr/lib`, a library is named by the path the kernel shows in
/// the maps of processes that load it.
const LIB_DIRS: [&str; 5] = ["usr/lib", "usr/lib64", "lib", "lib64", "usr/local/lib"];

/// How many directory entries one root's index looks at: a library directory holds hundreds
/// to a few thousand (most of them symlinks), so this only stops a root that is not what it
/// seems from costing seconds.
const MAX_ENTRIES: usize = 8192;

/// How many roots' indexes are kept.
const MAX_ROOTS: usize = 64;

/// After this long, a build id an index does not have makes it be built again: packages get
/// installed and upgraded while tracer runs.
const STALE_AFTER: Duration = Duration::from_secs(600);

/// A directory, told by its device and inode. Indexes are kept by the key of their root, so
/// that `/proc/PID/root` of each process of a container share one index (they are the same
/// overlay mount) and a restarted container (a new mount) gets its own.
pub(super) type DirKey = (u64, u64);

pub(super) fn dir_key(dir: &Path) -> Option<DirKey> {
    let meta = fs::metadata(dir).ok()?;
    meta.is_dir().then(|| (meta.dev(), meta.ino()))
}

struct Index {
    built: Instant,
    /// Build id → path inside the root, with a leading '/'.
    paths: HashMap<Vec<u8>, String>,
}

pub(super) struct Indexes {
    roots: Bounded<DirKey, Index>,
    /// How many indexes were built, for the stats.
    pub built: u64,
}

impl Indexes {
    pub(super) fn new() -> Self {
        Self {
            roots: Bounded::new(MAX_ROOTS),
            built: 0,
        }
    }

    /// The path, inside `root`, of the library with build id `id`.
    pub(super) fn find(&mut self, root: &Path, key: DirKey, id: &[u8]) -> Option<String> {
        let fresh = match self.roots.get(&key) {
            Some(index) => match index.paths.get(id) {
                Some(path) => return Some(path.clone()),
                None => index.built.elapsed() < STALE_AFTER,
            },
            None => false,
        };
        if fresh {
            return None;
        }
        let index = build(root);
        self.built += 1;
        let found = index.paths.get(id).cloned();
        self.roots.insert(key, index);
        found
    }
}

fn build(root: &Path) -> Index {
    let mut scan = Scan {
        root,
        seen_dirs: HashSet::new(),
        budget: MAX_ENTRIES,
        paths: HashMap::new(),
    };
    for dir in LIB_DIRS {
        scan.dir(dir, true);
    }
    Index {
        built: Instant::now(),
        paths: scan.paths,
    }
}

struct Scan<'a> {
    root: &'a Path,
    /// Directories already read, by device and inode: `lib` and `usr/lib` are often one.
    seen_dirs: HashSet<DirKey>,
    budget: usize,
    paths: HashMap<Vec<u8>, String>,
}

impl Scan<'_> {
    /// Reads the regular files of `rel`, then, for a top-level library directory, its
    /// multiarch subdirectories (`x86_64-linux-gnu`, `arm-linux-gnueabihf`, ...). Symlinks to
    /// files are skipped: they point at a real file that is indexed under its own name, the
    /// one a process's maps show.
    fn dir(&mut self, rel: &str, top: bool) {
        let dir = self.root.join(rel);
        let Some(key) = dir_key(&dir) else { return };
        if !self.seen_dirs.insert(key) {
            return;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            return;
        };
        let mut subdirs = Vec::new();
        for entry in entries.flatten() {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if kind.is_dir() {
                if top && name.contains("-linux-") {
                    subdirs.push(format!("{rel}/{name}"));
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            if let Some(id) = buildid::read(&entry.path()) {
                self.paths
                    .entry(id)
                    .or_insert_with(|| format!("/{rel}/{name}"));
            }
        }
        for subdir in subdirs {
            self.dir(&subdir, false);
        }
    }
}
