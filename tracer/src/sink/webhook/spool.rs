//! `--webhook-spool DIR`: batches that could not be sent, kept on disk in the order they were
//! made until the receiver takes them, in this run or the next. Each batch is one file, written
//! to a temporary name and renamed, so a file is whole or absent whatever happens to tracer. Its
//! name says when it was made, in which run and how many events it holds; its content is the
//! request body as it will be sent.

use std::{
    collections::VecDeque,
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
    time::SystemTime,
};

use thiserror::Error;

use super::batch::Batch;

#[derive(Debug, Error)]
pub enum SpoolError {
    #[error("cannot use --webhook-spool {dir:?}: make it a directory tracer can write to")]
    Open {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A batch in the spool.
#[derive(Clone, Debug)]
pub struct Spooled {
    path: PathBuf,
    bytes: u64,
    pub events: u64,
    pub gzip: bool,
    /// Spooled by this run (its events count in this run's summary) or an earlier one.
    pub this_run: bool,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    bytes: u64,
    files: VecDeque<Spooled>,
    run: String,
    made: u64,
}

impl Spool {
    /// Opens `dir` (made if missing) and finds the batches earlier runs left there.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        let open_error = |source| SpoolError::Open {
            dir: dir.into(),
            source,
        };
        fs::create_dir_all(dir).map_err(open_error)?;
        // Proves now that files can be made there, not when the receiver first fails.
        let probe = dir.join(format!(".probe-{}", std::process::id()));
        fs::write(&probe, b"").map_err(open_error)?;
        let _ = fs::remove_file(&probe);
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).map_err(open_error)? {
            let entry = entry.map_err(open_error)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(".tmp-") {
                // A write that a crash interrupted: never renamed, so never counted as kept.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let Some((events, gzip)) = parse_name(name) else {
                continue;
            };
            let bytes = entry.metadata().map_err(open_error)?.len();
            files.push(Spooled {
                path: entry.path(),
                bytes,
                events,
                gzip,
                this_run: false,
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let bytes = files.iter().map(|f| f.bytes).sum();
        let run = format!(
            "{:020}-{}",
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
            std::process::id()
        );
        Ok(Self {
            dir: dir.into(),
            max_bytes,
            bytes,
            files: files.into(),
            run,
            made: 0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether a batch of `bytes` fits within the bound.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.bytes + bytes as u64 <= self.max_bytes
    }

    /// Keeps `batch`; gives it back when it does not fit or cannot be written.
    pub fn push(&mut self, batch: Batch) -> Result<(), (Batch, Option<io::Error>)> {
        if !self.has_room(batch.body.len()) {
            return Err((batch, None));
        }
        let name = format!(
            "{}-{:08}-{}.ndjson{}",
            self.run,
            self.made,
            batch.events,
            if batch.gzip { ".gz" } else { "" }
        );
        let path = self.dir.join(&name);
        let temporary = self.dir.join(format!(".tmp-{name}"));
        if let Err(error) = write_whole(&temporary, &batch.body) {
            let _ = fs::remove_file(&temporary);
            return Err((batch, Some(error)));
        }
        if let Err(error) = fs::rename(&temporary, &path) {
            let _ = fs::remove_file(&temporary);
            return Err((batch, Some(error)));
        }
        self.made += 1;
        self.bytes += batch.body.len() as u64;
        self.files.push_back(Spooled {
            path,
            bytes: batch.body.len() as u64,
            events: batch.events,
            gzip: batch.gzip,
            this_run: true,
        });
        Ok(())
    }

    /// The oldest batch, with its body.
    pub fn oldest(&self) -> Option<io::Result<(Spooled, Vec<u8>)>> {
        let file = self.files.front()?;
        Some(fs::read(&file.path).map(|body| (file.clone(), body)))
    }

    /// Forgets the oldest batch: it was sent, refused, or cannot be read.
    pub fn remove_oldest(&mut self) {
        if let Some(file) = self.files.pop_front() {
            self.bytes -= file.bytes;
            let _ = fs::remove_file(&file.path);
        }
    }

    /// Events this run kept that are still here.
    pub fn events_of_this_run(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| f.this_run)
            .map(|f| f.events)
            .sum()
    }

    /// Events earlier runs kept that are still here.
    pub fn events_of_earlier_runs(&self) -> u64 {
        self.files
            .iter()
            .filter(|f| !f.this_run)
            .map(|f| f.events)
            .sum()
    }
}

fn write_whole(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(body)?;
    // On disk before it gets its name, so a crash leaves no named file with lost content.
    file.sync_data()
}

/// `{nanos}-{pid}-{seq}-{events}.ndjson[.gz]` → events and whether it is compressed.
fn parse_name(name: &str) -> Option<(u64, bool)> {
    let (stem, gzip) = match name.strip_suffix(".ndjson.gz") {
        Some(stem) => (stem, true),
        None => (name.strip_suffix(".ndjson")?, false),
    };
    let events = stem.rsplit('-').next()?.parse().ok()?;
    Some((events, gzip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(events: u64, bytes: usize) -> Batch {
        Batch {
            body: vec![b'x'; bytes],
            events,
            gzip: false,
        }
    }

    #[test]
    fn keeps_batches_in_order_within_its_bound_and_across_runs() {
        let dir = std::env::temp_dir().join(format!("tracer-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut spool = Spool::open(&dir, 250).unwrap();
        assert!(spool.is_empty());
        spool.push(batch(3, 100)).unwrap();
        spool.push(batch(4, 100)).unwrap();
        let (refused, error) = spool.push(batch(5, 100)).unwrap_err();
        assert_eq!(
            (refused.events, error.is_none()),
            (5, true),
            "over the bound"
        );
        assert_eq!(spool.events_of_this_run(), 7);
        // An interrupted write is not a batch.
        fs::write(dir.join(".tmp-x-1.ndjson"), b"half").unwrap();

        let mut next_run = Spool::open(&dir, 250).unwrap();
        assert_eq!(
            (
                next_run.events_of_this_run(),
                next_run.events_of_earlier_runs()
            ),
            (0, 7)
        );
        let (first, body) = next_run.oldest().unwrap().unwrap();
        assert_eq!((first.events, first.this_run, body.len()), (3, false, 100));
        next_run.remove_oldest();
        assert_eq!(next_run.oldest().unwrap().unwrap().0.events, 4);
        next_run.remove_oldest();
        assert!(next_run.is_empty());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing left behind"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_directory_is_an_error_at_start() {
        let err = Spool::open(Path::new("/proc/tracer-spool"), 1)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("make it a directory tracer can write to"),
            "{err}"
        );
    }
}
