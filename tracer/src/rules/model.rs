//! A rule as loaded: what it matches, the level it gives and what it adds to an event.

use std::{path::PathBuf, sync::Arc};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::level::Level;
use crate::events::{Arch, SeccompAction};

/// Where a rule was written, for `tracer rules test` and messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub name: Arc<str>,
    pub origin: Origin,
    pub level: Level,
    /// 1 (lowest) to 10.
    pub severity: Option<u8>,
    pub tags: Option<Arc<[String]>>,
    pub message: Option<Arc<str>>,
    pub when: Conditions,
}

/// What an event must have for the rule to match: every condition given (an absent one matches
/// anything), each satisfied by any of its values.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    /// Globs on the container's name.
    pub containers: Option<Globs>,
    pub images: Option<Globs>,
    /// Labels the container must carry with exactly these values (`matchLabels`).
    pub labels: Vec<(String, String)>,
    /// Globs on the pod's namespace and name (kubelet's labels on the container).
    pub namespaces: Option<Globs>,
    pub pods: Option<Globs>,
    /// System call names, each valid in at least one architecture's table.
    pub syscalls: Option<Vec<String>>,
    pub codes: Option<CodeSet>,
    pub errnos: Option<Vec<i32>>,
    pub arches: Option<Vec<Arch>>,
    /// Globs on the caller's executable and the call's path argument.
    pub exes: Option<Globs>,
    pub paths: Option<Globs>,
    pub uids: Option<Vec<u32>>,
}

/// Compiled glob patterns, with their text for messages. The common forms (a literal, a
/// prefix, a suffix, a directory's tree) are compared as strings, several times faster than
/// globset's general matcher, which takes the others.
#[derive(Clone, Debug)]
pub struct Globs {
    simple: Vec<Simple>,
    /// The patterns no simple form covers; `None` when there are none.
    general: Option<GlobSet>,
    pub patterns: Vec<String>,
}

/// A pattern matched by comparing strings.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Simple {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// `dir/*` on paths: a file right in the directory (the prefix holds its `/`).
    InDirectory(String),
}

impl Simple {
    /// The simple form of `pattern`, if it has one. On paths (`literal_separator`), `*` must
    /// not cross a `/`, so only `dir/*` and `dir/**` are taken.
    fn of(pattern: &str, literal_separator: bool) -> Option<Self> {
        let literal = |text: &str| !text.contains(['*', '?', '[', ']', '{', '}', '\\']);
        if literal(pattern) {
            return Some(Simple::Exact(pattern.to_owned()));
        }
        if literal_separator {
            if let Some(dir) = pattern.strip_suffix("/**")
                && literal(dir)
            {
                return Some(Simple::Prefix(format!("{dir}/")));
            }
            if let Some(dir) = pattern.strip_suffix("/*")
                && literal(dir)
            {
                return Some(Simple::InDirectory(format!("{dir}/")));
            }
            return None;
        }
        match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
            (Some(rest), _) if rest.strip_suffix('*').is_some_and(literal) => {
                Some(Simple::Contains(rest[..rest.len() - 1].to_owned()))
            }
            (Some(rest), _) if literal(rest) => Some(Simple::Suffix(rest.to_owned())),
            (None, Some(rest)) if literal(rest) => Some(Simple::Prefix(rest.to_owned())),
            _ => None,
        }
    }

    #[inline]
    fn is_match(&self, text: &str) -> bool {
        match self {
            Simple::Exact(exact) => text == exact,
            Simple::Prefix(prefix) => text.starts_with(prefix.as_str()),
            Simple::Suffix(suffix) => text.ends_with(suffix.as_str()),
            Simple::Contains(part) => text.contains(part.as_str()),
            Simple::InDirectory(dir) => text
                .strip_prefix(dir.as_str())
                .is_some_and(|rest| !rest.contains('/')),
        }
    }
}

impl Globs {
    /// Globs on names (containers, images, namespaces, pods): `*` matches any text, `/` included.
    pub fn names(patterns: Vec<String>) -> Result<Self, globset::Error> {
        Self::build(patterns, false)
    }

    /// Globs on file paths: `*` stays within a directory, `**` crosses them.
    pub fn paths(patterns: Vec<String>) -> Result<Self, globset::Error> {
        Self::build(patterns, true)
    }

    fn build(patterns: Vec<String>, literal_separator: bool) -> Result<Self, globset::Error> {
        let mut simple = Vec::new();
        let mut general = GlobSetBuilder::new();
        let mut any_general = false;
        for pattern in &patterns {
            // Every pattern is compiled, so an invalid one is an error whatever its form.
            let glob = GlobBuilder::new(pattern)
                .literal_separator(literal_separator)
                .backslash_escape(true)
                .build()?;
            match Simple::of(pattern, literal_separator) {
                Some(form) => simple.push(form),
                None => {
                    general.add(glob);
                    any_general = true;
                }
            }
        }
        Ok(Self {
            simple,
            general: any_general.then(|| general.build()).transpose()?,
            patterns,
        })
    }

    /// Compiles one pattern alone, to tell which of a list is at fault.
    pub fn check_one(pattern: &str) -> Result<(), globset::Error> {
        GlobBuilder::new(pattern).build().map(drop)
    }

    #[inline]
    pub fn is_match(&self, text: &str) -> bool {
        self.simple.iter().any(|form| form.is_match(text))
            || self.general.as_ref().is_some_and(|set| set.is_match(text))
    }
}

/// A set of seccomp actions, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeSet(u16);

impl CodeSet {
    pub fn insert(&mut self, code: SeccompAction) {
        self.0 |= 1 << code_bit(code);
    }

    #[inline]
    pub fn contains(self, code: SeccompAction) -> bool {
        self.0 & (1 << code_bit(code)) != 0
    }
}

#[inline]
fn code_bit(code: SeccompAction) -> u16 {
    match code {
        SeccompAction::KillProcess => 0,
        SeccompAction::KillThread => 1,
        SeccompAction::Trap => 2,
        SeccompAction::Errno => 3,
        SeccompAction::UserNotif => 4,
        SeccompAction::Trace => 5,
        SeccompAction::Log => 6,
        SeccompAction::Allow => 7,
        SeccompAction::Unknown(_) => 8,
    }
}

/// The actions a rule may name: tracer's names (`kill_thread`, `errno`, `log`...), libseccomp's
/// (`SCMP_ACT_LOG`), and `kill` for both kills.
pub fn codes_named(name: &str) -> Option<&'static [SeccompAction]> {
    use SeccompAction::*;
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix("scmp_act_").unwrap_or(&lower);
    Some(match bare {
        "kill" => &[KillProcess, KillThread],
        "kill_process" => &[KillProcess],
        "kill_thread" => &[KillThread],
        "trap" => &[Trap],
        "errno" => &[Errno],
        "user_notif" | "notify" => &[UserNotif],
        "trace" => &[Trace],
        "log" => &[Log],
        "allow" => &[Allow],
        _ => return None,
    })
}

/// An errno by name (`EPERM`) or number.
pub fn errno_named(text: &str) -> Option<i32> {
    if let Ok(number) = text.parse::<i32>() {
        return (number >= 0).then_some(number);
    }
    let upper = text.to_ascii_uppercase();
    (1..4096).find(|&errno| crate::events::errno::name(errno) == Some(upper.as_str()))
}

pub use crate::profile::arch_names::KNOWN_ARCHES;

/// An architecture by tracer's name (`x86_64`, `i386`) or libseccomp's (`SCMP_ARCH_X86`).
pub fn arch_named(name: &str) -> Option<Arch> {
    crate::profile::arch_names::from_event_name(name)
        .or_else(|| crate::profile::arch_names::from_scmp(name))
}

/// Whether some architecture's table has a call of this name.
pub fn is_syscall_name(name: &str) -> bool {
    KNOWN_ARCHES
        .iter()
        .any(|&arch| crate::profile::arch_names::syscall_number(arch, name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The simple forms match exactly what globset matches.
    #[test]
    fn simple_forms_agree_with_globset() {
        let names = ["web-*", "*-db", "*word*", "nginx", "a?c", "{web,db}-1"];
        let paths = ["/usr/bin/*", "/srv/**", "/etc/passwd", "/usr/*/lib", "*.so"];
        let texts = [
            "web-1",
            "my-db",
            "wordpress",
            "nginx",
            "abc",
            "db-1",
            "web-",
            "/usr/bin/ls",
            "/usr/bin/x/y",
            "/srv/a/b",
            "/srv",
            "/etc/passwd",
            "/usr/x/lib",
            "a.so",
            "/lib/a.so",
            "/usr/bin/",
            "",
        ];
        for (patterns, separator) in [(&names[..], false), (&paths[..], true)] {
            for pattern in patterns {
                let ours = Globs::build(vec![(*pattern).to_owned()], separator).unwrap();
                let theirs = GlobBuilder::new(pattern)
                    .literal_separator(separator)
                    .build()
                    .unwrap()
                    .compile_matcher();
                for text in texts {
                    assert_eq!(
                        ours.is_match(text),
                        theirs.is_match(text),
                        "{pattern:?} on {text:?} (separator {separator})"
                    );
                }
            }
        }
    }
}
