//! The calls a workload made, and the profile that allows exactly those.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::events::Arch;

use super::{
    arch_names,
    model::{Action, Profile, Rule},
};

/// How often a call was made, and when first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    pub count: u64,
    #[serde(serialize_with = "optional_timestamp")]
    pub first_seen: Option<DateTime<Utc>>,
}

fn optional_timestamp<S: serde::Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => crate::events::json::timestamp(time, serializer),
        None => serializer.serialize_none(),
    }
}

/// Calls per architecture and name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    pub calls: BTreeMap<Arch, BTreeMap<String, CallStats>>,
}

impl Recording {
    pub fn add(&mut self, arch: Arch, name: &str, count: u64, first_seen: Option<DateTime<Utc>>) {
        let stats = self
            .calls
            .entry(arch)
            .or_default()
            .entry(name.to_owned())
            .or_default();
        stats.count += count;
        stats.first_seen = match (stats.first_seen, first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    pub fn absorb(&mut self, other: &Recording) {
        for (arch, calls) in &other.calls {
            for (name, stats) in calls {
                self.add(*arch, name, stats.count, stats.first_seen);
            }
        }
    }

    /// A profile that refuses with EPERM everything but the recorded calls, in the
    /// architectures they were made in. Architectures libseccomp has no name for are left out.
    pub fn to_profile(&self) -> Profile {
        let arches: Vec<String> = self
            .calls
            .keys()
            .filter_map(|arch| arch_names::to_scmp(*arch))
            .map(str::to_owned)
            .collect();
        let names: BTreeSet<&String> = self
            .calls
            .iter()
            .filter(|(arch, _)| arch_names::to_scmp(**arch).is_some())
            .flat_map(|(_, calls)| calls.keys())
            .collect();
        Profile {
            default_action: Action::Errno,
            default_errno_ret: Some(libc::EPERM as u32),
            architectures: Some(arches),
            syscalls: vec![Rule {
                names: Some(names.into_iter().cloned().collect()),
                action: Action::Allow,
                ..Rule::default()
            }],
            ..Profile::default()
        }
    }

    /// The calls file written beside a profile: `{arch: {syscall: {count, first_seen}}}`.
    pub fn calls_by_arch_name(&self) -> BTreeMap<String, &BTreeMap<String, CallStats>> {
        self.calls
            .iter()
            .map(|(arch, calls)| (arch.to_string(), calls))
            .collect()
    }
}

/// The calls of one container (or of the host), as a recording source hands them over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordedGroup {
    /// The container's name, or `host`.
    pub name: String,
    pub container_id: Option<String>,
    pub image: Option<String>,
    pub recording: Recording,
}

/// Values of `profile record --merge`: which containers share a profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MergeMode {
    /// One profile per container.
    #[default]
    None,
    /// One profile for all containers together.
    Containers,
    /// One profile per image.
    Image,
}

/// The groups profiles are written for, each with the file stem its files get.
pub fn group(groups: Vec<RecordedGroup>, mode: MergeMode) -> Vec<(String, RecordedGroup)> {
    let mut merged: BTreeMap<String, RecordedGroup> = BTreeMap::new();
    for group in groups {
        let key = match mode {
            MergeMode::None => group.name.clone(),
            MergeMode::Containers => "containers".to_owned(),
            MergeMode::Image => group.image.clone().unwrap_or_else(|| group.name.clone()),
        };
        let entry = merged.entry(key.clone()).or_insert_with(|| RecordedGroup {
            name: key.clone(),
            container_id: None,
            image: None,
            recording: Recording::default(),
        });
        if mode == MergeMode::None {
            entry.container_id = group.container_id.clone();
            entry.image = group.image.clone();
        } else if mode == MergeMode::Image {
            entry.image = group.image.clone();
        }
        entry.recording.absorb(&group.recording);
    }
    merged
        .into_iter()
        .map(|(key, group)| (file_stem(&key), group))
        .collect()
}

/// A name made safe for a file: only `[A-Za-z0-9._-]`, never `.` or `..`, never hidden.
pub fn file_stem(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() {
        "unnamed".to_owned()
    } else {
        safe.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_allow_what_was_recorded_in_its_architectures() {
        let mut recording = Recording::default();
        recording.add(Arch::I386, "read", 2, None);
        recording.add(Arch::X86_64, "write", 1, None);
        recording.add(Arch::X86_64, "read", 1, None);
        let profile = recording.to_profile();
        assert_eq!(
            profile.architectures.as_deref().unwrap(),
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
        );
        assert_eq!(
            profile.syscalls[0].names.as_deref().unwrap(),
            ["read", "write"]
        );
        assert_eq!(profile.default_errno_ret, Some(1));
    }

    #[test]
    fn arm32_calls_on_arm64_add_the_arm_architecture() {
        let mut recording = Recording::default();
        recording.add(Arch::Aarch64, "write", 1, None);
        let native_only = recording.to_profile();
        assert_eq!(
            native_only.architectures.as_deref().unwrap(),
            ["SCMP_ARCH_AARCH64"]
        );
        recording.add(Arch::Arm, "getppid", 1, None);
        let profile = recording.to_profile();
        assert_eq!(
            profile.architectures.as_deref().unwrap(),
            ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
        );
        assert_eq!(
            profile.syscalls[0].names.as_deref().unwrap(),
            ["getppid", "write"]
        );
    }

    #[test]
    fn groups_follow_the_merge_mode() {
        let group = |name: &str, image: &str| {
            let mut recording = Recording::default();
            recording.add(Arch::X86_64, name, 1, None);
            RecordedGroup {
                name: name.into(),
                container_id: None,
                image: Some(image.into()),
                recording,
            }
        };
        let all = || {
            vec![
                group("a", "nginx:1.27"),
                group("b", "nginx:1.27"),
                group("c", "redis"),
            ]
        };
        assert_eq!(group_stems(all(), MergeMode::None), ["a", "b", "c"]);
        assert_eq!(
            group_stems(all(), MergeMode::Image),
            ["nginx_1.27", "redis"]
        );
        let one = super::group(all(), MergeMode::Containers);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].1.recording.calls[&Arch::X86_64].len(), 3);
    }

    fn group_stems(groups: Vec<RecordedGroup>, mode: MergeMode) -> Vec<String> {
        super::group(groups, mode)
            .into_iter()
            .map(|(s, _)| s)
            .collect()
    }

    #[test]
    fn stems_are_safe_file_names() {
        assert_eq!(file_stem("../etc/passwd"), "_etc_passwd");
        assert_eq!(
            file_stem("docker.io/library/nginx:1.27"),
            "docker.io_library_nginx_1.27"
        );
        assert_eq!(file_stem(".."), "unnamed");
    }
}
