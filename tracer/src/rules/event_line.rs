//! tracer's JSON event lines (`-o json`, `--output-file`) as `tracer rules test` reads them: the
//! fields rules match on.

use std::{collections::BTreeMap, path::Path};

use serde::Deserialize;

use super::facts::Facts;
use crate::{
    events::{Arch, SeccompAction},
    profile::{
        arch_names,
        events_file::{self, EventsError},
    },
};

#[derive(Clone, Debug, Deserialize)]
pub struct EventLine {
    #[serde(default)]
    pub arch: Option<String>,
    /// The name, or the number where the table has none.
    pub syscall: serde_json::Value,
    pub syscall_nr: u32,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub errno: Option<i32>,
    #[serde(default)]
    pub exe: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub container: Option<LineContainer>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LineContainer {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl EventLine {
    pub fn syscall_text(&self) -> String {
        match &self.syscall {
            serde_json::Value::String(name) => name.clone(),
            other => other.to_string(),
        }
    }
}

const CODES: [SeccompAction; 8] = [
    SeccompAction::KillProcess,
    SeccompAction::KillThread,
    SeccompAction::Trap,
    SeccompAction::Errno,
    SeccompAction::UserNotif,
    SeccompAction::Trace,
    SeccompAction::Log,
    SeccompAction::Allow,
];

impl Facts for EventLine {
    fn container_name(&self) -> Option<&str> {
        self.container.as_ref().map(|c| c.name.as_str())
    }

    fn image(&self) -> Option<&str> {
        self.container.as_ref().map(|c| c.image.as_str())
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.container.as_ref()?.labels.get(key).map(String::as_str)
    }

    fn arch(&self) -> Arch {
        self.arch
            .as_deref()
            .and_then(arch_names::from_event_name)
            .unwrap_or(Arch::Undetected)
    }

    fn syscall_nr(&self) -> u32 {
        self.syscall_nr
    }

    fn code(&self) -> SeccompAction {
        let name = self.code.as_deref();
        CODES
            .into_iter()
            .find(|code| code.name() == name)
            .unwrap_or(SeccompAction::Unknown(0))
    }

    fn errno(&self) -> Option<i32> {
        self.errno
    }

    fn exe(&self) -> Option<&str> {
        self.exe.as_deref()
    }

    fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    fn uid(&self) -> u32 {
        self.uid
    }
}

/// Every event of the file with its line number; blank lines are skipped.
pub fn read(path: &Path) -> Result<Vec<(usize, EventLine)>, EventsError> {
    events_file::read_numbered(path)
}
