//! A seccomp profile as Docker and the OCI runtime spec write it.
//!
//! One set of types reads both: Docker's (`names`, `archMap`, `includes`/`excludes`) and the
//! runtime spec's (`architectures`, `flags`, `listenerPath`). Fields this version does not know
//! are kept in `extra` and written back, so a profile read and written again loses nothing a
//! newer runtime might need. They are skipped while deserializing (a flattened map would make
//! serde buffer the object and lose the line and column of errors inside it) and filled in
//! afterwards by [`load`](super::load).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch_map: Option<Vec<ArchMapEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    /// `null` in some profiles: read as no rules.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub syscalls: Vec<Rule>,
    #[serde(flatten, skip_deserializing)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// The old format's single name; [`load`](super::load) refuses a rule with both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<ArgCmp>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Filter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Filter>,
    #[serde(flatten, skip_deserializing)]
    pub extra: Map<String, Value>,
}

impl Rule {
    /// The system calls the rule names, whichever form it uses.
    pub fn syscall_names(&self) -> impl Iterator<Item = &str> {
        self.name
            .iter()
            .map(String::as_str)
            .chain(self.names.iter().flatten().map(String::as_str))
    }

    pub fn comparisons(&self) -> &[ArgCmp] {
        self.args.as_deref().unwrap_or_default()
    }

    /// The rule without its conditions on capabilities, architecture and kernel.
    pub fn is_conditional(&self) -> bool {
        self.includes.as_ref().is_some_and(|f| !f.is_empty())
            || self.excludes.as_ref().is_some_and(|f| !f.is_empty())
    }
}

/// Docker's conditions on a rule: the container's capabilities, the host's architecture (in
/// Docker's naming: `amd64`, `arm64`...) and its kernel (`"4.8"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// One comparison of an argument register with a value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgCmp {
    pub index: u32,
    pub value: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_two: Option<u64>,
    pub op: Op,
}

impl ArgCmp {
    /// Whether the argument's value passes the comparison, compared as the unsigned 64-bit
    /// value libseccomp compares.
    pub fn holds(&self, arg: u64) -> bool {
        let value = self.value;
        match self.op {
            Op::NotEqual => arg != value,
            Op::Less => arg < value,
            Op::LessOrEqual => arg <= value,
            Op::Equal => arg == value,
            Op::GreaterOrEqual => arg >= value,
            Op::Greater => arg > value,
            Op::MaskedEqual => arg & value == self.value_two.unwrap_or(0),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "SCMP_CMP_NE")]
    NotEqual,
    #[serde(rename = "SCMP_CMP_LT")]
    Less,
    #[serde(rename = "SCMP_CMP_LE")]
    LessOrEqual,
    #[serde(rename = "SCMP_CMP_EQ")]
    Equal,
    #[serde(rename = "SCMP_CMP_GE")]
    GreaterOrEqual,
    #[serde(rename = "SCMP_CMP_GT")]
    Greater,
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEqual,
}

/// What a filter does with a call. `SCMP_ACT_KILL` is kept apart from `SCMP_ACT_KILL_THREAD`
/// (the same action) so that a profile is written back as it was read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    #[default]
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_KILL")]
    Kill,
    #[serde(rename = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

impl Action {
    /// The name profiles use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "SCMP_ACT_ALLOW",
            Self::Errno => "SCMP_ACT_ERRNO",
            Self::Kill => "SCMP_ACT_KILL",
            Self::KillThread => "SCMP_ACT_KILL_THREAD",
            Self::KillProcess => "SCMP_ACT_KILL_PROCESS",
            Self::Trap => "SCMP_ACT_TRAP",
            Self::Trace => "SCMP_ACT_TRACE",
            Self::Log => "SCMP_ACT_LOG",
            Self::Notify => "SCMP_ACT_NOTIFY",
        }
    }

    /// Whether the call goes on (the kernel may log it).
    pub fn lets_through(self) -> bool {
        matches!(self, Self::Allow | Self::Log)
    }

    /// The errno a call gets when the action carries none: runc's EPERM, for `errno` and for
    /// `trace` without a tracer.
    pub fn default_errno(self) -> Option<u32> {
        matches!(self, Self::Errno | Self::Trace).then_some(libc::EPERM as u32)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The keys [`Profile`] and [`Rule`] read themselves: the others are kept in their `extra`.
pub(super) const PROFILE_KEYS: &[&str] = &[
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "archMap",
    "flags",
    "listenerPath",
    "listenerMetadata",
    "syscalls",
];
pub(super) const RULE_KEYS: &[&str] = &[
    "name", "names", "action", "errnoRet", "args", "comment", "includes", "excludes",
];
