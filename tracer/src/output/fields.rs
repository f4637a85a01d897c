//! The fields an event has, named as in the JSON output, for `-o columns=...`.

use std::borrow::Cow;

use chrono::SecondsFormat;

use super::escape::Encoding;
use crate::events::Event;

/// One column. Names use the JSON's dotted form (`container.name`); the default column
/// `runtime.containername` is the name the seeds and other tools use for the container's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Timestamp,
    Node,
    Source,
    Pid,
    Tid,
    Ppid,
    Uid,
    Gid,
    Comm,
    MntnsId,
    CgroupId,
    Syscall,
    SyscallNr,
    Arch,
    Code,
    CodeRaw,
    Signal,
    RuntimeContainerName,
    ContainerRuntime,
    ContainerId,
    ContainerName,
    ContainerImage,
    K8sNamespace,
    K8sPod,
    K8sContainer,
}

pub const DEFAULT_COLUMNS: &[Field] = &[
    Field::RuntimeContainerName,
    Field::Pid,
    Field::Tid,
    Field::Comm,
    Field::Syscall,
    Field::Code,
];

/// Every field with its name and the minimum width of its column.
const TABLE: &[(Field, &str, usize)] = &[
    (Field::Timestamp, "timestamp", 30),
    (Field::Node, "node", 12),
    (Field::Source, "source", 6),
    (Field::Pid, "pid", 7),
    (Field::Tid, "tid", 7),
    (Field::Ppid, "ppid", 7),
    (Field::Uid, "uid", 5),
    (Field::Gid, "gid", 5),
    (Field::Comm, "comm", 15),
    (Field::MntnsId, "mntns_id", 10),
    (Field::CgroupId, "cgroup_id", 10),
    (Field::Syscall, "syscall", 15),
    (Field::SyscallNr, "syscall_nr", 10),
    (Field::Arch, "arch", 7),
    (Field::Code, "code", 12),
    (Field::CodeRaw, "code_raw", 10),
    (Field::Signal, "signal", 7),
    (Field::RuntimeContainerName, "runtime.containername", 22),
    (Field::ContainerRuntime, "container.runtime", 10),
    (Field::ContainerId, "container.id", 12),
    (Field::ContainerName, "container.name", 22),
    (Field::ContainerImage, "container.image", 20),
    (Field::K8sNamespace, "k8s.namespace", 16),
    (Field::K8sPod, "k8s.pod", 16),
    (Field::K8sContainer, "k8s.container", 16),
];

/// All field names, comma-separated, for error messages.
pub fn names() -> String {
    TABLE
        .iter()
        .map(|(_, name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Field {
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        TABLE
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(f, _, _)| *f)
    }

    fn entry(self) -> &'static (Field, &'static str, usize) {
        TABLE
            .iter()
            .find(|(f, _, _)| *f == self)
            .expect("every field is in the table")
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    pub fn min_width(self) -> usize {
        self.entry().2
    }

    /// The header: the name in capitals, as other tools of this kind print it.
    pub fn header(self) -> String {
        self.name().to_ascii_uppercase()
    }

    /// How [`Field::value`] is encoded. Listed one by one, so that a new field of untrusted
    /// bytes (an executable's path) has to say which it is.
    pub fn encoding(self) -> Encoding {
        match self {
            Field::Comm => Encoding::Visible,
            Field::Timestamp
            | Field::Node
            | Field::Source
            | Field::Pid
            | Field::Tid
            | Field::Ppid
            | Field::Uid
            | Field::Gid
            | Field::MntnsId
            | Field::CgroupId
            | Field::Syscall
            | Field::SyscallNr
            | Field::Arch
            | Field::Code
            | Field::CodeRaw
            | Field::Signal
            | Field::RuntimeContainerName
            | Field::ContainerRuntime
            | Field::ContainerId
            | Field::ContainerName
            | Field::ContainerImage
            | Field::K8sNamespace
            | Field::K8sPod
            | Field::K8sContainer => Encoding::Plain,
        }
    }

    /// The field's value as text (not yet escaped for a terminal); empty where there is none.
    pub fn value<'a>(self, event: &'a Event) -> Cow<'a, str> {
        let container = event.container.as_deref();
        let k8s = container.and_then(|c| c.k8s());
        let text = |value: Option<&'a str>| Cow::Borrowed(value.unwrap_or_default());
        match self {
            Field::Timestamp => event
                .timestamp
                .to_rfc3339_opts(SecondsFormat::Nanos, true)
                .into(),
            Field::Node => Cow::Borrowed(&event.node),
            Field::Source => event.source.as_str().into(),
            Field::Pid => event.pid.to_string().into(),
            Field::Tid => optional(event.tid),
            Field::Ppid => optional(event.ppid),
            Field::Uid => event.uid.to_string().into(),
            Field::Gid => event.gid.to_string().into(),
            Field::Comm => Cow::Borrowed(&event.comm),
            Field::MntnsId => optional(event.mntns_id),
            Field::CgroupId => optional(event.cgroup_id),
            Field::Syscall => event.syscall_display(),
            Field::SyscallNr => event.syscall_nr.to_string().into(),
            Field::Arch => optional(event.arch.label()),
            Field::Code => event.code.to_string().into(),
            Field::CodeRaw => format!("{:#x}", event.code_raw).into(),
            Field::Signal => event.signal_name().unwrap_or_default().into(),
            Field::RuntimeContainerName | Field::ContainerName => {
                text(container.map(|c| c.name.as_str()))
            }
            Field::ContainerRuntime => text(container.map(|c| c.runtime)),
            Field::ContainerId => text(container.map(|c| c.id.as_str())),
            Field::ContainerImage => text(container.map(|c| c.image.as_str())),
            Field::K8sNamespace => text(k8s.map(|k| k.namespace)),
            Field::K8sPod => text(k8s.map(|k| k.pod)),
            Field::K8sContainer => text(k8s.map(|k| k.container)),
        }
    }
}

fn optional(value: Option<impl ToString>) -> Cow<'static, str> {
    value.map_or(Cow::Borrowed(""), |v| v.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_round_trips_through_its_name() {
        for (field, name, _) in TABLE {
            assert_eq!(Field::from_name(name), Some(*field));
            assert_eq!(field.name(), *name);
        }
        assert_eq!(Field::from_name("SYSCALL"), Some(Field::Syscall));
    }

    #[test]
    fn an_undetected_arch_is_an_empty_column() {
        let mut event = crate::test_support::sample_event();
        assert_eq!(Field::Arch.value(&event), "x86_64");
        event.arch = crate::events::Arch::Undetected;
        assert_eq!(Field::Arch.value(&event), "");
    }
}
