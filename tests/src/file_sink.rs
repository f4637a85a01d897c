//! What the file sink's tests need around tracer: scratch directories, a small tmpfs to fill,
//! reading the sink's files (plain and gzipped) back, the kernel's audit queue, and rsyslog as a
//! real shipper reading the file.

use std::{
    fs,
    io::{Read as _, Write as _},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A directory removed when dropped, also when a test panics.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    #[track_caller]
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tracer-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A tmpfs of `size` mounted on a directory, unmounted when dropped, also when a test panics.
pub struct Tmpfs {
    dir: ScratchDir,
}

impl Tmpfs {
    #[track_caller]
    pub fn mount(name: &str, size: &str) -> Self {
        let dir = ScratchDir::new(name);
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap_or_else(|error| panic!("cannot run mount: {error}"));
        assert!(
            status.success(),
            "mount -t tmpfs on {} failed",
            dir.path().display()
        );
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file that takes every free byte; returns its path.
    #[track_caller]
    pub fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = fs::File::create(&path)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
        let block = [0u8; 4096];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(error) => panic!("filling {}: {error}", path.display()),
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, should a process still hold a file there.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// The sink's file at `path` and its rotated copies, oldest first (the live file last).
pub fn sink_files(path: &Path) -> Vec<PathBuf> {
    let dir = path.parent().expect("a file in a directory");
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a UTF-8 name");
    let prefix = format!("{name}.");
    let mut backups: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && !n.ends_with(".tmp"))
        })
        .collect();
    // The rotation time sorts as text; a compressed copy sorts as its plain name.
    backups.sort_by_key(|p| p.to_string_lossy().trim_end_matches(".gz").to_owned());
    backups.push(path.to_owned());
    backups
}

/// The text of one of the sink's files, gunzipped if it ends in `.gz`.
#[track_caller]
pub fn read_text(path: &Path) -> String {
    let bytes =
        fs::read(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut text)
            .unwrap_or_else(|error| panic!("{} is not valid gzip: {error}", path.display()));
        text
    } else {
        bytes
    };
    String::from_utf8(bytes).unwrap_or_else(|_| panic!("{} is not UTF-8", path.display()))
}

/// The lines of `text`; panics if its last line is not whole (a half-written event).
#[track_caller]
pub fn whole_lines(path: &Path, text: &str) -> Vec<String> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends in half a line: {:?}",
        path.display(),
        &text[text.len().saturating_sub(200)..]
    );
    text.lines().map(str::to_owned).collect()
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|error| panic!("cannot stat {}: {error}", path.display()))
        .mode()
        & 0o7777
}

/// Polls `done` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An rsyslogd of its own (its own config, pid file and work directory, no system inputs)
/// whose imfile follows `source` and whose omfile writes each line read, as read, to `copy`.
/// Stopped when dropped.
pub struct Rsyslog {
    child: Child,
    pub copy: PathBuf,
    log: PathBuf,
}

impl Rsyslog {
    #[track_caller]
    pub fn start(dir: &Path, source: &Path) -> Self {
        let work = dir.join("rsyslog-work");
        fs::create_dir_all(&work).expect("creating rsyslog's work directory");
        let copy = dir.join("shipped.jsonl");
        let config = dir.join("rsyslog.conf");
        fs::write(
            &config,
            format!(
                r#"global(workDirectory="{work}" maxMessageSize="64k")
module(load="imfile" mode="inotify")
template(name="line" type="string" string="%msg%\n")
ruleset(name="ship") {{
  action(type="omfile" file="{copy}" template="line")
}}
input(type="imfile" file="{source}" tag="tracer" ruleset="ship" freshStartTail="off")
"#,
                work = work.display(),
                copy = copy.display(),
                source = source.display(),
            ),
        )
        .expect("writing rsyslog's config");
        let log = dir.join("rsyslogd.log");
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&config)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).expect("rsyslogd's log"))
            .stderr(fs::File::create(dir.join("rsyslogd.err")).expect("rsyslogd's log"))
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot run rsyslogd ({error}): apt-get install rsyslog, or run cargo xtask \
                     setup"
                )
            });
        Self { child, copy, log }
    }

    /// What rsyslogd printed, for failure messages.
    pub fn output(&self) -> String {
        let mut text = fs::read_to_string(&self.log).unwrap_or_default();
        text.push_str(
            &fs::read_to_string(self.log.with_file_name("rsyslogd.err")).unwrap_or_default(),
        );
        text
    }

    /// The lines shipped so far.
    pub fn shipped(&self) -> Vec<String> {
        fs::read_to_string(&self.copy)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}
