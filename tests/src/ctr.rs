//! A standalone containerd, apart from dockerd's, driven with `ctr`: containers started here are
//! ones dockerd knows nothing of, as kubelet's are on a node that also runs Docker.
//!
//! Its state lives under a temporary directory and its socket is its own, so it neither needs nor
//! touches a system containerd; it is stopped when dropped.
//!
//! `TRACER_CTR_RUN_ARGS` (split on spaces) is added to every `ctr run`: the VM lab's guest runs
//! from an initramfs, out of which runc cannot `pivot_root` (`--no-pivot` makes it chroot, as
//! `DOCKER_RAMDISK` does for dockerd). `CONTAINERD_SNAPSHOTTER`, which `ctr` reads itself,
//! picks a snapshotter where overlayfs is missing.

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use crate::{cgroup, docker::Dockerd};

/// containerd answers within a second on a real machine.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The containerd namespace the tests' containers live in; their cgroup is `/NAMESPACE/ID`.
pub const NAMESPACE: &str = "tracer-tests";
/// Where kubelet keeps its containers.
pub const KUBELET_NAMESPACE: &str = "k8s.io";

pub struct Containerd {
    root: PathBuf,
    child: Option<Child>,
}

impl Containerd {
    /// Starts containerd in its own session (as `setsid containerd` would) and waits until it
    /// answers.
    pub fn start() -> Self {
        let root = std::env::temp_dir().join(format!("tracer-containerd-{}", std::process::id()));
        fs::create_dir_all(&root).expect("creating containerd's directory");
        // Kubelet's plugin is not needed and only slows the start down.
        fs::write(
            root.join("config.toml"),
            "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n",
        )
        .expect("writing containerd's configuration");
        let mut containerd = Self { root, child: None };
        containerd.restart();
        containerd
    }

    /// Starts (again) the daemon, with the state it had, and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "containerd is already running");
        let log = fs::File::options()
            .create(true)
            .append(true)
            .open(self.root.join("containerd.log"))
            .expect("containerd log");
        let child = Command::new("setsid")
            .arg("containerd")
            .arg("--config")
            .arg(self.root.join("config.toml"))
            .arg("--root")
            .arg(self.root.join("root"))
            .arg("--state")
            .arg(self.root.join("state"))
            .arg("--address")
            .arg(self.socket())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("containerd log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start containerd (apt-get install containerd): {e}")
            });
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not answer within {READY_TIMEOUT:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// containerd's process id while it runs (`setsid` execs it, so it is the child's).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("containerd.sock")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("containerd.log")).unwrap_or_default()
    }

    /// A file in containerd's scratch directory (profiles and the like).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Runs `ctr` against this containerd, in [`NAMESPACE`].
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_in(NAMESPACE, args)
    }

    /// Runs `ctr` against this containerd, in `namespace` ([`KUBELET_NAMESPACE`] for containers
    /// labelled as kubelet would).
    pub fn ctr_in(&self, namespace: &str, args: &[&str]) -> Output {
        let (command, rest) = args
            .split_first()
            .map_or((None, args), |(c, r)| (Some(c), r));
        let run_args = if command == Some(&"run") {
            extra_run_args()
        } else {
            Vec::new()
        };
        Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", namespace])
            .args(command)
            .args(run_args)
            .args(rest)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ctr (apt-get install containerd): {e}"))
    }

    /// Runs a container `id` of `image` in [`NAMESPACE`] that makes `calls` `mkdir`s, each
    /// logged by its seccomp profile, and waits for it to end; panics with containerd's log when
    /// it fails.
    pub fn run_logged_mkdirs(&self, image: &str, id: &str, calls: usize) {
        let profile = self.scratch("log-mkdir.json");
        fs::write(
            &profile,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"action":"SCMP_ACT_LOG","names":["mkdir","mkdirat"]}]}"#,
        )
        .expect("writing the profile");
        let script =
            format!("i=0; while [ $i -lt {calls} ]; do mkdir /tmp/d$i || exit 1; i=$((i+1)); done");
        let run = self.ctr(&[
            "run",
            "--rm",
            "--seccomp",
            "--seccomp-profile",
            profile.to_str().expect("UTF-8 path"),
            image,
            id,
            "/bin/sh",
            "-c",
            &script,
        ]);
        assert!(
            run.status.success(),
            "ctr run failed: {}\ncontainerd log:\n{}",
            String::from_utf8_lossy(&run.stderr),
            self.log()
        );
    }

    /// Copies `image` from `dockerd` (no registry is reachable) into [`NAMESPACE`]; returns the
    /// reference containerd knows it by.
    pub fn import_from(&self, dockerd: &Dockerd, image: &str) -> String {
        self.import_into(NAMESPACE, dockerd, image)
    }

    /// [`Containerd::import_from`], into `namespace`.
    pub fn import_into(&self, namespace: &str, dockerd: &Dockerd, image: &str) -> String {
        let mut save = dockerd
            .docker_command(&["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save");
        let import = Command::new("ctr")
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", namespace, "images", "import", "-"])
            .stdin(save.stdout.take().expect("docker save's stdout"))
            .output()
            .expect("ctr images import");
        assert!(
            save.wait().is_ok_and(|s| s.success()),
            "docker save {image} failed"
        );
        assert!(
            import.status.success(),
            "ctr images import failed: {}",
            String::from_utf8_lossy(&import.stderr)
        );
        format!("docker.io/library/{image}:latest")
    }

    /// Stops containerd; containers started with `ctr run --rm` are gone by then.
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
}

/// What `TRACER_CTR_RUN_ARGS` adds to `ctr run`.
fn extra_run_args() -> Vec<String> {
    std::env::var("TRACER_CTR_RUN_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A test that panicked may leave a container running: kill and remove it, or its
            // shim and mounts outlive the daemon.
            for namespace in [NAMESPACE, KUBELET_NAMESPACE] {
                let list = self.ctr_in(namespace, &["containers", "list", "--quiet"]);
                for id in String::from_utf8_lossy(&list.stdout).split_whitespace() {
                    let _ = self.ctr_in(namespace, &["tasks", "kill", "--signal", "SIGKILL", id]);
                    std::thread::sleep(Duration::from_millis(200));
                    let _ = self.ctr_in(namespace, &["tasks", "delete", "--force", id]);
                    let _ = self.ctr_in(namespace, &["containers", "delete", id]);
                }
            }
        }
        self.stop();
        // runc leaves the namespace's parent group behind in every hierarchy.
        cgroup::remove_everywhere(NAMESPACE);
        cgroup::remove_everywhere(KUBELET_NAMESPACE);
        let _ = fs::remove_dir_all(&self.root);
    }
}
