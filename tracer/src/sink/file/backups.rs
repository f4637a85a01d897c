//! Naming rotated files and choosing which to delete.
//!
//! A rotated file is renamed once, to `PATH.<UTC time of the rotation>` (e.g.
//! `events.jsonl.20261126T192000.123456Z`), and keeps that name (plus `.gz` once compressed).
//! Numbered names (`PATH.1`, `PATH.2`, …) would rename every backup on each rotation, racing
//! with the compressor working on one of them and with a shipper still reading one; a name that
//! never changes avoids both, and sorts by time as text. The same scheme as kube-apiserver's
//! audit log (lumberjack), with a fixed-width time so that text order is time order.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use chrono::{DateTime, NaiveDateTime, Utc};

const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.6fZ";
pub const GZIP_SUFFIX: &str = ".gz";

/// A rotated file of the sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    pub path: PathBuf,
    pub rotated: DateTime<Utc>,
    pub compressed: bool,
}

/// The name the file at `path` gets when rotated at `at`: the first of `at`, `at` + 1 µs, …
/// that no backup has yet (rotations can come faster than a microsecond apart in a burst).
pub fn name_for(path: &Path, at: DateTime<Utc>) -> PathBuf {
    let mut at = at;
    loop {
        let candidate = with_suffix(path, &format!(".{}", at.format(TIME_FORMAT)));
        let compressed = with_suffix(&candidate, GZIP_SUFFIX);
        if !candidate.exists() && !compressed.exists() {
            return candidate;
        }
        at += chrono::Duration::microseconds(1);
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Reads a backup's name (a file in the same directory as the sink's file, named `file_name`);
/// None for any other file.
pub fn parse(file_name: &str, candidate: &str) -> Option<(DateTime<Utc>, bool)> {
    let rest = candidate.strip_prefix(file_name)?.strip_prefix('.')?;
    let (time, compressed) = match rest.strip_suffix(GZIP_SUFFIX) {
        Some(time) => (time, true),
        None => (rest, false),
    };
    let time = NaiveDateTime::parse_from_str(time, TIME_FORMAT).ok()?;
    Some((time.and_utc(), compressed))
}

/// The backups of the sink's file at `path`, oldest first.
pub fn list(path: &Path) -> std::io::Result<Vec<Backup>> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let mut backups = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((rotated, compressed)) = name.to_str().and_then(|n| parse(file_name, n)) else {
            continue;
        };
        backups.push(Backup {
            path: dir.join(&name),
            rotated,
            compressed,
        });
    }
    backups.sort_by_key(|b| (b.rotated, b.compressed));
    Ok(backups)
}

/// Which of `backups` (oldest first) to delete: all but the newest `max_backups` (0 keeps any
/// number), and those rotated more than `max_age` before `now`.
pub fn to_delete(
    backups: &[Backup],
    now: SystemTime,
    max_backups: usize,
    max_age: Option<Duration>,
) -> Vec<Backup> {
    let too_many = match max_backups {
        0 => 0,
        keep => backups.len().saturating_sub(keep),
    };
    let now: DateTime<Utc> = now.into();
    backups
        .iter()
        .enumerate()
        .filter(|(i, backup)| {
            *i < too_many
                || max_age.is_some_and(|age| {
                    (now - backup.rotated)
                        .to_std()
                        .is_ok_and(|elapsed| elapsed > age)
                })
        })
        .map(|(_, backup)| backup.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(seconds: i64, micros: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_000_000 + seconds, micros * 1000)
            .unwrap()
    }

    fn backup(seconds: i64, compressed: bool) -> Backup {
        Backup {
            path: PathBuf::from(format!("/var/log/e.jsonl.{seconds}")),
            rotated: at(seconds, 0),
            compressed,
        }
    }

    #[test]
    fn names_sort_by_time_and_read_back() {
        let path = Path::new("/var/log/events.jsonl");
        let early = name_for(path, at(0, 999_999));
        let late = name_for(path, at(1, 0));
        assert_eq!(
            early,
            PathBuf::from("/var/log/events.jsonl.20261118T110640.999999Z")
        );
        assert!(early < late);
        let name = early.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse("events.jsonl", name), Some((at(0, 999_999), false)));
        assert_eq!(
            parse("events.jsonl", &format!("{name}.gz")),
            Some((at(0, 999_999), true))
        );
        for other in [
            "events.jsonl",
            "events.jsonl.1",
            "events.jsonl.20261118T110640.999999Z.gz.tmp",
            "other.jsonl.20261118T110640.999999Z",
            "events.jsonl20261118T110640.999999Z",
        ] {
            assert_eq!(parse("events.jsonl", other), None, "{other}");
        }
    }

    #[test]
    fn a_taken_name_moves_on_by_a_microsecond() {
        let dir = super::super::scratch_dir("file-names");
        let path = dir.join("e.jsonl");
        let first = name_for(&path, at(0, 5));
        std::fs::write(&first, b"").unwrap();
        let second = name_for(&path, at(0, 5));
        assert_eq!(
            parse("e.jsonl", second.file_name().unwrap().to_str().unwrap()),
            Some((at(0, 6), false))
        );
        std::fs::write(with_suffix(&second, GZIP_SUFFIX), b"").unwrap();
        let third = name_for(&path, at(0, 5));
        assert_eq!(
            parse("e.jsonl", third.file_name().unwrap().to_str().unwrap()),
            Some((at(0, 7), false))
        );
        let listed = list(&path).unwrap();
        assert_eq!(
            listed
                .iter()
                .map(|b| (b.rotated, b.compressed))
                .collect::<Vec<_>>(),
            [(at(0, 5), false), (at(0, 6), true)]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn prunes_beyond_the_count_and_the_age() {
        let backups: Vec<_> = (0..6).map(|i| backup(i * 3600, i % 2 == 0)).collect();
        let now = SystemTime::from(at(5 * 3600 + 60, 0));
        let names = |deleted: Vec<Backup>| -> Vec<i64> {
            deleted
                .iter()
                .map(|b| (b.rotated - at(0, 0)).num_hours())
                .collect()
        };
        assert_eq!(names(to_delete(&backups, now, 5, None)), [0]);
        assert_eq!(names(to_delete(&backups, now, 2, None)), [0, 1, 2, 3]);
        assert!(to_delete(&backups, now, 0, None).is_empty(), "0 keeps all");
        assert!(to_delete(&backups, now, 6, None).is_empty());
        // Older than 2 h: rotated at 0, 1, 2 and 3 h (3 h is 2 h 1 min before now).
        assert_eq!(
            names(to_delete(&backups, now, 0, Some(Duration::from_secs(7200)))),
            [0, 1, 2, 3]
        );
        assert_eq!(
            names(to_delete(
                &backups,
                now,
                5,
                Some(Duration::from_secs(4 * 3600))
            )),
            [0, 1]
        );
        // A clock set back: nothing is older than now.
        let before = SystemTime::from(at(-10, 0));
        assert!(to_delete(&backups, before, 0, Some(Duration::from_secs(1))).is_empty());
    }
}
