//! Reading rules files: each YAML document is tracer's own rules (a `rules:` list) or a
//! KubeArmorPolicy, told apart by its keys. Every error gives the file, line and column, and
//! what to write instead.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use saphyr::{LoadableYamlNode as _, MarkedYaml};

use super::{
    kubearmor,
    level::Level,
    model::{self, CodeSet, Conditions, Globs, Origin, Rule},
    yaml::{self, Node, at},
};

/// What the rules files hold, in order.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub rules: Vec<Rule>,
    /// The level of events no rule matches: a file's `default-level`, else `full` (unchanged).
    pub default_level: Level,
    /// Where `default_level` was set, if a file set it.
    pub default_origin: Option<Origin>,
    pub warnings: Vec<Warning>,
}

/// Something tracer reads but does not act on as the file may expect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub origin: Origin,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read the rules file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {problem}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
        problem: Problem,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("this is not valid YAML: {reason}")]
    Yaml { reason: String },
    #[error("{what} must be a mapping (`key: value` lines)")]
    NotAMapping { what: &'static str },
    #[error(
        "this document is neither tracer rules (a `rules:` list) nor a KubeArmorPolicy \
         (`apiVersion: security.kubearmor.com/v1`, `kind: KubeArmorPolicy`); see docs/rules.md"
    )]
    UnknownDocument,
    #[error("unknown key `{key}` in {within}{}; the keys are: {}",
        suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(),
        known.join(", "))]
    UnknownKey {
        key: String,
        within: &'static str,
        suggestion: Option<&'static str>,
        known: &'static [&'static str],
    },
    #[error("{within} needs `{key}`")]
    Missing {
        key: &'static str,
        within: &'static str,
    },
    #[error("`{key}` takes {expected}")]
    BadValue { key: String, expected: &'static str },
    #[error("`{key}` is an empty list: give at least one value, or leave the key out to match any")]
    EmptyList { key: String },
    #[error(
        "`{name}` is not a system call of any architecture tracer knows (names as in `man 2 syscalls`: unlink, openat, ...)"
    )]
    UnknownSyscall { name: String },
    #[error("`{name}` is not an errno: use a name such as EPERM or EACCES, or a number")]
    UnknownErrno { name: String },
    #[error(
        "`{name}` is not a seccomp action: use kill_process, kill_thread, kill, trap, errno, user_notif, trace, log or allow"
    )]
    UnknownCode { name: String },
    #[error(
        "`{name}` is not an architecture: use x86_64, x32, i386, aarch64, arm, riscv64, loongarch64, ppc64, ppc64le or s390x"
    )]
    UnknownArch { name: String },
    #[error("`{pattern}` is not a valid glob: {reason}")]
    BadGlob { pattern: String, reason: String },
    #[error("severity {value} is out of range: give a whole number from 1 (lowest) to 10")]
    Severity { value: String },
    #[error("the level `{value}` is not one of {}", Level::NAMES)]
    BadLevel { value: String },
    #[error("`default-level` was already set to {previous} at {origin}: set it in one file only")]
    DefaultLevelTwice { previous: Level, origin: Origin },
    #[error("{what} cannot be honoured: {why}")]
    Unsupported {
        what: &'static str,
        why: &'static str,
    },
    #[error(
        "spec.action `{action}` cannot be honoured: tracer observes system calls and cannot block or allow them; use `action: Audit`, and enforce with a seccomp profile"
    )]
    KubeArmorAction { action: String },
}

/// Reads the files in order: their rules in that order, the first match winning.
pub fn load_files(paths: &[PathBuf]) -> Result<Loaded, RulesError> {
    let mut loaded = Loaded::default();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.clone(),
            source,
        })?;
        parse(path, &text, &mut loaded)?;
    }
    Ok(loaded)
}

/// Reads `text`, the contents of the file at `path`, adding its rules to `loaded`.
pub fn parse(path: &Path, text: &str, loaded: &mut Loaded) -> Result<(), RulesError> {
    let documents = MarkedYaml::load_from_str(text).map_err(|error| RulesError::At {
        path: path.to_owned(),
        line: error.marker().line(),
        column: error.marker().col() + 1,
        problem: Problem::Yaml {
            reason: error.info().to_owned(),
        },
    })?;
    let before = loaded.rules.len();
    for document in &documents {
        if yaml::is_null(document) {
            continue;
        }
        let entries = yaml::entries(path, document, "a rules document")?;
        if yaml::get(&entries, "rules").is_some() || yaml::get(&entries, "default-level").is_some()
        {
            native(path, &entries, loaded)?;
        } else if kubearmor::is_policy(&entries) {
            kubearmor::policy(path, document, &entries, loaded)?;
        } else {
            return Err(at(path, document, Problem::UnknownDocument));
        }
    }
    if loaded.rules.len() == before
        && loaded
            .default_origin
            .as_ref()
            .is_none_or(|o| o.path != path)
    {
        loaded.warnings.push(Warning {
            origin: Origin {
                path: path.to_owned(),
                line: 1,
                column: 1,
            },
            message: "the file holds no rules".into(),
        });
    }
    Ok(())
}

pub(super) fn origin(path: &Path, node: &Node<'_>) -> Origin {
    Origin {
        path: path.to_owned(),
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
    }
}

const DOCUMENT_KEYS: &[&str] = &["default-level", "rules"];
const RULE_KEYS: &[&str] = &[
    "name",
    "level",
    "severity",
    "tags",
    "message",
    "containers",
    "images",
    "labels",
    "namespaces",
    "pods",
    "syscalls",
    "codes",
    "errnos",
    "arches",
    "exes",
    "paths",
    "uids",
];

fn unknown_key(
    path: &Path,
    key: &str,
    node: &Node<'_>,
    within: &'static str,
    known: &'static [&'static str],
) -> RulesError {
    let suggestion = known
        .iter()
        .map(|k| (strsim::jaro(key, k), *k))
        .filter(|(similarity, _)| *similarity > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k);
    at(
        path,
        node,
        Problem::UnknownKey {
            key: key.to_owned(),
            within,
            suggestion,
            known,
        },
    )
}

fn native(
    path: &Path,
    entries: &[(&str, &Node<'_>, &Node<'_>)],
    loaded: &mut Loaded,
) -> Result<(), RulesError> {
    for (key, key_node, _) in entries {
        if !DOCUMENT_KEYS.contains(key) {
            return Err(unknown_key(
                path,
                key,
                key_node,
                "a rules document",
                DOCUMENT_KEYS,
            ));
        }
    }
    if let Some(node) = yaml::get(entries, "default-level") {
        let level = level(path, node)?;
        if let Some(previous) = &loaded.default_origin {
            return Err(at(
                path,
                node,
                Problem::DefaultLevelTwice {
                    previous: loaded.default_level,
                    origin: previous.clone(),
                },
            ));
        }
        loaded.default_level = level;
        loaded.default_origin = Some(origin(path, node));
    }
    let Some(rules) = yaml::get(entries, "rules") else {
        return Ok(());
    };
    if yaml::is_null(rules) {
        return Ok(());
    }
    let saphyr::YamlData::Sequence(items) = &rules.data else {
        return Err(at(
            path,
            rules,
            Problem::BadValue {
                key: "rules".into(),
                expected: "a list of rules (lines starting with `- name: ...`)",
            },
        ));
    };
    for item in items {
        loaded.rules.push(rule(path, item)?);
    }
    Ok(())
}

fn level(path: &Path, node: &Node<'_>) -> Result<Level, RulesError> {
    let text = yaml::text(path, node, "level", Level::NAMES)?;
    text.parse()
        .map_err(|()| at(path, node, Problem::BadLevel { value: text }))
}

/// A severity from 1 to 10.
pub(super) fn severity(path: &Path, node: &Node<'_>) -> Result<u8, RulesError> {
    let text = yaml::text(path, node, "severity", "a number from 1 to 10")?;
    text.parse::<u8>()
        .ok()
        .filter(|value| (1..=10).contains(value))
        .ok_or_else(|| at(path, node, Problem::Severity { value: text }))
}

fn rule(path: &Path, node: &Node<'_>) -> Result<Rule, RulesError> {
    let entries = yaml::entries(path, node, "a rule")?;
    for (key, key_node, _) in &entries {
        if !RULE_KEYS.contains(key) {
            return Err(unknown_key(path, key, key_node, "a rule", RULE_KEYS));
        }
    }
    let name_node = yaml::get(&entries, "name").ok_or_else(|| {
        at(
            path,
            node,
            Problem::Missing {
                key: "name",
                within: "a rule",
            },
        )
    })?;
    let name = yaml::text(path, name_node, "name", "the rule's name")?;
    let level = yaml::get(&entries, "level")
        .map(|node| level(path, node))
        .transpose()?
        .unwrap_or(Level::Full);
    let severity = yaml::get(&entries, "severity")
        .map(|node| severity(path, node))
        .transpose()?;
    let tags = yaml::get(&entries, "tags")
        .map(|node| yaml::list(path, node, "tags", "a list of tags"))
        .transpose()?
        .map(|tags| {
            tags.into_iter()
                .map(|(tag, _)| tag)
                .collect::<Arc<[String]>>()
        });
    let message = yaml::get(&entries, "message")
        .map(|node| yaml::text(path, node, "message", "a line of text"))
        .transpose()?
        .map(Arc::from);
    let mut when = Conditions::default();
    let names = |key: &str| -> Result<Option<Globs>, RulesError> {
        yaml::get(&entries, key)
            .map(|node| globs(path, node, key, Globs::names))
            .transpose()
    };
    when.containers = names("containers")?;
    when.images = names("images")?;
    when.namespaces = names("namespaces")?;
    when.pods = names("pods")?;
    let paths = |key: &str| -> Result<Option<Globs>, RulesError> {
        yaml::get(&entries, key)
            .map(|node| globs(path, node, key, Globs::paths))
            .transpose()
    };
    when.exes = paths("exes")?;
    when.paths = paths("paths")?;
    if let Some(node) = yaml::get(&entries, "labels") {
        when.labels = labels(path, node)?;
    }
    if let Some(node) = yaml::get(&entries, "syscalls") {
        when.syscalls = Some(syscalls(path, node, "syscalls")?);
    }
    if let Some(node) = yaml::get(&entries, "codes") {
        let mut codes = CodeSet::default();
        for (name, item) in yaml::list(path, node, "codes", "a list of seccomp actions")? {
            let named = model::codes_named(&name)
                .ok_or_else(|| at(path, item, Problem::UnknownCode { name }))?;
            named.iter().for_each(|&code| codes.insert(code));
        }
        when.codes = Some(codes);
    }
    if let Some(node) = yaml::get(&entries, "errnos") {
        when.errnos = Some(
            yaml::list(path, node, "errnos", "a list of errno names or numbers")?
                .into_iter()
                .map(|(name, item)| {
                    model::errno_named(&name)
                        .ok_or_else(|| at(path, item, Problem::UnknownErrno { name }))
                })
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(node) = yaml::get(&entries, "arches") {
        when.arches = Some(
            yaml::list(path, node, "arches", "a list of architectures")?
                .into_iter()
                .map(|(name, item)| {
                    model::arch_named(&name)
                        .ok_or_else(|| at(path, item, Problem::UnknownArch { name }))
                })
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(node) = yaml::get(&entries, "uids") {
        when.uids = Some(
            yaml::list(path, node, "uids", "a list of user ids")?
                .into_iter()
                .map(|(text, item)| {
                    text.parse().map_err(|_| {
                        at(
                            path,
                            item,
                            Problem::BadValue {
                                key: "uids".into(),
                                expected: "numeric user ids (0, 1000)",
                            },
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(Rule {
        name: name.into(),
        origin: origin(path, node),
        level,
        severity,
        tags,
        message,
        when,
    })
}

/// Globs from one pattern or a list, each checked where it is written.
pub(super) fn globs(
    path: &Path,
    node: &Node<'_>,
    key: &str,
    build: fn(Vec<String>) -> Result<Globs, globset::Error>,
) -> Result<Globs, RulesError> {
    let items = yaml::list(path, node, key, "a list of glob patterns")?;
    for (pattern, item) in &items {
        if let Err(error) = Globs::check_one(pattern) {
            return Err(at(
                path,
                item,
                Problem::BadGlob {
                    pattern: pattern.clone(),
                    reason: error.kind().to_string(),
                },
            ));
        }
    }
    let patterns = items.into_iter().map(|(p, _)| p).collect();
    build(patterns).map_err(|error| {
        at(
            path,
            node,
            Problem::BadGlob {
                pattern: error.glob().unwrap_or_default().to_owned(),
                reason: error.kind().to_string(),
            },
        )
    })
}

/// System call names, each checked against the tables.
pub(super) fn syscalls(path: &Path, node: &Node<'_>, key: &str) -> Result<Vec<String>, RulesError> {
    yaml::list(path, node, key, "a list of system call names")?
        .into_iter()
        .map(|(name, item)| {
            if model::is_syscall_name(&name) {
                Ok(name)
            } else {
                Err(at(path, item, Problem::UnknownSyscall { name }))
            }
        })
        .collect()
}

/// `key: value` labels.
pub(super) fn labels(path: &Path, node: &Node<'_>) -> Result<Vec<(String, String)>, RulesError> {
    yaml::entries(path, node, "labels")?
        .into_iter()
        .map(|(key, _, value)| {
            Ok((
                key.to_owned(),
                yaml::text(path, value, key, "the label's value")?,
            ))
        })
        .collect()
}
