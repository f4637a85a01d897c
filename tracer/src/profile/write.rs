//! Writing profiles: Docker's JSON or the Security Profiles Operator's `SeccompProfile`, each
//! file whole or not at all.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{
    context::CheckContext,
    evaluate::{self, CheckError},
    model::{ArgCmp, Profile},
    recording::Recording,
};

/// Values of `profile record -o`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileFormat {
    /// Docker's seccomp JSON (`docker run --security-opt seccomp=FILE`).
    #[default]
    Docker,
    /// A Security Profiles Operator `SeccompProfile` resource, as YAML.
    Kubernetes,
}

impl ProfileFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Docker => "json",
            Self::Kubernetes => "yaml",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {}: check that the directory exists and is writable", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the profile for {}", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Resolve(#[from] CheckError),
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never a part:
/// a temporary file in the same directory, synced, renamed over it, and the directory synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(io)
}

/// The profile as Docker reads it, indented, with a final newline.
pub fn docker_json(profile: &Profile) -> Vec<u8> {
    // Serializing these types to a Vec cannot fail: every map key is a string.
    let mut bytes = serde_json::to_vec_pretty(profile).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The calls file written beside a recorded profile.
pub fn calls_json(recording: &Recording) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&recording.calls_by_arch_name()).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeccompProfileResource<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: Spec<'a>,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec<'a> {
    default_action: &'static str,
    architectures: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<&'a Vec<String>>,
    syscalls: Vec<SpecRule<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpecRule<'a> {
    action: &'static str,
    names: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errno_ret: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    args: &'a [ArgCmp],
}

/// The profile as a Security Profiles Operator `SeccompProfile`. The operator knows no
/// `includes`/`excludes` or `archMap`, so they are resolved first for `ctx`, as Docker would
/// resolve them on that host.
pub fn kubernetes_yaml(
    profile: &Profile,
    name: &str,
    ctx: &CheckContext,
    path: &Path,
) -> Result<Vec<u8>, WriteError> {
    let arches = evaluate::filter_arches(profile, ctx.native)
        .filter_map(super::arch_names::to_scmp)
        .collect();
    let mut syscalls = Vec::new();
    for (index, rule) in profile.syscalls.iter().enumerate() {
        if !evaluate::applies(rule, index, ctx)? {
            continue;
        }
        syscalls.push(SpecRule {
            action: rule.action.as_str(),
            names: rule.syscall_names().collect(),
            errno_ret: rule.errno_ret,
            args: rule.comparisons(),
        });
    }
    let resource = SeccompProfileResource {
        api_version: "security-profiles-operator.x-k8s.io/v1beta1",
        kind: "SeccompProfile",
        metadata: Metadata {
            name: dns1123_name(name),
        },
        spec: Spec {
            default_action: profile.default_action.as_str(),
            architectures: arches,
            flags: profile.flags.as_ref(),
            syscalls,
        },
    };
    serde_yaml_ng::to_string(&resource)
        .map(String::into_bytes)
        .map_err(|source| WriteError::Encode {
            path: path.to_owned(),
            source: source.into(),
        })
}

/// A Kubernetes object name (a DNS-1123 subdomain): lower case letters, digits, `-` and `.`,
/// starting and ending with a letter or digit, at most 253 characters.
pub fn dns1123_name(name: &str) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '-' => c,
            _ => '-',
        })
        .take(253)
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if trimmed.is_empty() {
        "unnamed".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Arch;

    #[test]
    fn names_become_dns1123() {
        assert_eq!(dns1123_name("My_Web.App_1"), "my-web.app-1");
        assert_eq!(dns1123_name("_x_"), "x");
        assert_eq!(dns1123_name("__"), "unnamed");
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("tracer-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.json");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn kubernetes_resources_carry_the_profile() {
        let mut recording = Recording::default();
        recording.add(Arch::X86_64, "read", 1, None);
        let ctx = CheckContext {
            native: Arch::X86_64,
            ..CheckContext::of_this_host()
        };
        let yaml = kubernetes_yaml(&recording.to_profile(), "Web_1", &ctx, Path::new("x")).unwrap();
        let yaml = String::from_utf8(yaml).unwrap();
        assert!(
            yaml.contains("apiVersion: security-profiles-operator.x-k8s.io/v1beta1"),
            "{yaml}"
        );
        assert!(yaml.contains("kind: SeccompProfile"), "{yaml}");
        assert!(yaml.contains("name: web-1"), "{yaml}");
        assert!(yaml.contains("- SCMP_ARCH_X86_64"), "{yaml}");
        assert!(yaml.contains("- read"), "{yaml}");
    }
}
