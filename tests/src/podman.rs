//! A real podman for the tests: its storage and state under a temporary directory, and its
//! Docker-compatible API (`podman system service`) on a socket of its own, so it neither needs
//! nor touches the machine's. The service is stopped, and every container removed, when dropped.

use std::{
    fs,
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use crate::{cgroup, docker::Dockerd};

/// podman's API service answers within seconds.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Where podman puts its containers' cgroups with the cgroupfs manager.
const CGROUP_PARENT: &str = "libpod_parent";
/// This machine refuses podman's default rlimits (`error setting rlimit type 7: operation not
/// permitted`); Docker sets none. Every `podman run` takes these.
pub const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

pub struct Podman {
    root: PathBuf,
    service: Option<Child>,
}

impl Podman {
    /// Starts podman's API service and waits until it answers.
    pub fn start() -> Self {
        let root = std::env::temp_dir().join(format!("tracer-podman-{}", std::process::id()));
        fs::create_dir_all(&root).expect("creating podman's directory");
        let mut podman = Self {
            root,
            service: None,
        };
        let log = fs::File::create(podman.root.join("service.log")).expect("podman's log");
        let service = podman
            .command()
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", podman.socket().display()))
            .stdout(log.try_clone().expect("podman's log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start podman (apt-get install podman): {e}"));
        podman.service = Some(service);
        let deadline = Instant::now() + READY_TIMEOUT;
        while !podman.answers() {
            assert!(
                Instant::now() < deadline,
                "podman's API service did not answer within {READY_TIMEOUT:?}; log:\n{}",
                podman.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        podman
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("podman.sock")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("service.log")).unwrap_or_default()
    }

    /// Whether the API lists containers, as Docker's does. Not just `/_ping`: the service's
    /// first request that reads its state takes about a second, and a tracer started right
    /// after would otherwise take that second to learn the containers it must name.
    fn answers(&self) -> bool {
        let Ok(mut stream) = UnixStream::connect(self.socket()) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let request = "GET /v1.41/containers/json?all=true HTTP/1.0\r\nHost: podman\r\n\r\n";
        let mut answer = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.split_whitespace().nth(1) == Some("200")
    }

    /// podman with this instance's storage, state, events and cgroups.
    fn command(&self) -> Command {
        let mut command = Command::new("podman");
        command
            .arg("--root")
            .arg(self.root.join("storage"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            // Plain directories: nothing is left mounted should a test panic.
            .args(["--storage-driver", "vfs"])
            // No journald or systemd on a bare machine.
            .args(["--events-backend", "file", "--cgroup-manager", "cgroupfs"])
            .stdin(Stdio::null());
        command
    }

    /// Runs the podman client against this instance.
    pub fn podman(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run podman (apt-get install podman): {e}"))
    }

    /// Runs the podman client and returns its trimmed stdout; panics with its stderr on failure.
    #[track_caller]
    pub fn podman_ok(&self, args: &[&str]) -> String {
        let output = self.podman(args);
        assert!(
            output.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Copies `image` from `dockerd` (no registry is reachable) with `podman load`; returns the
    /// reference podman knows it by.
    pub fn load_from(&self, dockerd: &Dockerd, image: &str) -> String {
        let archive = self.root.join("image.tar");
        let archive_path = archive.to_str().expect("UTF-8 path");
        dockerd.docker_ok(&["save", image, "-o", archive_path]);
        self.podman_ok(&["load", "-i", archive_path]);
        let _ = fs::remove_file(&archive);
        format!("localhost/{image}:latest")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force"]);
        if let Some(mut service) = self.service.take() {
            let _ = service.kill();
            let _ = service.wait();
        }
        cgroup::remove_everywhere(CGROUP_PARENT);
        let _ = fs::remove_dir_all(&self.root);
    }
}
