//! Which code made a call seccomp killed: `--stack` on a container's programs, a dynamically
//! linked one and a static one (workloads/stack.c), each killed by the call it makes from
//! `tracer_stack_culprit` through libc's `syscall()`. The process is gone when tracer reads the
//! event, and its files are only in its container's layers.
//!
//! glibc's `syscall()` keeps no frame of its own, so a frame-pointer walk goes from it straight
//! to `main`: the culprit's frame is found from the stack top and the wrapper's call frame
//! information. The test expects every frame by name, and the culprit's file and line; of a
//! third build, without frame pointers, the call's own frame.

use std::{fs, os::unix::fs::PermissionsExt as _, path::Path, time::Duration};

use crate::{
    containers::Scenarios,
    docker::{Dockerd, busybox_rootfs},
    kmsg::{AuditLog, UnlimitedPrintk},
    tracer::{StackFrame, Tracer, TracerEvent},
};

const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
const UNSHARE: u64 = 272;
const STACK_IMAGE: &str = "tracer-stack-local";
const SOURCE: &str = include_str!("../workloads/stack.c");
const CULPRIT: &str = "tracer_stack_culprit";

/// The builds of workloads/stack.c, as the container runs them.
const PROGRAMS: [(&str, &str, &[u8]); 3] = [
    (
        "stack_dynamic",
        "/stack-dynamic",
        include_bytes!(concat!(env!("OUT_DIR"), "/stack-dynamic")),
    ),
    (
        "stack_static",
        "/stack-static",
        include_bytes!(concat!(env!("OUT_DIR"), "/stack-static")),
    ),
    (
        "stack_no_frame_pointers",
        "/stack-no-frame-pointers",
        include_bytes!(concat!(env!("OUT_DIR"), "/stack-no-frame-pointers")),
    ),
];
/// The one built without frame pointers.
const WITHOUT_FRAME_POINTERS: &str = "/stack-no-frame-pointers";

impl Scenarios<'_> {
    pub fn names_the_function_that_made_a_killed_call(&self) {
        let _every_record = UnlimitedPrintk::new();
        let dockerd = Dockerd::start();
        let rootfs = dockerd.scratch_dir("stack-rootfs");
        let libc = stack_rootfs(&rootfs);
        dockerd.import(&rootfs, STACK_IMAGE);
        let seccomp = format!("seccomp={}", dockerd.seed_profile().display());
        let socket = dockerd.socket();
        let socket = socket.to_str().expect("UTF-8 path");
        let tracer = Tracer::start_attached(
            self.tracer,
            self.probe,
            &["-o", "json", "--stack", "--docker-socket", socket],
        );
        let mut audit = AuditLog::from_now();
        for (name, program, _) in PROGRAMS {
            let run = dockerd.docker(&[
                "run",
                "--name",
                name,
                "--network",
                "none",
                "--security-opt",
                &seccomp,
                STACK_IMAGE,
                program,
            ]);
            assert!(
                !run.status.success() && !String::from_utf8_lossy(&run.stdout).contains("returned"),
                "{program} was not killed by its unshare: {run:?}"
            );
        }
        tracer.wait_for_events(EVENT_TIMEOUT, |events| {
            PROGRAMS
                .iter()
                .all(|(_, program, _)| event_of(events, program).is_some())
        });
        audit.wait_for(EVENT_TIMEOUT, |records| {
            records.iter().filter(|r| r.syscall == UNSHARE).count() >= PROGRAMS.len()
        });
        let finished = tracer.stop();
        finished.assert_stopped_cleanly();
        let context = format!(
            "events: {:#?}\nkernel records: {:#?}\nstderr:\n{}",
            finished.events,
            audit.records,
            finished.stderr_text()
        );
        let line = culprit_line();
        for (name, program, _) in PROGRAMS {
            let event = event_of(&finished.events, program)
                .unwrap_or_else(|| panic!("no event of {name}'s {program}\n{context}"));
            assert!(
                event.container.is_some(),
                "{name}: the kill is in a container\n{context}"
            );
            let stack = event
                .stack
                .as_deref()
                .unwrap_or_else(|| panic!("{name}'s kill has no stack\n{context}"));
            let record = audit
                .records
                .iter()
                .find(|r| r.pid == event.pid && r.syscall == UNSHARE)
                .unwrap_or_else(|| panic!("no kernel record of {name}'s kill\n{context}"));
            // The innermost frame is where the kernel says the call was made.
            assert_eq!(
                Some(stack[0].ip),
                record.ip,
                "{name}: the first frame is not the record's ip\n{context}"
            );
            let wrapper_module = if program == "/stack-static" {
                program
            } else {
                libc.as_str()
            };
            // Without frame pointers, what is promised is the call's own frame, named. Its
            // caller's return address is on the stack top, but which module it lies in is
            // known only from another frame of that module, and the walk past the wrapper
            // follows whatever the frame pointer register held: it may end or go astray.
            let promised = if program == WITHOUT_FRAME_POINTERS {
                1
            } else {
                3
            };
            let named: Vec<(Option<&str>, Option<&str>)> = stack
                .iter()
                .take(promised)
                .map(|f| (f.function.as_deref(), f.module.as_deref()))
                .collect();
            let expected = [
                (Some("syscall"), Some(wrapper_module)),
                (Some(CULPRIT), Some(program)),
                (Some("main"), Some(program)),
            ];
            assert_eq!(
                named,
                expected[..promised],
                "{name}: the wrapper, then the function that called it, then main\n{context}"
            );
            if program == WITHOUT_FRAME_POINTERS {
                continue;
            }
            let culprit: &StackFrame = &stack[1];
            assert_eq!(
                (
                    culprit.file.as_deref().map(file_name),
                    culprit.line,
                    culprit.inlined
                ),
                (Some("stack.c"), Some(line), false),
                "{name}: the culprit's frame names the line of its call\n{context}"
            );
        }
    }
}

/// The kill of `program`, told by its executable: each container runs another program. Not by
/// the container's name, which is not what this test is about: a container killed as it
/// starts may get the mount namespace number of one that just died, and be named after it
/// until tracer has learned the new one.
fn event_of<'a>(events: &'a [TracerEvent], program: &str) -> Option<&'a TracerEvent> {
    events
        .iter()
        .find(|e| e.syscall_nr == UNSHARE && e.exe.as_deref() == Some(program))
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The line of stack.c that calls `syscall()`.
fn culprit_line() -> u32 {
    let at = SOURCE
        .lines()
        .position(|line| line.contains("syscall(SYS_unshare"))
        .expect("stack.c calls syscall(SYS_unshare, ...)");
    at as u32 + 1
}

/// busybox, the two workloads, and the C library and dynamic loader this process runs with,
/// at the paths it maps them from (and the loader also where the dynamic workload asks for
/// it). Returns the C library's path.
fn stack_rootfs(rootfs: &Path) -> String {
    busybox_rootfs(rootfs);
    for (_, program, bytes) in PROGRAMS {
        let path = rootfs.join(program.trim_start_matches('/'));
        fs::write(&path, bytes).expect("writing a workload");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let maps = fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let mapped = |suffix: &str| {
        maps.lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .find(|path| file_name(path).starts_with(suffix))
            .unwrap_or_else(|| panic!("this process maps no {suffix}*"))
            .to_owned()
    };
    let libc = mapped("libc.so.6");
    let loader = mapped("ld-linux-x86-64.so.2");
    for (from, to) in [
        (&libc, libc.as_str()),
        (&loader, loader.as_str()),
        (&loader, "/lib64/ld-linux-x86-64.so.2"),
    ] {
        let into = rootfs.join(to.trim_start_matches('/'));
        fs::create_dir_all(into.parent().expect("a file in a directory")).expect("lib dir");
        fs::copy(from, &into).unwrap_or_else(|e| panic!("copying {from} to {into:?}: {e}"));
    }
    libc
}
