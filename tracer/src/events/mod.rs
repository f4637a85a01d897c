//! Decoded events: what the kernel reported, in meaningful types.

pub mod action;
pub mod arch;
pub mod audit_record;
pub mod clock;
pub mod decode;
pub mod errno;
pub mod json;
pub mod owner;
pub mod summary;
pub mod text;

use std::{collections::BTreeMap, fmt, path::PathBuf, sync::Arc};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::stack::{Frame, RawStack};

pub use action::SeccompAction;
pub use arch::Arch;
pub use decode::Decoder;

/// Which event source reported an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Fentry,
    Kprobe,
    /// The kernel's own audit record.
    Audit,
    /// A call seccomp refused without auditing it, seen as the call returned (`--all-denials`).
    SyscallExit,
    /// The details of a task seccomp killed, read as it exited; they complete the audit
    /// record's event of the kill.
    TaskExit,
    /// The entry of a call the audit source saw logged before (`--all-denials`): the details
    /// of a later logged call. Never an event of its own: it completes the audit record's
    /// event of the call, or is dropped.
    SyscallEnter,
    /// The details and stack of a call seccomp trapped, read as it raised SIGSYS (the audit
    /// source with `--stack`). Never an event of its own: it completes the audit record's
    /// event of the trap, or is dropped.
    TrapSignal,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Fentry => "fentry",
            Source::Kprobe => "kprobe",
            Source::Audit => "audit",
            Source::SyscallExit => "syscall-exit",
            Source::TaskExit => "task-exit",
            Source::SyscallEnter => "syscall-enter",
            Source::TrapSignal => "trap-signal",
        }
    }
}

/// A system call that seccomp logged, refused or killed.
///
/// Its serialization is the JSON output, field for field, in this order (docs/events.md), and
/// `-o columns=` offers every field by its JSON name: a field added here reaches both without
/// any change to the output code.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Set only on a summary event (`--dedup`, `--rate-limit`): its JSON then starts with
    /// `"type":"summary","summary":{...}`; an event of one call has neither key.
    #[serde(flatten)]
    pub summary: Option<Box<summary::Summarized>>,
    /// A call's time; a summary's is when its window closed (or when tracer stopped).
    #[serde(serialize_with = "json::timestamp")]
    pub timestamp: DateTime<Utc>,
    pub node: Arc<str>,
    pub source: Source,
    pub pid: u32,
    /// `None` where the source does not say (the kernel's audit records name only the process).
    pub tid: Option<u32>,
    /// `None` when the kernel program could not read the parent.
    pub ppid: Option<u32>,
    pub uid: u32,
    pub gid: u32,
    /// The task's name as the kernel holds it, in the visible encoding ([`text::visible`]): a
    /// backslash as `\\`, bytes that are not UTF-8 as `\xNN`.
    pub comm: String,
    /// `None` when the task had already lost its namespaces (it was exiting).
    pub mntns_id: Option<u32>,
    /// `None` where the source does not say.
    pub cgroup_id: Option<u64>,
    /// The system call's name in its arch's table, or its number where the table has none.
    pub syscall: SyscallName,
    pub syscall_nr: u32,
    pub arch: Arch,
    pub code: SeccompAction,
    pub code_raw: u32,
    /// Signal number the action delivers, `None` for none; its name in the JSON.
    #[serde(serialize_with = "json::signal_name")]
    pub signal: Option<i32>,
    /// What the call returned to its caller, for calls seccomp refused with ERRNO when the
    /// return value was read; `None` otherwise (the kernel audits an ERRNO action without its
    /// data).
    pub errno: Option<i32>,
    /// `errno`'s name in Linux's generic table (`EPERM`); `None` for 0 and numbers it lacks.
    pub errno_name: Option<&'static str>,
    /// The call's six argument registers as the caller set them: numbers, or addresses in the
    /// caller's memory.
    pub args: Option<[u64; 6]>,
    /// Where in the caller the call was made (its user instruction pointer).
    pub ip: Option<u64>,
    /// The path argument of a call that takes one, in the [`text::visible`] encoding, as the
    /// caller passed it (relative paths stay relative).
    pub path: Option<String>,
    /// Whether `path` was cut short; `Some` whenever `path` is.
    pub path_truncated: Option<bool>,
    /// The directory descriptor a relative `path` of an `*at` call is resolved from.
    pub dirfd: Option<i32>,
    /// The caller's executable, in the [`text::visible`] encoding; `...` stands for the
    /// directories the kernel program could not follow up to the root.
    pub exe: Option<String>,
    /// The caller's argv joined with spaces, in the [`text::visible`] encoding.
    pub cmdline: Option<String>,
    /// Whether `cmdline` was cut short; `Some` whenever `cmdline` is.
    pub cmdline_truncated: Option<bool>,
    /// The parent's name, as `comm`.
    pub parent_comm: Option<String>,
    /// The process's and its parent's ids in the caller's own pid namespace (what a container
    /// sees); `ns_ppid` is 0 where the parent lies outside that namespace.
    pub ns_pid: Option<u32>,
    pub ns_ppid: Option<u32>,
    /// The caller's user stack, innermost frame first, symbolized; with `--stack` only.
    pub stack: Option<Vec<Frame>>,
    /// The stack as the kernel program captured it, until it is symbolized.
    #[serde(skip)]
    pub raw_stack: Option<RawStack>,
    /// The container the caller runs in, once enrichment has named it; set it with
    /// [`Event::set_container`], which keeps `k8s` in step.
    pub container: Option<Arc<Container>>,
    /// Where kubelet ran the container, from its labels.
    pub k8s: Option<K8s>,
    /// The `--rules` rule the event matched first, by name (a KubeArmorPolicy's
    /// `metadata.name`); `None` without rules or where none matched. The rule's severity (1 to
    /// 10), tags and message follow, each `None` where the rule gives none. Shared with the
    /// rule: marking an event allocates nothing.
    pub rule: Option<Arc<str>>,
    pub severity: Option<u8>,
    pub tags: Option<Arc<[String]>>,
    pub message: Option<Arc<str>>,
    /// Whether enrichment found the caller on the host, outside every container: in the host's
    /// own mount namespace, or in a private one of a host process (a service's PrivateTmp,
    /// `unshare -m`).
    #[serde(skip)]
    pub on_host: bool,
}

/// A system call's name, or its number where its arch's table has no name for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallName {
    pub nr: u32,
    pub name: Option<&'static str>,
}

impl SyscallName {
    pub fn of(arch: Arch, nr: u32) -> Self {
        Self {
            nr,
            name: arch.syscall_name(nr),
        }
    }
}

impl fmt::Display for SyscallName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.nr),
        }
    }
}

impl Serialize for SyscallName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.name {
            Some(name) => serializer.serialize_str(name),
            None => serializer.collect_str(&self.nr),
        }
    }
}

/// A container as its runtime describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Container {
    pub runtime: &'static str,
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// Host directories holding the container's files, the topmost first (Docker's overlay
    /// upper and lower directories): where a stack's modules are found once the process is
    /// gone.
    #[serde(skip)]
    pub file_dirs: Vec<PathBuf>,
}

/// Where kubelet ran a container, from the labels it sets on every container it creates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct K8s {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The pod's uid (`io.kubernetes.pod.uid`), which tells apart pods of the same name over
    /// time; null where the runtime's labels lack it.
    pub pod_uid: Option<String>,
}

impl Container {
    pub fn k8s(&self) -> Option<K8s> {
        let label = |key: &str| self.labels.get(key).cloned();
        Some(K8s {
            namespace: label("io.kubernetes.pod.namespace")?,
            pod: label("io.kubernetes.pod.name")?,
            container: label("io.kubernetes.container.name")?,
            pod_uid: label("io.kubernetes.pod.uid"),
        })
    }
}

impl Event {
    /// Names the event's container (or none), with its pod where kubelet ran it.
    pub fn set_container(&mut self, container: Option<Arc<Container>>) {
        self.k8s = container.as_deref().and_then(Container::k8s);
        self.container = container;
    }

    /// Takes the details of a call that `from`, another event of the same call, has: what a
    /// kernel program read beside what the kernel's audit record says. A detail `from` lacks
    /// keeps this event's value (the record's `ip` stays when the registers were unreadable),
    /// and `exe` is taken only where this event has none: the record's is the full path, the
    /// program's may be cut short.
    pub fn adopt_details(&mut self, from: &Event) {
        fn take<T: Clone>(into: &mut Option<T>, from: &Option<T>) {
            if from.is_some() {
                into.clone_from(from);
            }
        }
        take(&mut self.errno, &from.errno);
        take(&mut self.errno_name, &from.errno_name);
        take(&mut self.args, &from.args);
        take(&mut self.ip, &from.ip);
        take(&mut self.path, &from.path);
        take(&mut self.path_truncated, &from.path_truncated);
        take(&mut self.dirfd, &from.dirfd);
        if self.exe.is_none() {
            self.exe.clone_from(&from.exe);
        }
        take(&mut self.cmdline, &from.cmdline);
        take(&mut self.cmdline_truncated, &from.cmdline_truncated);
        take(&mut self.parent_comm, &from.parent_comm);
        take(&mut self.ns_pid, &from.ns_pid);
        take(&mut self.ns_ppid, &from.ns_ppid);
        take(&mut self.raw_stack, &from.raw_stack);
    }

    /// An event with every field present, the container's and pod's included: the fields
    /// `-o columns=` offers are read from it.
    pub fn example() -> Self {
        let labels = [
            ("io.kubernetes.pod.namespace", "default"),
            ("io.kubernetes.pod.name", "web-0"),
            ("io.kubernetes.container.name", "web"),
        ];
        let mut event = Self {
            timestamp: DateTime::UNIX_EPOCH,
            node: "node".into(),
            source: Source::Fentry,
            pid: 1,
            tid: Some(1),
            ppid: Some(1),
            uid: 0,
            gid: 0,
            comm: "comm".into(),
            mntns_id: Some(1),
            cgroup_id: Some(1),
            syscall: SyscallName::of(Arch::X86_64, 272),
            syscall_nr: 272,
            arch: Arch::X86_64,
            code: SeccompAction::KillThread,
            code_raw: 0,
            signal: Some(31),
            errno: Some(1),
            errno_name: Some("EPERM"),
            args: Some([0; 6]),
            ip: Some(0),
            path: Some("/".into()),
            path_truncated: Some(false),
            dirfd: Some(-100),
            exe: Some("/bin/sh".into()),
            cmdline: Some("sh".into()),
            cmdline_truncated: Some(false),
            parent_comm: Some("init".into()),
            ns_pid: Some(1),
            ns_ppid: Some(0),
            stack: Some(vec![Frame {
                ip: 0x5555_5555_1234,
                module: Some("/usr/local/bin/app".into()),
                build_id: Some("3f0c9d5e8a1b2c4d6e7f80910a1b2c3d4e5f6071".into()),
                file_offset: Some(0x1234),
                function: Some("open_config".into()),
                function_offset: Some(0x14),
                file: Some("src/config.c".into()),
                line: Some(42),
                inlined: false,
            }]),
            raw_stack: None,
            container: None,
            k8s: None,
            rule: Some("rule".into()),
            severity: Some(5),
            tags: Some(["tag".to_owned()].into()),
            message: Some("message".into()),
            on_host: false,
            summary: None,
        };
        event.set_container(Some(Arc::new(Container {
            runtime: "docker",
            id: "id".into(),
            name: "web".into(),
            image: "image".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            file_dirs: Vec::new(),
        })));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{sample_denial_event, sample_event};

    /// The kernel's audit record of a call: its exe and ip, none of the other details.
    fn audited() -> Event {
        let mut event = sample_event();
        event.source = Source::Audit;
        event.exe = Some("/usr/local/bin/mkdir".into());
        event.ip = Some(0x1234);
        event
    }

    #[test]
    fn adopts_the_details_a_kernel_program_read() {
        let details = sample_denial_event();
        let mut event = audited();
        event.adopt_details(&details);
        assert_eq!((event.errno, event.errno_name), (Some(13), Some("EACCES")));
        assert_eq!((event.args, event.ip), (details.args, details.ip));
        assert_eq!(event.path.as_deref(), Some("data"));
        assert_eq!(
            (event.path_truncated, event.dirfd),
            (Some(false), Some(-100))
        );
        assert_eq!(event.cmdline.as_deref(), Some("mkdir -p data"));
        assert_eq!(event.cmdline_truncated, Some(false));
        assert_eq!(event.parent_comm.as_deref(), Some("bash"));
        assert_eq!((event.ns_pid, event.ns_ppid), (Some(42), Some(1)));
        // The record's full path stays; what identifies the event is its own.
        assert_eq!(event.exe.as_deref(), Some("/usr/local/bin/mkdir"));
        assert_eq!(
            (event.source, event.comm.as_str(), event.syscall_nr),
            (Source::Audit, "unshare", 272)
        );
    }

    #[test]
    fn keeps_what_the_program_could_not_read() {
        let mut event = audited();
        event.adopt_details(&sample_event());
        assert_eq!(event, audited());
        let mut event = sample_event();
        event.adopt_details(&sample_denial_event());
        assert_eq!(
            event.exe.as_deref(),
            Some("/usr/bin/mkdir"),
            "no exe of its own"
        );
    }
}
