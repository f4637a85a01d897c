//! Deleting and compressing backups in a thread of their own: gzipping a 100 MB file takes
//! seconds, which the writer must not spend while events wait.

use std::{
    path::PathBuf,
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, SystemTime},
};

use super::{backups, compress};

/// What the housekeeper does with the backups of one file.
#[derive(Clone, Debug)]
pub struct Policy {
    pub path: PathBuf,
    pub max_backups: usize,
    pub max_age: Option<Duration>,
    pub compress: bool,
    pub mode: u32,
}

pub struct Housekeeper {
    rotated: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Housekeeper {
    /// Starts the thread, which tidies once at once (backups an earlier run left uncompressed
    /// or too old) and again after each rotation.
    pub fn start(policy: Policy) -> std::io::Result<Self> {
        let (rotated, rotations) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sink-file-backups".into())
            .spawn(move || {
                let mut warned = false;
                tidy(&policy, &mut warned);
                while rotations.recv().is_ok() {
                    // Rotations that came meanwhile are covered by one pass.
                    while rotations.try_recv().is_ok() {}
                    tidy(&policy, &mut warned);
                }
            })?;
        Ok(Self {
            rotated: Some(rotated),
            thread: Some(thread),
        })
    }

    /// The file was just rotated: prune and compress its backups.
    pub fn rotated(&self) {
        if let Some(rotated) = &self.rotated {
            let _ = rotated.send(());
        }
    }

    /// Waits for the work asked for so far to be done.
    pub fn finish(mut self) {
        self.rotated = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Deletes what the policy no longer keeps, then compresses what is left uncompressed. Failures
/// are reported once; the next rotation tries again.
pub fn tidy(policy: &Policy, warned: &mut bool) {
    let mut report = |what: &str, path: &std::path::Path, error: std::io::Error| {
        if !*warned {
            tracing::warn!(
                "cannot {what} {} ({error}): check the permissions of its directory; the \
                 backups are tidied again after the next rotation",
                path.display()
            );
            *warned = true;
        }
    };
    let listed = match backups::list(&policy.path) {
        Ok(listed) => listed,
        Err(error) => return report("list the backups of", &policy.path, error),
    };
    let doomed = backups::to_delete(
        &listed,
        SystemTime::now(),
        policy.max_backups,
        policy.max_age,
    );
    for backup in &doomed {
        compress::remove_leftover(&backup.path);
        if let Err(error) = std::fs::remove_file(&backup.path) {
            report("delete the old backup", &backup.path, error);
        }
    }
    if !policy.compress {
        return;
    }
    // The newest backup stays plain until the next rotation (logrotate's delaycompress): a
    // shipper may still be reading what was written just before the rotation.
    let older = &listed[..listed.len().saturating_sub(1)];
    for backup in older
        .iter()
        .filter(|b| !b.compressed && !doomed.contains(b))
    {
        compress::remove_leftover(&backup.path);
        if let Err(error) = compress::gzip(&backup.path, policy.mode) {
            report("compress", &backup.path, error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_then_compresses_what_is_kept() {
        let dir = super::super::scratch_dir("file-tidy");
        let path = dir.join("e.jsonl");
        let now = chrono::Utc::now();
        let names: Vec<PathBuf> = (0..4)
            .map(|i| {
                let name = backups::name_for(&path, now - chrono::Duration::hours(4 - i));
                std::fs::write(&name, format!("{{\"n\":{i}}}\n")).unwrap();
                name
            })
            .collect();
        std::fs::write(&path, b"live\n").unwrap();
        std::fs::write(dir.join("unrelated.log"), b"x").unwrap();
        let policy = Policy {
            path: path.clone(),
            max_backups: 3,
            max_age: Some(Duration::from_secs(3 * 3600 + 1800)),
            compress: true,
            mode: 0o600,
        };
        let mut warned = false;
        tidy(&policy, &mut warned);
        assert!(!warned);
        let left = backups::list(&path).unwrap();
        // The oldest (4 h) is beyond the count and the age; 3 h, 2 h and 1 h are kept, gzipped
        // but for the newest, which a shipper may still be reading.
        assert_eq!(
            left.iter().map(|b| b.path.clone()).collect::<Vec<_>>(),
            [
                PathBuf::from(format!("{}.gz", names[1].display())),
                PathBuf::from(format!("{}.gz", names[2].display())),
                names[3].clone(),
            ]
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"live\n");
        assert!(dir.join("unrelated.log").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
