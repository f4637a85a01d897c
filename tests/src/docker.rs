//! A real dockerd for the tests: started with its own state under a temporary directory, so it
//! neither needs nor touches a system one, and stopped when dropped.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// dockerd answers within seconds on a real machine and within tens in a software-emulated VM.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The locally built image every test container runs (no registry is reachable).
pub const IMAGE: &str = "busybox-local";

pub struct Dockerd {
    root: PathBuf,
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl Dockerd {
    /// Starts dockerd with `TRACER_DOCKERD_ARGS` (split on spaces) added to its own arguments.
    pub fn start() -> Self {
        let mut dockerd = Self::not_started();
        dockerd.restart();
        dockerd
    }

    /// A dockerd whose socket path is known but which does not run yet (see [`Dockerd::restart`]).
    pub fn not_started() -> Self {
        let root = std::env::temp_dir().join(format!("tracer-dockerd-{}", std::process::id()));
        fs::create_dir_all(&root).expect("creating dockerd's directory");
        let extra_args = std::env::var("TRACER_DOCKERD_ARGS")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Self {
            root,
            extra_args,
            child: None,
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("docker.sock")
    }

    /// The socket of the containerd dockerd runs for itself, under its exec root, which keeps
    /// Docker's containers in its `moby` namespace.
    pub fn containerd_socket(&self) -> PathBuf {
        self.root.join("exec/containerd/containerd.sock")
    }

    /// Starts (again) the daemon and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "dockerd is already running");
        let log = fs::File::create(self.root.join("dockerd.log")).expect("dockerd log");
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(self.root.join("data"))
            .arg("--exec-root")
            .arg(self.root.join("exec"))
            .arg("--pidfile")
            .arg(self.root.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(["--iptables=false", "--ip-masq=false", "--bridge=none"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dockerd log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dockerd (is docker.io installed?): {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.docker(&["version"]).status.success() {
            if Instant::now() > deadline {
                panic!(
                    "dockerd did not answer within {READY_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the daemon (its containers die with it) and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.wait();
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default()
    }

    /// dockerd's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The docker client against this daemon, to run with other stdio than [`Dockerd::docker`].
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs the docker client against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running the docker client")
    }

    /// Runs the docker client and returns its trimmed stdout; panics with its stderr on failure.
    #[track_caller]
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let output = self.docker(args);
        assert!(
            output.status.success(),
            "docker {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Imports [`IMAGE`]: the machine's static busybox with a link for each applet.
    pub fn import_busybox(&self) {
        let rootfs = self.root.join("rootfs");
        busybox_rootfs(&rootfs);
        self.import(&rootfs, IMAGE);
    }

    /// A directory of dockerd's own to put an image's files together in.
    pub fn scratch_dir(&self, name: &str) -> PathBuf {
        let dir = self.root.join(name);
        fs::create_dir_all(&dir).expect("a scratch directory");
        dir
    }

    /// Imports the tree at `rootfs` as image `name`, with busybox's applets on PATH.
    pub fn import(&self, rootfs: &Path, name: &str) {
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("tar");
        let import = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(["import", "--change", "ENV PATH=/bin", "-", name])
            .stdin(tar.stdout.take().expect("tar stdout"))
            .output()
            .expect("docker import");
        assert!(
            tar.wait().is_ok_and(|s| s.success()),
            "tar of the rootfs failed"
        );
        assert!(
            import.status.success(),
            "docker import failed: {}",
            String::from_utf8_lossy(&import.stderr)
        );
    }

    /// Writes Docker's own default seccomp profile, which refuses what it does not allow with
    /// EPERM and asks the kernel to audit nothing.
    pub fn default_profile(&self) -> PathBuf {
        let path = self.root.join("moby-default.json");
        fs::write(&path, include_str!("../testdata/moby-default.json"))
            .expect("writing the profile");
        path
    }

    /// Writes a seccomp profile that logs mkdir and kills unshare, as in the seed scenario.
    pub fn seed_profile(&self) -> PathBuf {
        let path = self.root.join("profile.json");
        fs::write(
            &path,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"action":"SCMP_ACT_KILL","names":["unshare"]},
                {"action":"SCMP_ACT_LOG","names":["mkdir"]}]}"#,
        )
        .expect("writing the profile");
        path
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        self.stop();
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// The machine's static busybox in `rootfs/bin`, with a link for each applet, and `/tmp`.
pub fn busybox_rootfs(rootfs: &Path) {
    let bin = rootfs.join("bin");
    fs::create_dir_all(&bin).expect("rootfs");
    fs::create_dir_all(rootfs.join("tmp")).expect("rootfs /tmp");
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("a static busybox (apt-get install busybox-static)");
    fs::copy(busybox, bin.join("busybox")).expect("copying busybox");
    let applets = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&applets.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
}
