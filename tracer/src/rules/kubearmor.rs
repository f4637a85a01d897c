//! KubeArmor's `KubeArmorPolicy` as a second dialect, in its system call form: each entry of
//! `spec.syscalls.matchSyscalls` (and `matchPaths`) becomes a rule named after the policy, for
//! the containers `spec.selector.matchLabels` selects in the policy's namespace, with its
//! `severity` (KubeArmor's default 1), `tags` and `message`. What tracer cannot do (file,
//! process, network and capability rules, blocking) is an error, not skipped.

use std::{path::Path, sync::Arc};

use super::{
    level::Level,
    load::{self, Loaded, Problem, RulesError, Warning, origin},
    model::{Conditions, Globs, Rule},
    yaml::{self, Node, at},
};

const API_GROUP: &str = "security.kubearmor.com/";
const API_VERSION: &str = "security.kubearmor.com/v1";
const KIND: &str = "KubeArmorPolicy";
/// The selector label KubeArmor reads as the container's name.
const CONTAINER_NAME_LABEL: &str = "kubearmor.io/container.name";
/// KubeArmor's severity when a policy gives none.
const DEFAULT_SEVERITY: u8 = 1;

type Entries<'b, 'a> = [(&'b str, &'b Node<'a>, &'b Node<'a>)];

/// Whether a document is one of KubeArmor's policies.
pub fn is_policy(entries: &Entries<'_, '_>) -> bool {
    let text = |key| yaml::get(entries, key).and_then(yaml::scalar);
    text("apiVersion").is_some_and(|v| v.starts_with(API_GROUP))
        || text("kind").is_some_and(|k| k.starts_with("KubeArmor"))
}

/// What the policy's entries share.
struct Common {
    name: Arc<str>,
    severity: u8,
    tags: Option<Arc<[String]>>,
    message: Option<Arc<str>>,
    namespace: Option<String>,
    labels: Vec<(String, String)>,
    container: Option<String>,
}

pub fn policy(
    path: &Path,
    document: &Node<'_>,
    entries: &Entries<'_, '_>,
    loaded: &mut Loaded,
) -> Result<(), RulesError> {
    let warn = |loaded: &mut Loaded, node: &Node<'_>, message: String| {
        loaded.warnings.push(Warning {
            origin: origin(path, node),
            message,
        });
    };
    let kind_node = required(path, document, entries, "kind", "a KubeArmorPolicy")?;
    let kind = yaml::text(path, kind_node, "kind", "KubeArmorPolicy")?;
    if kind != KIND {
        return Err(at(
            path,
            kind_node,
            Problem::Unsupported {
                what: "this kind of KubeArmor policy",
                why: "tracer reads KubeArmorPolicy only, which selects containers by their labels",
            },
        ));
    }
    if let Some(version) = yaml::get(entries, "apiVersion")
        && yaml::scalar(version).as_deref() != Some(API_VERSION)
    {
        warn(
            loaded,
            version,
            format!("read as {API_VERSION}, the version tracer knows"),
        );
    }
    let metadata = required(path, document, entries, "metadata", "a KubeArmorPolicy")?;
    let metadata = yaml::entries(path, metadata, "metadata")?;
    let name_node = required(path, document, &metadata, "name", "metadata")?;
    let name = yaml::text(path, name_node, "metadata.name", "the policy's name")?;
    let namespace = yaml::get(&metadata, "namespace")
        .map(|node| yaml::text(path, node, "metadata.namespace", "a namespace"))
        .transpose()?;
    let spec_node = required(path, document, entries, "spec", "a KubeArmorPolicy")?;
    let spec = yaml::entries(path, spec_node, "spec")?;
    for (key, key_node, _) in &spec {
        match *key {
            "selector" | "syscalls" | "action" | "message" | "severity" | "tags" => {}
            "file" | "process" | "network" | "capabilities" => {
                return Err(at(
                    path,
                    key_node,
                    Problem::Unsupported {
                        what: "spec.file, spec.process, spec.network and spec.capabilities",
                        why: "tracer sees the system calls seccomp audits, not file, process, \
                              network or capability events: keep this policy for KubeArmor and \
                              give tracer one with `spec.syscalls` only",
                    },
                ));
            }
            other => warn(
                loaded,
                key_node,
                format!("spec.{other} is not read by tracer"),
            ),
        }
    }
    match yaml::get(&spec, "action") {
        Some(node) => {
            let action = yaml::text(path, node, "spec.action", "Audit")?;
            if !action.eq_ignore_ascii_case("audit") {
                return Err(at(path, node, Problem::KubeArmorAction { action }));
            }
        }
        None => warn(
            loaded,
            spec_node,
            "spec.action is not set: tracer reads the policy as `action: Audit`".into(),
        ),
    }
    let mut common = Common {
        name: name.trim().into(),
        severity: yaml::get(&spec, "severity")
            .map(|node| load::severity(path, node))
            .transpose()?
            .unwrap_or(DEFAULT_SEVERITY),
        tags: tags(path, &spec)?,
        message: message(path, &spec)?,
        namespace,
        labels: Vec::new(),
        container: None,
    };
    if let Some(selector) = yaml::get(&spec, "selector") {
        let selector = yaml::entries(path, selector, "spec.selector")?;
        for (key, key_node, value) in &selector {
            match *key {
                "matchLabels" => {
                    for (label, value) in load::labels(path, value)? {
                        if label == CONTAINER_NAME_LABEL {
                            common.container = Some(value);
                        } else {
                            common.labels.push((label, value));
                        }
                    }
                }
                _ => {
                    return Err(at(
                        path,
                        key_node,
                        Problem::Unsupported {
                            what: "this selector",
                            why: "tracer selects containers by `matchLabels` only",
                        },
                    ));
                }
            }
        }
    }
    let syscalls_node = required(path, spec_node, &spec, "syscalls", "spec")?;
    let syscalls = yaml::entries(path, syscalls_node, "spec.syscalls")?;
    let before = loaded.rules.len();
    for (key, key_node, value) in &syscalls {
        let from_paths = match *key {
            "matchSyscalls" => false,
            "matchPaths" => true,
            _ => {
                return Err(at(
                    path,
                    key_node,
                    Problem::Unsupported {
                        what: "this part of spec.syscalls",
                        why: "tracer reads `matchSyscalls` and `matchPaths`",
                    },
                ));
            }
        };
        let saphyr::YamlData::Sequence(items) = &value.data else {
            return Err(at(
                path,
                value,
                Problem::BadValue {
                    key: (*key).into(),
                    expected: "a list of entries (`- syscall: [...]`)",
                },
            ));
        };
        for item in items {
            loaded.rules.push(entry(
                path,
                item,
                &common,
                from_paths,
                &mut loaded.warnings,
            )?);
        }
    }
    if loaded.rules.len() == before {
        warn(
            loaded,
            syscalls_node,
            "spec.syscalls has no entries: the policy matches nothing".into(),
        );
    }
    Ok(())
}

fn required<'a, 'b>(
    path: &Path,
    parent: &Node<'_>,
    entries: &[(&str, &'b Node<'a>, &'b Node<'a>)],
    key: &'static str,
    within: &'static str,
) -> Result<&'b Node<'a>, RulesError> {
    yaml::get(entries, key).ok_or_else(|| at(path, parent, Problem::Missing { key, within }))
}

fn tags(path: &Path, entries: &Entries<'_, '_>) -> Result<Option<Arc<[String]>>, RulesError> {
    Ok(yaml::get(entries, "tags")
        .map(|node| yaml::list(path, node, "tags", "a list of tags"))
        .transpose()?
        .map(|tags| tags.into_iter().map(|(tag, _)| tag).collect()))
}

fn message(path: &Path, entries: &Entries<'_, '_>) -> Result<Option<Arc<str>>, RulesError> {
    Ok(yaml::get(entries, "message")
        .map(|node| yaml::text(path, node, "message", "a line of text"))
        .transpose()?
        .map(Arc::from))
}

/// One `matchSyscalls` or `matchPaths` entry as a rule.
fn entry(
    path: &Path,
    node: &Node<'_>,
    common: &Common,
    from_paths: bool,
    warnings: &mut Vec<Warning>,
) -> Result<Rule, RulesError> {
    let entries = yaml::entries(path, node, "an entry of spec.syscalls")?;
    let mut when = Conditions {
        labels: common.labels.clone(),
        ..Conditions::default()
    };
    if let Some(namespace) = &common.namespace {
        when.namespaces = Some(exact(path, node, namespace, Globs::names)?);
    }
    if let Some(container) = &common.container {
        when.containers = Some(exact(path, node, container, Globs::names)?);
    }
    let mut severity = common.severity;
    let mut tags = common.tags.clone();
    let mut message = common.message.clone();
    let mut path_patterns = Vec::new();
    for (key, key_node, value) in &entries {
        match *key {
            "syscall" => when.syscalls = Some(load::syscalls(path, value, "syscall")?),
            "fromSource" => when.exes = Some(sources(path, value)?),
            "severity" => severity = load::severity(path, value)?,
            "tags" => tags = self::tags(path, &entries)?,
            "message" => message = self::message(path, &entries)?,
            "path" if from_paths => {
                let text = yaml::text(path, value, "path", "a file's path")?;
                path_patterns.push(globset::escape(&text));
            }
            "dir" if from_paths => {
                let text = yaml::text(path, value, "dir", "a directory's path")?;
                path_patterns.push(dir_glob(&text, recursive(&entries)));
            }
            "recursive" if from_paths => {}
            "action" => {
                let action = yaml::text(path, value, "action", "Audit")?;
                if !action.eq_ignore_ascii_case("audit") {
                    return Err(at(path, value, Problem::KubeArmorAction { action }));
                }
            }
            other => warnings.push(Warning {
                origin: origin(path, key_node),
                message: format!("`{other}` in an entry of spec.syscalls is not read by tracer"),
            }),
        }
    }
    if when.syscalls.is_none() {
        return Err(at(
            path,
            node,
            Problem::Missing {
                key: "syscall",
                within: "an entry of spec.syscalls",
            },
        ));
    }
    if from_paths {
        if path_patterns.is_empty() {
            return Err(at(
                path,
                node,
                Problem::Missing {
                    key: "path",
                    within: "an entry of matchPaths (or `dir`)",
                },
            ));
        }
        when.paths =
            Some(Globs::paths(path_patterns).map_err(|error| glob_error(path, node, &error))?);
    }
    Ok(Rule {
        name: common.name.clone(),
        origin: origin(path, node),
        level: Level::Full,
        severity: Some(severity),
        tags,
        message,
        when,
    })
}

fn recursive(entries: &Entries<'_, '_>) -> bool {
    yaml::get(entries, "recursive")
        .and_then(yaml::scalar)
        .as_deref()
        == Some("true")
}

/// A directory's files (`dir: /bin/`), or everything under it with `recursive: true`.
fn dir_glob(dir: &str, recursive: bool) -> String {
    let dir = globset::escape(dir.trim_end_matches('/'));
    if recursive {
        format!("{dir}/**")
    } else {
        format!("{dir}/*")
    }
}

/// `fromSource`: the executables (`path`) or directories of them (`dir`) making the call.
fn sources(path: &Path, node: &Node<'_>) -> Result<Globs, RulesError> {
    let saphyr::YamlData::Sequence(items) = &node.data else {
        return Err(at(
            path,
            node,
            Problem::BadValue {
                key: "fromSource".into(),
                expected: "a list of `- path: /bin/x` or `- dir: /bin/` entries",
            },
        ));
    };
    let mut patterns = Vec::new();
    for item in items {
        let entries = yaml::entries(path, item, "an entry of fromSource")?;
        if let Some(exe) = yaml::get(&entries, "path") {
            patterns.push(globset::escape(&yaml::text(path, exe, "path", "a path")?));
        } else if let Some(dir) = yaml::get(&entries, "dir") {
            let text = yaml::text(path, dir, "dir", "a directory")?;
            patterns.push(dir_glob(&text, recursive(&entries)));
        } else {
            return Err(at(
                path,
                item,
                Problem::Missing {
                    key: "path",
                    within: "an entry of fromSource (or `dir`)",
                },
            ));
        }
    }
    Globs::paths(patterns).map_err(|error| glob_error(path, node, &error))
}

fn exact(
    path: &Path,
    node: &Node<'_>,
    text: &str,
    build: fn(Vec<String>) -> Result<Globs, globset::Error>,
) -> Result<Globs, RulesError> {
    build(vec![globset::escape(text)]).map_err(|error| glob_error(path, node, &error))
}

fn glob_error(path: &Path, node: &Node<'_>, error: &globset::Error) -> RulesError {
    at(
        path,
        node,
        Problem::BadGlob {
            pattern: error.glob().unwrap_or_default().to_owned(),
            reason: error.kind().to_string(),
        },
    )
}
