//! auditd as the baseline: the distribution's daemon with its default configuration and its
//! default rules (`-b 8192 --backlog_wait_time 60000 -f 1`, as Debian's audit.rules sets them),
//! writing to a log of its own so its records can be counted.

use std::{
    fs, io,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

const DEFAULT_CONFIG: &str = "/etc/audit/auditd.conf";
/// Debian's rules file sets these for every boot; without them the kernel's backlog is 64.
const DEFAULT_RULES: [&str; 6] = ["-b", "8192", "--backlog_wait_time", "60000", "-f", "1"];

/// The kernel's audit settings auditd changes, to put back afterwards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub enabled: u64,
    pub failure: u64,
    pub backlog_limit: u64,
    pub backlog_wait_time: u64,
    pub lost: u64,
}

pub fn status() -> io::Result<Status> {
    let output = Command::new("auditctl").arg("-s").output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "auditctl -s failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    parse_status(&String::from_utf8_lossy(&output.stdout))
        .ok_or_else(|| io::Error::other("auditctl -s printed no status"))
}

fn parse_status(text: &str) -> Option<Status> {
    let value = |key: &str| -> Option<u64> {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once(' ')?;
            (name == key).then(|| value.split_whitespace().next()?.parse().ok())?
        })
    };
    Some(Status {
        enabled: value("enabled")?,
        failure: value("failure")?,
        backlog_limit: value("backlog_limit")?,
        backlog_wait_time: value("backlog_wait_time")?,
        lost: value("lost")?,
    })
}

fn auditctl(args: &[&str]) -> io::Result<()> {
    let output = Command::new("auditctl").args(args).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "auditctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// A running auditd. Stopping it (or dropping it) puts the kernel's settings back.
pub struct Auditd {
    child: Child,
    dir: PathBuf,
    before: Status,
}

impl Auditd {
    /// Starts auditd in the foreground with the default configuration, its log in `dir`.
    pub fn start(dir: &Path) -> io::Result<Self> {
        let before = status()?;
        fs::create_dir_all(dir)?;
        let log = dir.join("audit.log");
        let _ = fs::remove_file(&log);
        let config = fs::read_to_string(DEFAULT_CONFIG).unwrap_or_default();
        let config_path = dir.join("auditd.conf");
        fs::write(&config_path, private_config(&config, &log))?;
        // auditd refuses a configuration others may write.
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&config_path, fs::Permissions::from_mode(0o600))?;
        let child = Command::new("auditd")
            .arg("-n")
            // -c names the directory that holds auditd.conf.
            .arg("-c")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let auditd = Self {
            child,
            dir: dir.to_owned(),
            before,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = status()?;
            if now.enabled == 1 && log.exists() {
                break;
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(
                    "auditd did not enable auditing within 10 s",
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        auditctl(&DEFAULT_RULES)?;
        Ok(auditd)
    }

    /// The SECCOMP records auditd wrote for a process.
    pub fn seccomp_records(&self, pid: u32) -> io::Result<u64> {
        let needle = format!(" pid={pid} ");
        let text = fs::read_to_string(self.dir.join("audit.log"))?;
        Ok(text
            .lines()
            .filter(|line| line.starts_with("type=SECCOMP ") && line.contains(&needle))
            .count() as u64)
    }

    /// Stops auditd and puts the kernel's settings back.
    pub fn stop(mut self) -> io::Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> io::Result<()> {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: kill with a child's pid and SIGTERM has no memory effects.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let before = &self.before;
        auditctl(&[
            "-b",
            &before.backlog_limit.to_string(),
            "--backlog_wait_time",
            &before.backlog_wait_time.to_string(),
            "-f",
            &before.failure.to_string(),
            "-e",
            &before.enabled.to_string(),
        ])
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// The default configuration with the log moved to `log` and never rotated, so one file holds
/// every record of the run. Nothing that decides what is kept or lost is changed.
fn private_config(default: &str, log: &Path) -> String {
    let mut out = String::new();
    for line in default.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match key {
            "log_file" | "max_log_file_action" | "log_group" => continue,
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(&format!(
        "log_file = {}\nmax_log_file_action = IGNORE\nlog_group = root\n",
        log.display()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_from_auditctl() {
        let text = "enabled 0\nfailure 1\npid 0\nrate_limit 0\nbacklog_limit 64\nlost 7\n\
                    backlog 0\nbacklog_wait_time 15000\nbacklog_wait_time_actual 34501\n\
                    loginuid_immutable 0 unlocked\n";
        assert_eq!(
            parse_status(text),
            Some(Status {
                enabled: 0,
                failure: 1,
                backlog_limit: 64,
                backlog_wait_time: 15000,
                lost: 7
            })
        );
    }

    #[test]
    fn private_config_keeps_everything_but_where_the_log_goes() {
        let config = private_config(
            "log_file = /var/log/audit/audit.log\nflush = INCREMENTAL_ASYNC\nq_depth = 2000\n",
            Path::new("/tmp/lab/audit.log"),
        );
        assert!(config.contains("flush = INCREMENTAL_ASYNC\nq_depth = 2000\n"));
        assert!(config.contains("log_file = /tmp/lab/audit.log\n"));
        assert!(!config.contains("/var/log/audit"));
    }
}
