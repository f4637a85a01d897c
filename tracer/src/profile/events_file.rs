//! Reading tracer's own JSON event lines (`tracer audit seccomp -o json`), as far as profiles
//! need them.

use std::{
    collections::BTreeMap,
    io::BufRead as _,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::events::Arch;

use super::{
    arch_names,
    recording::{RecordedGroup, Recording},
};

/// The group of events made outside any container.
pub const HOST: &str = "host";

/// The fields of an event line profiles use; the others are ignored.
#[derive(Clone, Debug, Deserialize)]
pub struct EventLine {
    #[serde(default, deserialize_with = "rfc3339")]
    pub timestamp: Option<DateTime<Utc>>,
    pub arch: Option<String>,
    /// The name, or the number where the table has no name.
    pub syscall: serde_json::Value,
    pub syscall_nr: u32,
    #[serde(default)]
    pub args: Option<[u64; 6]>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub container: Option<ContainerRef>,
    /// On a summary event (`--dedup`, `--rate-limit`): the calls it stands for.
    #[serde(default)]
    pub summary: Option<HeldBack>,
}

/// What a summary event counts, as far as recordings need it.
#[derive(Clone, Debug, Deserialize)]
pub struct HeldBack {
    pub count: u64,
    #[serde(default, deserialize_with = "rfc3339")]
    pub first: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ContainerRef {
    pub id: Option<String>,
    pub name: Option<String>,
    pub image: Option<String>,
}

impl EventLine {
    /// The architecture, `Undetected` where the event has none and `Unknown` for a raw value.
    pub fn arch(&self) -> Arch {
        match &self.arch {
            None => Arch::Undetected,
            Some(name) => arch_names::from_event_name(name).unwrap_or_else(|| {
                let raw = name.trim_start_matches("0x");
                u32::from_str_radix(raw, 16).map_or(Arch::Undetected, Arch::Unknown)
            }),
        }
    }

    /// How many calls the line stands for: one, or a summary's count.
    pub fn calls(&self) -> u64 {
        self.summary.as_ref().map_or(1, |held| held.count)
    }

    /// When the first call it stands for was made.
    pub fn first_time(&self) -> Option<DateTime<Utc>> {
        match &self.summary {
            Some(held) => held.first,
            None => self.timestamp,
        }
    }

    /// The call's name, where the event has one.
    pub fn syscall_name(&self) -> Option<&str> {
        self.syscall
            .as_str()
            .filter(|name| !name.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The container's name, or [`HOST`].
    pub fn group_name(&self) -> &str {
        self.container
            .as_ref()
            .and_then(|c| c.name.as_deref())
            .unwrap_or(HOST)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("cannot read the events file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}:{line}: not a tracer event: {message} (the file should hold the lines of \
         `tracer audit seccomp -o json`)",
        path.display()
    )]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Every event in the file, in order; blank lines are skipped.
pub fn read(path: &Path) -> Result<Vec<EventLine>, EventsError> {
    Ok(read_numbered(path)?
        .into_iter()
        .map(|(_, event)| event)
        .collect())
}

/// Every line of tracer's JSON events in the file as `T` (the fields its reader needs), with
/// its line number; blank lines are skipped.
pub fn read_numbered<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Vec<(usize, T)>, EventsError> {
    let read_error = |source| EventsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut events = Vec::new();
    for (at, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(read_error)?;
        if line.trim().is_empty() {
            continue;
        }
        let event = serde_json::from_str(&line).map_err(|error| EventsError::Malformed {
            path: path.to_owned(),
            line: at + 1,
            message: error.to_string(),
        })?;
        events.push((at + 1, event));
    }
    Ok(events)
}

/// What a recording could not use: calls tracer could not name (no architecture, or a number
/// the table has no name for), which no profile can list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unnamed {
    pub events: u64,
}

/// The calls of each container (and of the host) in the events, each event one call and each
/// summary event the calls it counts.
pub fn recordings(events: &[EventLine]) -> (Vec<RecordedGroup>, Unnamed) {
    let mut groups: BTreeMap<&str, RecordedGroup> = BTreeMap::new();
    let mut unnamed = Unnamed::default();
    for event in events {
        let arch = event.arch();
        let (Some(name), Some(_)) = (event.syscall_name(), arch_names::to_scmp(arch)) else {
            unnamed.events += 1;
            continue;
        };
        let group = groups.entry(event.group_name()).or_insert_with(|| {
            let container = event.container.as_ref();
            RecordedGroup {
                name: event.group_name().to_owned(),
                container_id: container.and_then(|c| c.id.clone()),
                image: container.and_then(|c| c.image.clone()),
                recording: Recording::default(),
            }
        });
        group
            .recording
            .add(arch, name, event.calls(), event.first_time());
    }
    (groups.into_values().collect(), unnamed)
}

fn rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|time| Some(time.with_timezone(&Utc)))
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Call, CheckContext, Checker, Verdict};

    const EVENTS: &str = r#"{"timestamp":"2026-11-23T22:41:07.123456789Z","syscall":"mkdirat","syscall_nr":258,"arch":"x86_64","code":"log","args":[1,2,3,4,5,6],"container":{"runtime":"docker","id":"4f3c","name":"web","image":"nginx","labels":{}}}
{"timestamp":"2026-11-23T22:41:08Z","syscall":"mkdirat","syscall_nr":258,"arch":"x86_64","code":"log","args":null,"container":{"runtime":"docker","id":"4f3c","name":"web","image":"nginx","labels":{}}}

{"timestamp":"2026-11-23T22:41:09Z","syscall":"getpid","syscall_nr":20,"arch":"i386","code":"log","args":null,"container":null}
{"timestamp":"2026-11-23T22:41:09Z","syscall":"999","syscall_nr":999,"arch":"x86_64","code":"log","args":null,"container":null}
{"type":"summary","summary":{"reason":"dedup","count":40,"first":"2026-11-23T22:41:05Z","last":"2026-11-23T22:41:06Z","pids":[7]},"timestamp":"2026-11-23T22:41:09Z","syscall":"mkdirat","syscall_nr":258,"arch":"x86_64","code":"log","args":null,"container":{"runtime":"docker","id":"4f3c","name":"web","image":"nginx","labels":{}}}
"#;

    fn events() -> Vec<EventLine> {
        let path = std::env::temp_dir().join(format!("tracer-events-{}.jsonl", std::process::id()));
        std::fs::write(&path, EVENTS).unwrap();
        let events = read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        events
    }

    #[test]
    fn recorded_profiles_allow_every_recorded_call() {
        let events = events();
        let (groups, unnamed) = recordings(&events);
        assert_eq!(unnamed.events, 1);
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, [HOST, "web"]);
        let web = &groups[1].recording.calls[&Arch::X86_64]["mkdirat"];
        // Two calls, and a summary of 40 whose first call came before them.
        assert_eq!(web.count, 42);
        assert_eq!(
            web.first_seen.unwrap().to_rfc3339(),
            "2026-11-23T22:41:05+00:00"
        );
        let ctx = CheckContext {
            native: Arch::X86_64,
            ..CheckContext::of_this_host()
        };
        for group in &groups {
            let profile = group.recording.to_profile();
            let json = crate::profile::write::docker_json(&profile);
            let reread =
                crate::profile::load::parse(std::str::from_utf8(&json).unwrap(), "p.json".as_ref())
                    .unwrap();
            let checker = Checker::new(&reread, ctx.clone()).unwrap();
            for (arch, calls) in &group.recording.calls {
                for name in calls.keys() {
                    let nr = crate::profile::arch_names::syscall_number(*arch, name).unwrap();
                    let call = Call {
                        arch: *arch,
                        syscall: Some(name),
                        nr,
                        args: None,
                    };
                    assert_eq!(checker.decide(&call), Verdict::Allowed, "{arch} {name}");
                }
            }
        }
        let calls = crate::profile::write::calls_json(&groups[1].recording);
        let calls: serde_json::Value = serde_json::from_slice(&calls).unwrap();
        assert_eq!(calls["x86_64"]["mkdirat"]["count"], 42);
        assert_eq!(
            calls["x86_64"]["mkdirat"]["first_seen"],
            "2026-11-23T22:41:05.000000000Z"
        );
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let path =
            std::env::temp_dir().join(format!("tracer-bad-events-{}.jsonl", std::process::id()));
        std::fs::write(&path, "{\"syscall\":\"read\",\"syscall_nr\":0}\nnot json\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains(".jsonl:2: not a tracer event"), "{err}");
    }
}
