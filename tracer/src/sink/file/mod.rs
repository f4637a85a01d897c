//! `--output-file`: every event as a JSON line (the bytes of `-o json`) appended to a file for
//! a log shipper, rotated by size, with old backups deleted by count and age and optionally
//! gzipped, and reopened on SIGHUP for logrotate.
//!
//! Written here rather than with the `file-rotate` crate, which does not meet what a shipper
//! needs: it creates files with the umask's mode and sets no mode on rotation (the complaint
//! of tetragon#3075), has no way to reopen the file on SIGHUP, gzips backups in the writing
//! thread (seconds for a large file, while events wait), and leaves half a line in the file
//! when a write fails part-way (ENOSPC).
//!
//! Rotation renames the file to a name with the time of the rotation ([`backups`]) and opens a
//! new one; backups are pruned and compressed in a thread of their own ([`housekeeper`]), all
//! but the newest, which a shipper may still be reading (logrotate's `delaycompress`).
//!
//! A full disk: events that cannot be written are counted as unwritten, not held. The queue in
//! front of this writer already absorbs a short stall, and holding more in memory while a disk
//! stays full would only move the loss later; the sink says so once, tries again with each new
//! batch, and says when writing works again. A write the disk cuts short is cut back to the
//! last whole line ([`lines`]).

mod backups;
mod compress;
mod housekeeper;
mod lines;
mod open;

use std::{
    collections::VecDeque,
    fs::File,
    io,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use thiserror::Error;
use tokio::sync::watch;

use super::{Progress, Writer, queue::Receiver};
use crate::{
    events::Event,
    output::{Formatter as _, Json},
};
use housekeeper::{Housekeeper, Policy};

/// Formatted bytes gathered from the queue per batch of writes.
const GATHER_BYTES: usize = 256 * 1024;

/// What `--output-file` and its options asked for.
#[derive(Clone, Debug)]
pub struct FileOptions {
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes; 0 never rotates.
    pub max_size: u64,
    /// Backups kept; 0 keeps any number.
    pub max_backups: usize,
    /// Backups rotated longer ago than this are deleted.
    pub max_age: Option<Duration>,
    /// Gzip backups.
    pub compress: bool,
    /// The permission bits of the file and its backups.
    pub mode: u32,
}

#[derive(Debug, Error)]
pub enum FileError {
    #[error(
        "cannot create {path}: its directory does not exist; create it, or choose another \
         --output-file"
    )]
    NoDirectory { path: PathBuf },
    #[error(
        "cannot open {path} for writing: permission denied; run tracer as a user who may write \
         there, or choose another --output-file"
    )]
    PermissionDenied { path: PathBuf },
    #[error("{path} is a directory: --output-file takes the path of a file")]
    Directory { path: PathBuf },
    #[error("cannot open {path} for appending; choose another --output-file")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot handle SIGHUP, which reopens --output-file")]
    Hangup(#[source] io::Error),
    #[error("cannot start the thread that prunes and compresses --output-file's backups")]
    Thread(#[source] io::Error),
}

pub struct FileSink {
    options: FileOptions,
    file: File,
    /// The file's length: what was there when it was opened, and what was appended since.
    size: u64,
    formatter: Json,
    /// Set by SIGHUP: reopen the file before the next write.
    hangup: Arc<AtomicBool>,
    housekeeper: Housekeeper,
    /// The last write failed; events are counted as unwritten until one succeeds.
    failing: Option<u64>,
    /// A rotation failed and was reported; the file grows past its size until one works.
    rotation_failed: bool,
}

impl FileSink {
    /// Opens the file at once, so a bad path fails before tracer loads anything.
    pub fn open(options: FileOptions) -> Result<Self, FileError> {
        let (file, size) = open_file(&options.path, options.mode)?;
        let hangup = Arc::new(AtomicBool::new(false));
        // signal-hook and tokio share one registry of handlers, so this adds to tokio's.
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hangup))
            .map_err(FileError::Hangup)?;
        let housekeeper = Housekeeper::start(Policy {
            path: options.path.clone(),
            max_backups: options.max_backups,
            max_age: options.max_age,
            compress: options.compress,
            mode: options.mode,
        })
        .map_err(FileError::Thread)?;
        Ok(Self {
            options,
            file,
            size,
            formatter: Json::new(false),
            hangup,
            housekeeper,
            failing: None,
            rotation_failed: false,
        })
    }

    /// Appends the formatted events of `buffer`, which end at `ends`, rotating where the next
    /// event would take the file past its size.
    fn write_events(&mut self, buffer: &[u8], ends: &[usize], progress: &watch::Sender<Progress>) {
        let mut done = 0;
        let mut from = 0;
        while done < ends.len() {
            if self.hangup.swap(false, Ordering::Relaxed) {
                self.reopen();
            }
            let room = match self.options.max_size {
                0 => u64::MAX,
                max => max.saturating_sub(self.size),
            };
            let mut fit = ends[done..]
                .iter()
                .take_while(|&&end| (end - from) as u64 <= room)
                .count();
            if fit == 0 && self.size > 0 && self.rotate() {
                continue;
            }
            // An event larger than the whole file size still goes out, alone in its file.
            fit = fit.max(1);
            let events = &ends[done..done + fit];
            if self.failing.is_some() {
                progress.send_modify(|p| p.retries += 1);
            }
            let appended = lines::append(&mut self.file, self.size, buffer, from, events);
            self.size += appended.bytes;
            progress.send_modify(|p| p.written += appended.events as u64);
            match appended.error {
                Some(error) => {
                    progress.send_modify(|p| p.failures += 1);
                    self.failed(&error, (fit - appended.events) as u64);
                }
                None => self.succeeded(),
            }
            from = events[fit - 1];
            done += fit;
        }
    }

    fn failed(&mut self, error: &io::Error, unwritten: u64) {
        if let Some(count) = &mut self.failing {
            *count += unwritten;
            return;
        }
        self.failing = Some(unwritten);
        let path = self.options.path.display();
        if error.raw_os_error() == Some(libc::ENOSPC) {
            tracing::warn!(
                "the disk holding {path} is full: events are counted as unwritten until there \
                 is room again (free space there, lower --output-file-max-size or \
                 --output-file-max-backups, or move --output-file to a larger disk)"
            );
        } else {
            tracing::warn!(
                "cannot write to {path} ({error}): events are counted as unwritten until writes \
                 succeed again"
            );
        }
    }

    fn succeeded(&mut self) {
        if let Some(unwritten) = self.failing.take() {
            tracing::info!(
                "writing to {} again; {unwritten} events could not be written meanwhile",
                self.options.path.display()
            );
        }
    }

    /// Renames the file to its backup name and starts a new one; false if that failed.
    fn rotate(&mut self) -> bool {
        let path = &self.options.path;
        let backup = backups::name_for(path, chrono::Utc::now());
        match std::fs::rename(path, &backup) {
            Ok(()) => {}
            // Someone removed it: there is nothing to keep, only a file to start.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                self.rotation_not_done(&error);
                return false;
            }
        }
        match open_file(path, self.options.mode) {
            Ok((file, size)) => {
                self.file = file;
                self.size = size;
                self.rotation_failed = false;
                self.housekeeper.rotated();
                true
            }
            // Events go on to the renamed file, which is still open.
            Err(error) => {
                self.rotation_not_done(&error);
                false
            }
        }
    }

    fn rotation_not_done(&mut self, error: &dyn std::error::Error) {
        if !self.rotation_failed {
            tracing::warn!(
                "cannot rotate {}: {}; it grows past --output-file-max-size until a rotation \
                 succeeds",
                self.options.path.display(),
                crate::error_chain::Chain(error)
            );
            self.rotation_failed = true;
        }
    }

    /// logrotate renamed (or removed) the file and sent SIGHUP: start writing to a new one.
    fn reopen(&mut self) {
        match open_file(&self.options.path, self.options.mode) {
            Ok((file, size)) => {
                self.file = file;
                self.size = size;
                tracing::info!("reopened {} on SIGHUP", self.options.path.display());
            }
            Err(error) => tracing::warn!(
                "{}; events go on to the file that was open before SIGHUP",
                crate::error_chain::Chain(&error)
            ),
        }
    }
}

impl Writer for FileSink {
    fn name(&self) -> &'static str {
        "file"
    }

    fn run(
        mut self: Box<Self>,
        mut events: Receiver<Arc<Event>>,
        progress: watch::Sender<Progress>,
    ) {
        let mut buffer = Vec::with_capacity(GATHER_BYTES);
        let mut ends = Vec::new();
        let mut batch = VecDeque::new();
        while events.recv_batch(&mut batch) {
            while !batch.is_empty() {
                buffer.clear();
                ends.clear();
                while buffer.len() < GATHER_BYTES {
                    let Some(event) = batch.pop_front() else {
                        break;
                    };
                    self.formatter.event(&event, &mut buffer);
                    ends.push(buffer.len());
                }
                self.write_events(&buffer, &ends, &progress);
            }
        }
        progress.send_modify(|p| p.finished = true);
        self.housekeeper.finish();
    }
}

fn open_file(path: &Path, mode: u32) -> Result<(File, u64), FileError> {
    let classify = |source: io::Error| {
        let path = path.to_owned();
        match source.kind() {
            io::ErrorKind::NotFound => FileError::NoDirectory { path },
            io::ErrorKind::PermissionDenied => FileError::PermissionDenied { path },
            io::ErrorKind::IsADirectory => FileError::Directory { path },
            _ => FileError::Open { path, source },
        }
    };
    let file = open::append(path, mode).map_err(classify)?;
    let size = file.metadata().map_err(classify)?.len();
    Ok((file, size))
}

#[cfg(test)]
pub(super) fn scratch_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tracer-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sink::queue, test_support::sample_event};

    fn options(dir: &Path, max_size: u64) -> FileOptions {
        FileOptions {
            path: dir.join("e.jsonl"),
            max_size,
            max_backups: 0,
            max_age: None,
            compress: false,
            mode: 0o640,
        }
    }

    /// Runs the sink over `count` events; returns what it reported.
    fn run(sink: FileSink, count: usize) -> Progress {
        let (sender, receiver) = queue::bounded(count);
        let (report, progress) = watch::channel(Progress::default());
        let event = Arc::new(sample_event());
        for _ in 0..count {
            sender.send(Arc::clone(&event)).unwrap();
        }
        drop(sender);
        Box::new(sink).run(receiver, report);
        progress.borrow().clone()
    }

    fn line_of_sample() -> Vec<u8> {
        let mut line = Vec::new();
        Json::new(false).event(&sample_event(), &mut line);
        line
    }

    #[test]
    fn rotates_before_a_line_would_pass_the_size_and_keeps_every_line() {
        let dir = scratch_dir("file-sink");
        let line = line_of_sample();
        // Room for three lines and a half: every file holds three.
        let max_size = (line.len() * 7 / 2) as u64;
        let progress = run(FileSink::open(options(&dir, max_size)).unwrap(), 10);
        assert_eq!((progress.written, progress.failures), (10, 0));
        assert!(progress.finished);
        let backups = backups::list(&dir.join("e.jsonl")).unwrap();
        assert_eq!(backups.len(), 3, "{backups:?}");
        let mut all = Vec::new();
        for path in backups
            .iter()
            .map(|b| &b.path)
            .chain([&dir.join("e.jsonl")])
        {
            let bytes = std::fs::read(path).unwrap();
            assert!(bytes.len() as u64 <= max_size, "{}", path.display());
            use std::os::unix::fs::MetadataExt as _;
            assert_eq!(std::fs::metadata(path).unwrap().mode() & 0o777, 0o640);
            all.extend(bytes);
        }
        assert_eq!(all, line.repeat(10));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sighup_moves_on_to_a_new_file_at_the_same_path() {
        let dir = scratch_dir("file-hup");
        let path = dir.join("e.jsonl");
        let sink = FileSink::open(options(&dir, 0)).unwrap();
        std::fs::rename(&path, dir.join("e.jsonl.moved")).unwrap();
        sink.hangup.store(true, Ordering::Relaxed);
        let progress = run(sink, 2);
        assert_eq!(progress.written, 2);
        assert_eq!(std::fs::read(&path).unwrap(), line_of_sample().repeat(2));
        assert!(std::fs::read(dir.join("e.jsonl.moved")).unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_bad_path_says_what_to_do() {
        let dir = scratch_dir("file-bad");
        let missing = FileSink::open(FileOptions {
            path: dir.join("no/such/dir/e.jsonl"),
            ..options(&dir, 0)
        })
        .err()
        .unwrap();
        assert!(
            missing.to_string().contains("directory does not exist"),
            "{missing}"
        );
        let directory = FileSink::open(FileOptions {
            path: dir.clone(),
            ..options(&dir, 0)
        })
        .err()
        .unwrap();
        assert!(
            directory.to_string().contains("is a directory"),
            "{directory}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
