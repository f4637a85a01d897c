//! Reading a profile from a file, with errors that say where the file is wrong and how to fix
//! it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use thiserror::Error;

use super::{
    arch_names,
    model::{PROFILE_KEYS, Profile, RULE_KEYS},
};

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("cannot read the seccomp profile {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// serde_json's message already ends with the line and column.
    #[error(
        "{} is not a seccomp profile: {message}; fix it there (Docker's and the OCI runtime \
         spec's formats are read)",
        path.display()
    )]
    Malformed {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("{}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: Invalid },
}

/// What is wrong in a profile that parses.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Invalid {
    #[error(
        "it has both `architectures` and `archMap`: keep one (`archMap` lets Docker choose by \
         the host's architecture)"
    )]
    ArchitecturesAndArchMap,
    #[error("rule #{rule} (syscalls[{index}]) has both `name` and `names`: keep `names`", rule = index + 1)]
    NameAndNames { index: usize },
    #[error("rule #{rule} (syscalls[{index}]) names no system call: give it `names`", rule = index + 1)]
    NoName { index: usize },
    #[error(
        "rule #{rule} (syscalls[{index}]) compares argument {arg}: system calls have 6, \
         numbered 0 to 5",
        rule = index + 1
    )]
    ArgIndex { index: usize, arg: u32 },
    #[error("unknown architecture {name:?}: use libseccomp's names, such as SCMP_ARCH_X86_64")]
    UnknownArch { name: String },
}

impl ProfileError {
    /// Where in the file a malformed profile went wrong, for tests and editors.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        match self {
            Self::Malformed { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}

/// Reads and checks the profile at `path`.
pub fn load(path: &Path) -> Result<Profile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// Reads and checks a profile's text; `path` only names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<Profile, ProfileError> {
    let mut profile: Profile =
        serde_json::from_str(text).map_err(|error| ProfileError::Malformed {
            path: path.to_owned(),
            message: error.to_string(),
            line: error.line(),
            column: error.column(),
        })?;
    // The typed read succeeded, so the text is valid JSON: this second read cannot fail.
    if let Ok(Value::Object(raw)) = serde_json::from_str::<Value>(text) {
        keep_unknown_fields(&mut profile, raw);
    }
    validate(&profile).map_err(|problem| ProfileError::Invalid {
        path: path.to_owned(),
        problem,
    })?;
    Ok(profile)
}

fn keep_unknown_fields(profile: &mut Profile, mut raw: serde_json::Map<String, Value>) {
    if let Some(Value::Array(rules)) = raw.get_mut("syscalls") {
        for (rule, raw_rule) in profile.syscalls.iter_mut().zip(rules) {
            if let Value::Object(fields) = raw_rule {
                fields.retain(|key, _| !RULE_KEYS.contains(&key.as_str()));
                rule.extra = std::mem::take(fields);
            }
        }
    }
    raw.retain(|key, _| !PROFILE_KEYS.contains(&key.as_str()));
    profile.extra = raw;
}

fn validate(profile: &Profile) -> Result<(), Invalid> {
    if profile.architectures.is_some() && profile.arch_map.is_some() {
        return Err(Invalid::ArchitecturesAndArchMap);
    }
    let listed = profile.architectures.iter().flatten();
    let mapped = profile.arch_map.iter().flatten().flat_map(|entry| {
        std::iter::once(&entry.architecture).chain(entry.sub_architectures.iter().flatten())
    });
    if let Some(name) = listed.chain(mapped).find(|n| !arch_names::is_scmp_name(n)) {
        return Err(Invalid::UnknownArch { name: name.clone() });
    }
    for (index, rule) in profile.syscalls.iter().enumerate() {
        if rule.name.is_some() && rule.names.is_some() {
            return Err(Invalid::NameAndNames { index });
        }
        if rule.syscall_names().next().is_none() {
            return Err(Invalid::NoName { index });
        }
        if let Some(cmp) = rule.comparisons().iter().find(|cmp| cmp.index > 5) {
            return Err(Invalid::ArgIndex {
                index,
                arg: cmp.index,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/profiles")
            .join(name)
    }

    #[test]
    fn every_vendored_profile_parses() {
        let dir = testdata("");
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let profile = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!profile.syscalls.is_empty(), "{}", path.display());
                count += 1;
            }
        }
        assert_eq!(count, 4, "the four moby profiles in {}", dir.display());
    }

    #[test]
    fn malformed_profiles_name_the_file_line_and_column() {
        let text = "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALOW\"}\n  ]\n}\n";
        let err = parse(text, Path::new("p.json")).unwrap_err();
        assert_eq!(err.line_column(), Some((4, 49)));
        let message = err.to_string();
        assert!(
            message.starts_with("p.json is not a seccomp profile"),
            "{message}"
        );
        assert!(message.contains("SCMP_ACT_ALOW"), "{message}");
        assert!(message.contains("line 4 column 49"), "{message}");
        assert_eq!(message.matches("line 4").count(), 1, "{message}");
    }

    #[test]
    fn unknown_ops_are_errors() {
        let text = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}"#;
        let err = parse(text, Path::new("p.json")).unwrap_err().to_string();
        assert!(err.contains("unknown variant `SCMP_CMP_XX`"), "{err}");
    }

    #[test]
    fn conflicting_forms_are_errors() {
        let both_names = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let err = parse(both_names, Path::new("p.json")).unwrap_err();
        assert!(
            matches!(
                &err,
                ProfileError::Invalid {
                    problem: Invalid::NameAndNames { index: 0 },
                    ..
                }
            ),
            "{err}"
        );
        let both_arches = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[],"syscalls":[]}"#;
        let err = parse(both_arches, Path::new("p.json")).unwrap_err();
        assert!(err.to_string().contains("keep one"), "{err}");
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"defaultAction":"SCMP_ACT_ERRNO","x-future":{"a":1},"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","x-note":"kept"}]}"#;
        let profile = parse(text, Path::new("p.json")).unwrap();
        let written = serde_json::to_value(&profile).unwrap();
        assert_eq!(written["x-future"]["a"], 1);
        assert_eq!(written["syscalls"][0]["x-note"], "kept");
        let again: Profile = serde_json::from_value(written).unwrap();
        assert_eq!(again.syscalls[0].names, profile.syscalls[0].names);
    }
}
