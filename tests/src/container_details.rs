//! What tracer says of a call made in a container beyond naming the container: the pids the
//! container itself sees, and the calls Docker's default profile refuses without the kernel
//! auditing them. Like [`Scenarios`]' others they run with each event source: the audit fallback
//! on this machine, fentry and kprobe in the VM lab.

use std::{process::Output, time::Duration};

use crate::{
    containers::Scenarios,
    docker::{Dockerd, IMAGE},
    kmsg::{AuditLog, UnlimitedPrintk},
    tracer::{Tracer, TracerEvent},
};

/// Events reach tracer within milliseconds; docker runs take seconds in an emulated VM.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
const UNSHARE: u64 = 272;

/// A hard limit on open files above `fs.nr_open` (1048576 unless raised), which the kernel
/// refuses with EPERM to everyone, root included, while Docker's profile allows the call.
const ABOVE_NR_OPEN: &str = "1048577";

fn container_events<'a>(events: &'a [TracerEvent], name: &str) -> Vec<&'a TracerEvent> {
    events
        .iter()
        .filter(|e| {
            e.container
                .as_ref()
                .and_then(|c| c.get("name"))
                .and_then(|n| n.as_str())
                == Some(name)
        })
        .collect()
}

/// The numbers a container's shell printed on its stdout.
fn printed_numbers(output: &Output) -> Vec<u32> {
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect()
}

impl Scenarios<'_> {
    fn tracer_for_details(&self, args: &[&str]) -> Tracer {
        Tracer::start_attached(self.tracer, self.probe, args)
    }

    /// A container's shell prints its own pid (and its parent's), then execs a call its
    /// profile kills: `ns_pid` and `ns_ppid` are those numbers, the pids the container sees,
    /// while `pid` is the host's, as the kernel's record has it. The container's first process
    /// is pid 1 with a parent outside its namespace (ns_ppid 0); one started by `docker exec`
    /// under a shell of the container has both numbers inside.
    pub fn numbers_pids_as_the_container_sees_them(&self) {
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.seed_profile();
        let seccomp = format!("seccomp={}", profile.display());
        let socket = dockerd.socket();
        let socket = socket.to_str().expect("UTF-8 path");
        dockerd.docker_ok(&[
            "run",
            "-d",
            "--name",
            "ns_nested",
            "--network",
            "none",
            "--security-opt",
            &seccomp,
            IMAGE,
            "sleep",
            "1000",
        ]);
        let tracer = self.tracer_for_details(&["-o", "json", "--docker-socket", socket]);
        let mut audit = AuditLog::from_now();

        let first = dockerd.docker(&[
            "run",
            "--name",
            "ns_first",
            "--network",
            "none",
            "--security-opt",
            &seccomp,
            IMAGE,
            "sh",
            "-c",
            "echo $$ $PPID; exec unshare -i",
        ]);
        assert!(
            !first.status.success(),
            "unshare was not killed in ns_first"
        );
        // The outer shell waits, so the inner one's parent is a process of the container.
        let nested = dockerd.docker(&[
            "exec",
            "ns_nested",
            "sh",
            "-c",
            "sh -c 'echo $$ $PPID; exec unshare -i'; true",
        ]);
        let printed = [
            ("ns_first", printed_numbers(&first)),
            ("ns_nested", printed_numbers(&nested)),
        ];
        for (name, numbers) in &printed {
            assert_eq!(
                numbers.len(),
                2,
                "the shell in {name} did not print its pid and its parent's: {first:?} {nested:?}"
            );
        }

        tracer.wait_for_events(EVENT_TIMEOUT, |events| {
            printed
                .iter()
                .all(|(name, _)| !container_events(events, name).is_empty())
        });
        audit.wait_for(EVENT_TIMEOUT, |records| {
            records.iter().filter(|r| r.syscall == UNSHARE).count() >= 2
        });
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let context = format!(
            "printed (pid, ppid): {printed:?}\nevents: {:#?}\nkernel records: {:#?}\nstderr:\n{}",
            finished.events,
            audit.records,
            finished.stderr_text()
        );
        let kernel_pids: Vec<u32> = audit
            .records
            .iter()
            .filter(|r| r.syscall == UNSHARE)
            .map(|r| r.pid)
            .collect();
        for (name, numbers) in &printed {
            let events = container_events(&finished.events, name);
            let seen: Vec<_> = events
                .iter()
                .map(|e| (e.syscall.as_str(), e.ns_pid, e.ns_ppid))
                .collect();
            // A first process's parent (the runtime's shim) is outside its namespace.
            let ns_ppid = if *name == "ns_first" { 0 } else { numbers[1] };
            assert_eq!(
                seen,
                [("unshare", Some(numbers[0]), Some(ns_ppid))],
                "(syscall, ns_pid, ns_ppid) of {name}'s events\n{context}"
            );
            let event = events[0];
            assert_ne!(
                Some(event.pid),
                event.ns_pid,
                "{name}: pid is the host's number, ns_pid the container's\n{context}"
            );
            assert!(
                kernel_pids.contains(&event.pid),
                "{name}: pid {} is not the pid of a kernel record of unshare ({kernel_pids:?})\n\
                 {context}",
                event.pid
            );
        }
    }

    /// Docker's default profile refuses `unshare` with EPERM to a container without
    /// CAP_SYS_ADMIN, and asks the kernel to audit nothing. With `--all-denials` tracer reports
    /// it once, from syscall-exit, naming the container, the call and errno 1 (EPERM), while
    /// the kernel's log has no record of it; the container's shell also fails a call with EPERM
    /// by the kernel's own decision, which is not reported.
    pub fn all_denials_reports_what_dockers_default_profile_refuses(&self) {
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        dockerd.import_busybox();
        let profile = dockerd.default_profile();
        let seccomp = format!("seccomp={}", profile.display());
        let socket = dockerd.socket();
        let socket = socket.to_str().expect("UTF-8 path");
        let tracer =
            self.tracer_for_details(&["-o", "json", "--all-denials", "--docker-socket", socket]);
        let mut audit = AuditLog::from_now();

        let script = format!("echo $$; ulimit -H -n {ABOVE_NR_OPEN}; echo $?; exec unshare -i");
        let run = dockerd.docker(&[
            "run",
            "--name",
            "default_profile",
            "--network",
            "none",
            "--security-opt",
            &seccomp,
            IMAGE,
            "sh",
            "-c",
            &script,
        ]);
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        let printed = printed_numbers(&run);
        // One from ulimit (the kernel's EPERM), one from unshare (the profile's).
        assert!(
            !run.status.success() && stderr.matches("Operation not permitted").count() == 2,
            "ulimit and unshare were not both refused with EPERM in the container: {run:?}"
        );
        assert!(
            printed.len() == 2 && printed[1] != 0,
            "the container's shell did not print its pid and a failed ulimit: {run:?}"
        );

        let mut all = vec![];
        tracer.wait_for_events(EVENT_TIMEOUT, |events| {
            all = container_events(events, "default_profile")
                .into_iter()
                .cloned()
                .collect();
            !all.is_empty()
        });
        // Give the kernel's log, and a second report of the same call, the time to show.
        audit.wait_for(Duration::from_secs(2), |_| false);
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let events = container_events(&finished.events, "default_profile");
        // Every event, so one that went out without the container's name shows.
        let context = format!(
            "container output: {run:?}\nall events: {:#?}\nstderr:\n{}",
            finished.events,
            finished.stderr_text()
        );
        let seen: Vec<_> = events
            .iter()
            .map(|e| {
                (
                    e.syscall.as_str(),
                    e.source.as_str(),
                    e.code.as_str(),
                    e.errno,
                    e.errno_name.as_deref(),
                    e.ns_pid,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [(
                "unshare",
                "syscall-exit",
                "errno",
                Some(1),
                Some("EPERM"),
                Some(printed[0])
            )],
            "what tracer reported of the container: only the refused unshare, once\n{context}"
        );
        let pid = events[0].pid;
        let records: Vec<_> = audit.records.iter().filter(|r| r.pid == pid).collect();
        assert!(
            records.is_empty(),
            "the kernel audited the container's calls, so the test does not show what \
             --all-denials adds: {records:?}\n{context}"
        );
    }
}
