//! Scenarios where the world around tracer misbehaves or misleads: a dockerd that stops
//! answering, a namespace number handed from an unwanted container to a wanted one, a container
//! Docker does not know, a host process in a mount namespace of its own. Like [`Scenarios`]'
//! others they run with each event source: the audit fallback on this machine, fentry and kprobe
//! in the VM lab.

use std::{
    fs,
    io::{BufRead as _, BufReader, Read as _},
    path::PathBuf,
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use nix::{sys::signal::Signal, unistd::Pid};

use crate::{
    cgroup,
    containers::Scenarios,
    ctr::Containerd,
    docker::{Dockerd, IMAGE},
    kmsg::{AuditLog, SeccompRecord, UnlimitedPrintk},
    plan::Plan,
    tracer::{RunningCount, TimedStop, Tracer, TracerEvent},
    workload::Workload,
};

/// Events reach tracer within milliseconds; docker runs take seconds in an emulated VM.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest tracer may take to exit after SIGINT, whatever dockerd or its stdout does.
pub const STOP_LIMIT: Duration = Duration::from_secs(1);
/// How long a test waits past [`STOP_LIMIT`] before killing tracer, to report what it did.
pub const STOP_PATIENCE: Duration = Duration::from_secs(10);
/// x86-64 system call numbers the scenarios' profiles act on.
const UNSHARE: u64 = 272;
const MKDIR: u64 = 83;
const MKDIRAT: u64 = 258;

impl Scenarios<'_> {
    fn tracer(&self, args: &[&str]) -> Tracer {
        Tracer::start_attached(self.tracer, self.probe, args)
    }

    /// dockerd frozen (SIGSTOP) while a container it does not know makes 100 audited calls:
    /// tracer still prints them, and SIGINT still ends it within [`STOP_LIMIT`].
    pub fn stops_at_once_and_prints_events_while_dockerd_is_frozen(&self) {
        const CALLS: usize = 100;
        let dockerd = Dockerd::start();
        let socket = dockerd.socket();
        let tracer = self.tracer(&[
            "-o",
            "json",
            "--host",
            "-r",
            "docker",
            "--docker-socket",
            socket.to_str().expect("UTF-8 path"),
        ]);
        // Give tracer the time to list containers and follow dockerd's events, so what is tested
        // is a runtime that stops answering, not one that never answered.
        dockerd.docker_ok(&["version"]);
        std::thread::sleep(Duration::from_secs(1));
        // Declared after dockerd, so it is continued before dockerd is stopped and cleaned up.
        let _frozen = Frozen::new(dockerd.pid().expect("dockerd runs"));

        let calls = CALLS.to_string();
        let mut run = Detached::start(self.workload, &["burst", &calls], true);
        run.wait_workload();
        let pid = run.plan.pid;
        let mut count = RunningCount::new(|e: &TracerEvent| e.pid == pid);
        tracer.wait_for_events(Duration::from_secs(5), |events| {
            count.update(events) >= CALLS
        });

        let stop = tracer.interrupt_timed(STOP_PATIENCE);
        let printed = stop.finished.events.iter().filter(|e| e.pid == pid).count();
        let context = format!(
            "{}; {printed} of the {CALLS} events of the workload (pid {pid}, cgroup {}) were \
             printed; stderr:\n{}",
            describe_stop(&stop),
            run.cgroup_id,
            stop.finished.stderr_text()
        );
        assert!(
            stop.exited_after.is_some_and(|t| t <= STOP_LIMIT),
            "tracer did not exit within {STOP_LIMIT:?} of SIGINT while dockerd was frozen: \
             {context}"
        );
        stop.finished.assert_stopped_cleanly();
        assert_eq!(
            printed, CALLS,
            "tracer did not print every event while dockerd was frozen: {context}"
        );
    }

    /// `profile record` with dockerd frozen while a container it does not know calls: asking
    /// which container that is hangs, yet SIGINT still ends the recording within
    /// [`STOP_LIMIT`], saying the runtime did not answer.
    pub fn recording_stops_at_once_while_dockerd_is_frozen(&self) {
        let dockerd = Dockerd::start();
        let socket = dockerd.socket();
        let dir = dockerd.scratch_dir("frozen-profiles");
        let recorder = Tracer::start(
            self.tracer,
            &[
                "profile",
                "record",
                "--docker-socket",
                socket.to_str().expect("UTF-8 path"),
                "--output-dir",
                dir.to_str().expect("UTF-8 path"),
            ],
        );
        assert_eq!(recorder.wait_attached(), "recorder");
        // Let the recorder follow dockerd first, so what is tested is a runtime that stops
        // answering, not one that never answered.
        dockerd.docker_ok(&["version"]);
        std::thread::sleep(Duration::from_secs(1));
        let _frozen = Frozen::new(dockerd.pid().expect("dockerd runs"));
        let mut run = Detached::start(self.workload, &["burst", "10"], true);
        run.wait_workload();
        // Time for the question about its namespace to be asked and to hang.
        std::thread::sleep(Duration::from_millis(500));

        let stop = recorder.interrupt_timed(STOP_PATIENCE);
        let stderr = stop.finished.stderr_text();
        assert!(
            stop.exited_after.is_some_and(|t| t <= STOP_LIMIT),
            "profile record did not exit within {STOP_LIMIT:?} of SIGINT while dockerd was \
             frozen: {}; stderr:\n{stderr}",
            describe_stop(&stop)
        );
        assert!(
            stderr.contains("did not answer"),
            "profile record did not say the runtime left a question open: {stderr}"
        );
    }

    /// An unwanted container, then a wanted one, each killed at once by its profile, until a
    /// wanted one gets a mount namespace number an unwanted one had: `-c` must still show every
    /// wanted container's kill the kernel recorded.
    pub fn shows_every_wanted_kill_when_an_unwanted_containers_namespace_is_reused(&self) {
        const ROUNDS: usize = 12;
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let seccomp = format!("seccomp={}", profile.display());
        let socket = dockerd.socket();
        let socket = socket.to_str().expect("UTF-8 path");
        let wanted_names: Vec<String> = (0..ROUNDS).map(|i| format!("wanted_{i}")).collect();
        let only_wanted = self.tracer(&[
            "-o",
            "json",
            "-c",
            &wanted_names.join(","),
            "--docker-socket",
            socket,
        ]);
        // Sees every event, so it tells which namespace number each container had.
        let observer = self.tracer(&["-o", "json", "--host", "--docker-socket", socket]);
        let mut audit = AuditLog::from_now();

        let mut kills: Vec<Kill> = Vec::new();
        let mut reuse = None;
        for round in 0..ROUNDS {
            for (name, wanted) in [
                (format!("unwanted_{round}"), false),
                (format!("wanted_{round}"), true),
            ] {
                let run = dockerd.docker(&[
                    "run",
                    "--name",
                    &name,
                    "--network",
                    "none",
                    "--security-opt",
                    &seccomp,
                    IMAGE,
                    "unshare",
                    "-i",
                ]);
                assert!(
                    !run.status.success(),
                    "unshare was not killed in {name}: {}",
                    String::from_utf8_lossy(&run.stderr)
                );
                let before = kills.len();
                assert!(
                    audit.wait_for(EVENT_TIMEOUT, |records| kill_records(records).count()
                        > before),
                    "the kernel recorded no kill of unshare in {name} within {EVENT_TIMEOUT:?}"
                );
                let pid = kill_records(&audit.records)
                    .nth(before)
                    .expect("counted above")
                    .pid;
                observer
                    .wait_for_events(EVENT_TIMEOUT, |events| events.iter().any(|e| e.pid == pid));
                let mntns = observer
                    .events()
                    .iter()
                    .find(|e| e.pid == pid)
                    .and_then(|e| e.mntns_id);
                kills.push(Kill {
                    name,
                    wanted,
                    pid,
                    mntns,
                });
            }
            let wanted = kills.last().expect("pushed above");
            if let Some(unwanted) = kills
                .iter()
                .find(|k| !k.wanted && k.mntns.is_some() && k.mntns == wanted.mntns)
            {
                reuse = Some(format!(
                    "{} got mount namespace {} that {} had",
                    wanted.name,
                    wanted.mntns.expect("compared above"),
                    unwanted.name
                ));
                break;
            }
        }

        let wanted_pids: Vec<u32> = kills.iter().filter(|k| k.wanted).map(|k| k.pid).collect();
        only_wanted.wait_for_events(EVENT_TIMEOUT, |events| {
            wanted_pids
                .iter()
                .all(|pid| events.iter().any(|e| e.pid == *pid))
        });
        let only_wanted = only_wanted.stop();
        let observer = observer.stop();
        only_wanted.assert_stopped_cleanly();
        observer.assert_stopped_cleanly();
        let missing: Vec<&Kill> = kills
            .iter()
            .filter(|k| k.wanted && !only_wanted.events.iter().any(|e| e.pid == k.pid))
            .collect();
        let reuse_note = reuse.clone().unwrap_or_else(|| {
            format!(
                "no wanted container got a namespace number an unwanted one had in {ROUNDS} rounds"
            )
        });
        assert!(
            missing.is_empty(),
            "tracer -c wanted_* did not show the kernel-recorded kill of {missing:?} ({reuse_note})\n\
             every container killed: {kills:#?}\n-c events: {:#?}\nstderr:\n{}",
            only_wanted.events,
            only_wanted.stderr_text()
        );
        assert!(
            reuse.is_some(),
            "{reuse_note}, so the scenario proves nothing here; namespaces seen: {kills:#?}"
        );
    }

    /// A container of a standalone containerd (64-hex id, as kubelet's are), which dockerd knows
    /// nothing of, makes 1,000 logged calls: tracer may ask Docker about it once or twice, not
    /// once per event.
    pub fn asks_docker_about_a_container_it_does_not_know_at_most_twice(&self) {
        const CALLS: usize = 1000;
        /// Requests tracer may make for one container Docker does not know: the lookup, and
        /// one more should the container be seen again after a reconnection.
        const ALLOWED: u64 = 2;
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let containerd = Containerd::start();
        let image = containerd.import_from(&dockerd, IMAGE);
        let socket = dockerd.socket();
        let args = [
            "-o",
            "json",
            "--host",
            "-r",
            "docker",
            "--docker-socket",
            socket.to_str().expect("UTF-8 path"),
        ];

        // What tracer asks dockerd for itself, with no container anywhere.
        let idle = self.tracer(&args);
        std::thread::sleep(Duration::from_secs(2));
        let idle = idle.stop();
        idle.assert_stopped_cleanly();
        let idle_calls = idle.expect_summary().docker_api_calls.unwrap_or_else(|| {
            panic!(
                "the summary does not count Docker API calls; stderr:\n{}",
                idle.stderr_text()
            )
        });

        let tracer = self.tracer(&args);
        let id = random_container_id();
        containerd.run_logged_mkdirs(&image, &id, CALLS);
        let mut logged = RunningCount::new(is_logged_mkdir);
        tracer.wait_for_events(EVENT_TIMEOUT, |events| logged.update(events) >= CALLS);
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let summary = finished.expect_summary();
        // The container's calls are the only logged mkdir calls on the machine; the kernel log
        // cannot be the oracle here, as a thousand records overrun it before they are read.
        let shown = finished
            .events
            .iter()
            .filter(|e| is_logged_mkdir(e))
            .count();
        assert_eq!(
            shown,
            CALLS,
            "tracer showed {shown} logged mkdir calls; the container made {CALLS}; stderr:\n{}",
            finished.stderr_text()
        );
        let calls = summary.docker_api_calls.unwrap_or_else(|| {
            panic!(
                "the summary does not count Docker API calls; stderr:\n{}",
                finished.stderr_text()
            )
        });
        let for_container = calls.saturating_sub(idle_calls);
        assert!(
            for_container <= ALLOWED,
            "tracer made {calls} Docker API calls, {idle_calls} of them as it does with no \
             container, so {for_container} for container {id} which Docker does not know and \
             which made {CALLS} logged calls; at most {ALLOWED} are needed. Summary: {summary:?}; \
             stderr:\n{}",
            finished.stderr_text()
        );
    }

    /// A host process in a mount namespace of its own (`unshare -m`) is still a host process:
    /// without `--host` none of its events are shown, with `--host` they are.
    pub fn shows_a_host_process_in_its_own_mount_namespace_only_with_host(&self) {
        let no_docker = [
            "-o",
            "json",
            "-r",
            "docker",
            "--docker-socket",
            "/nonexistent",
        ];
        let without_host = self.tracer(&no_docker);
        let mut with_host_args = no_docker.to_vec();
        with_host_args.push("--host");
        let with_host = self.tracer(&with_host_args);

        let mut run = Detached::start(self.workload, &["log"], false);
        run.wait_workload();
        let pid = run.plan.pid;
        let expected = run.plan.expected_events() as usize;
        with_host.wait_for_events(EVENT_TIMEOUT, |events| {
            events.iter().filter(|e| e.pid == pid).count() >= expected
        });
        // Whatever the one without --host would show has come by now: both read the same
        // source, and the other tracer has already seen the events.
        let with_host = with_host.stop();
        let without_host = without_host.stop();
        with_host.assert_stopped_cleanly();
        without_host.assert_stopped_cleanly();

        let own_namespace = run.mount_namespace;
        let hidden: Vec<&TracerEvent> = without_host
            .events
            .iter()
            .filter(|e| e.pid == pid)
            .collect();
        assert!(
            hidden.is_empty(),
            "without --host tracer showed events of host process {pid}, which runs in a mount \
             namespace of its own ({own_namespace:?}) but in no container: {hidden:#?}\nstderr:\n{}",
            without_host.stderr_text()
        );
        let shown = with_host.events.iter().filter(|e| e.pid == pid).count();
        assert_eq!(
            shown,
            expected,
            "with --host tracer should show the host process's {expected} events; stderr:\n{}",
            with_host.stderr_text()
        );
    }
}

#[derive(Debug)]
struct Kill {
    name: String,
    wanted: bool,
    /// The killed process, from the kernel's record.
    pid: u32,
    /// Its mount namespace, as the tracer that shows everything reported it.
    mntns: Option<u64>,
}

/// The kernel's records of `unshare` killed: what the seed profile does in a container.
fn kill_records(records: &[SeccompRecord]) -> impl Iterator<Item = &SeccompRecord> {
    records
        .iter()
        .filter(|r| r.syscall == UNSHARE && r.code == 0 && r.comm.as_deref() == Some("unshare"))
}

fn is_logged_mkdir(event: &TracerEvent) -> bool {
    event.arch.as_deref() == Some("x86_64")
        && [MKDIR, MKDIRAT].contains(&event.syscall_nr)
        && event.code == "log"
}

/// One line on how a stop went, for failure messages.
pub fn describe_stop(stop: &TimedStop) -> String {
    match stop.exited_after {
        Some(after) => format!(
            "tracer exited {after:?} after SIGINT with {}",
            stop.finished.status
        ),
        None => format!(
            "tracer was still running {:?} after SIGINT and was killed",
            stop.patience
        ),
    }
}

/// A process stopped with SIGSTOP, continued when this is dropped, also when a test panics.
pub struct Frozen(Pid);

impl Frozen {
    #[track_caller]
    pub fn new(pid: u32) -> Self {
        let pid = Pid::from_raw(pid as i32);
        nix::sys::signal::kill(pid, Signal::SIGSTOP)
            .unwrap_or_else(|error| panic!("cannot stop process {pid}: {error}"));
        let frozen = Self(pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_state(pid) != Some('T') {
            assert!(
                Instant::now() < deadline,
                "process {pid} did not stop on SIGSTOP"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        frozen
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, Signal::SIGCONT);
    }
}

fn process_state(pid: Pid) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// A workload scenario run on the host in a mount namespace of its own (`unshare -m`), from a
/// shell that stays alive in that namespace afterwards, so /proc still shows the namespace
/// while tracer looks at the events. Optionally in a cgroup named like a container's
/// (`/tracer-unknown-containers/<64 hex>`), which no runtime knows: a container as a runtime
/// nobody asked about would run it.
pub struct Detached {
    child: Child,
    stdout: BufReader<ChildStdout>,
    cgroup: Option<PathBuf>,
    pub cgroup_id: String,
    pub plan: Plan,
    /// The inode of the shell's mount namespace.
    pub mount_namespace: Option<u64>,
}

/// How long the shell outlives the workload; the test kills it sooner when it is done.
const LINGER_SECONDS: u32 = 60;

impl Detached {
    #[track_caller]
    pub fn start(workload: &Workload, args: &[&str], in_container_cgroup: bool) -> Self {
        let cgroup_id = random_container_id();
        let cgroup = in_container_cgroup.then(|| {
            let dir = cgroup::for_new_groups()
                .join("tracer-unknown-containers")
                .join(&cgroup_id);
            fs::create_dir_all(&dir)
                .unwrap_or_else(|error| panic!("cannot create cgroup {}: {error}", dir.display()));
            dir
        });
        let enter = match &cgroup {
            Some(dir) => format!(
                "echo $$ > '{}' || exit 1; ",
                dir.join("cgroup.procs").display()
            ),
            None => String::new(),
        };
        let script =
            format!("{enter}\"$WORKLOAD\" \"$@\"; echo \"exit $?\"; exec sleep {LINGER_SECONDS}");
        let mut child = Command::new("unshare")
            .args(["-m", "sh", "-c", &script, "sh"])
            .args(args)
            .env("WORKLOAD", &workload.path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run unshare -m (util-linux): {error}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let plan: Plan = serde_json::from_str(first.trim()).unwrap_or_else(|error| {
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            panic!(
                "seccomp-workload {args:?} under unshare -m printed no plan ({error}): {first:?} \
                 {rest:?}"
            )
        });
        let mount_namespace = fs::metadata(format!("/proc/{}/ns/mnt", child.id()))
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        Self {
            child,
            stdout,
            cgroup,
            cgroup_id,
            plan,
            mount_namespace,
        }
    }

    /// Waits for the workload to finish its calls; panics unless it exited 0.
    #[track_caller]
    pub fn wait_workload(&mut self) {
        let mut line = String::new();
        let _ = self.stdout.read_line(&mut line);
        assert_eq!(
            line.trim(),
            "exit 0",
            "seccomp-workload {} (pid {}) did not end as planned",
            self.plan.scenario,
            self.plan.pid
        );
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.cgroup {
            let _ = fs::remove_dir(dir);
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

/// 64 hex digits, as container ids are.
pub fn random_container_id() -> String {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .unwrap_or_else(|error| panic!("reading /dev/urandom: {error}"));
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_64_hex_digits() {
        let id = random_container_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_ne!(id, random_container_id());
    }
}
