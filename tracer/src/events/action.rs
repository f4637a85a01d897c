//! Seccomp actions (`SECCOMP_RET_*`), named as users know them.

use std::fmt;

/// The action part of a seccomp return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeccompAction {
    KillProcess,
    KillThread,
    Trap,
    Errno,
    UserNotif,
    Trace,
    Log,
    Allow,
    /// An action this tracer does not know, kept as the raw action bits.
    Unknown(u32),
}

/// `SECCOMP_RET_ACTION_FULL`: the action is the high 16 bits, the low 16 are its data.
const ACTION_MASK: u32 = 0xffff_0000;

impl From<u32> for SeccompAction {
    fn from(code: u32) -> Self {
        match code & ACTION_MASK {
            0x8000_0000 => Self::KillProcess,
            0x0000_0000 => Self::KillThread,
            0x0003_0000 => Self::Trap,
            0x0005_0000 => Self::Errno,
            0x7fc0_0000 => Self::UserNotif,
            0x7ff0_0000 => Self::Trace,
            0x7ffc_0000 => Self::Log,
            0x7fff_0000 => Self::Allow,
            other => Self::Unknown(other),
        }
    }
}

impl SeccompAction {
    /// The name used in output; `None` for unknown actions.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::KillProcess => "kill_process",
            Self::KillThread => "kill_thread",
            Self::Trap => "trap",
            Self::Errno => "errno",
            Self::UserNotif => "user_notif",
            Self::Trace => "trace",
            Self::Log => "log",
            Self::Allow => "allow",
            Self::Unknown(_) => return None,
        })
    }
}

/// The action's name, or its raw value in hex, as a string.
impl serde::Serialize for SeccompAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(name) => serializer.serialize_str(name),
            None => serializer.collect_str(self),
        }
    }
}

impl fmt::Display for SeccompAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Self::Unknown(bits)) => write!(f, "{bits:#010x}"),
            (None, _) => unreachable!("every known action has a name"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_action_and_ignores_its_data() {
        let cases = [
            (0x8000_0000, "kill_process"),
            (0x0000_0000, "kill_thread"),
            (0x0003_0000, "trap"),
            (0x0005_0001, "errno"),
            (0x7fc0_0000, "user_notif"),
            (0x7ff0_0005, "trace"),
            (0x7ffc_0000, "log"),
            (0x7fff_0000, "allow"),
        ];
        for (code, name) in cases {
            assert_eq!(
                SeccompAction::from(code).to_string(),
                name,
                "code {code:#x}"
            );
        }
    }

    #[test]
    fn shows_unknown_actions_as_hex() {
        assert_eq!(SeccompAction::from(0x1234_5678).to_string(), "0x12340000");
    }
}
