//! Decoded events: what the kernel reported, in meaningful types.

pub mod action;
pub mod arch;
pub mod audit_record;
pub mod clock;
pub mod decode;
pub mod text;

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};

pub use action::SeccompAction;
pub use arch::Arch;
pub use decode::Decoder;

/// Which event source reported an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Fentry,
    Kprobe,
    /// The kernel's own audit record.
    Audit,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Fentry => "fentry",
            Source::Kprobe => "kprobe",
            Source::Audit => "audit",
        }
    }
}

/// A system call that seccomp logged, refused or killed.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
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
    pub syscall_nr: u32,
    pub arch: Arch,
    /// The system call's name in `arch`'s table; `None` for numbers the table does not know.
    pub syscall: Option<&'static str>,
    pub code: SeccompAction,
    pub code_raw: u32,
    /// Signal number the action delivers, `None` for none.
    pub signal: Option<i32>,
    /// The container the caller runs in, once enrichment has named it.
    pub container: Option<Arc<Container>>,
    /// Whether enrichment found the caller on the host, outside every container: in the host's
    /// own mount namespace, or in a private one of a host process (a service's PrivateTmp,
    /// `unshare -m`).
    pub on_host: bool,
}

/// A container as its runtime describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    pub runtime: &'static str,
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
}

/// Where kubelet ran a container, from the labels it sets on every container it creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct K8s<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
}

impl Container {
    pub fn k8s(&self) -> Option<K8s<'_>> {
        let label = |key: &str| self.labels.get(key).map(String::as_str);
        Some(K8s {
            namespace: label("io.kubernetes.pod.namespace")?,
            pod: label("io.kubernetes.pod.name")?,
            container: label("io.kubernetes.container.name")?,
        })
    }
}

impl Event {
    /// The signal's name (`SIGSYS`), or its number where it has none.
    pub fn signal_name(&self) -> Option<String> {
        self.signal.map(|signo| {
            nix::sys::signal::Signal::try_from(signo)
                .map(|signal| signal.as_str().to_owned())
                .unwrap_or_else(|_| signo.to_string())
        })
    }

    /// The syscall's name, or its number where the table has no name for it.
    pub fn syscall_display(&self) -> std::borrow::Cow<'static, str> {
        match self.syscall {
            Some(name) => name.into(),
            None => self.syscall_nr.to_string().into(),
        }
    }
}
