//! The fields `-o columns=...` offers: every field of the JSON output, by its dotted name
//! (`container.name`), read from the event's own serialization, so a field added to the event
//! is a column too without a change here. A column shows what the JSON has: numbers in
//! decimal, an array (`args`) as its elements separated by commas.

use std::{borrow::Cow, sync::OnceLock};

use serde_json::Value;

use super::escape::Encoding;
use crate::events::Event;

/// The columns shown by default: what names the culprit.
pub const DEFAULT_COLUMNS: &[&str] = &[
    "runtime.containername",
    "pid",
    "tid",
    "comm",
    "syscall",
    "code",
];

/// Names other tools of this kind use for a field: the seeds call the container's name
/// `runtime.containername`.
const ALIASES: &[(&str, &str)] = &[("runtime.containername", "container.name")];

/// Widths that keep common values of a field aligned; other columns start as wide as their
/// header and grow no further (a long value pushes the row right).
const WIDTHS: &[(&str, usize)] = &[
    ("timestamp", 30),
    ("node", 12),
    ("pid", 7),
    ("tid", 7),
    ("ppid", 7),
    ("uid", 5),
    ("gid", 5),
    ("comm", 15),
    ("mntns_id", 10),
    ("cgroup_id", 10),
    ("syscall", 15),
    ("syscall_nr", 10),
    ("arch", 7),
    ("code", 12),
    ("code_raw", 10),
    ("signal", 7),
    ("errno", 5),
    ("errno_name", 7),
    ("ip", 15),
    ("path", 20),
    ("dirfd", 5),
    ("exe", 20),
    ("parent_comm", 15),
    ("ns_pid", 7),
    ("ns_ppid", 7),
    ("runtime.containername", 22),
    ("container.name", 22),
    ("container.id", 12),
    ("container.image", 20),
    ("k8s.namespace", 16),
    ("k8s.pod", 16),
    ("k8s.container", 16),
    ("k8s.pod_uid", 36),
    ("rule", 20),
    ("severity", 8),
    ("tags", 20),
    ("message", 30),
];

/// Fields whose text a container runtime (or a `--rules` file: the rule's name, tags and
/// message) supplied. Everything else that is text comes from the kernel and is already in the
/// visible encoding (`events::text`), backslashes included.
const RUNTIME_TEXT: &[&str] = &["node", "container.", "k8s.", "rule", "tags", "message"];

/// One column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// As asked for (`runtime.containername`).
    name: String,
    /// Where the value is in the event's JSON (`["container", "name"]`).
    path: Vec<String>,
    encoding: Encoding,
}

/// Every field name a column can show, comma-separated, for error messages.
pub fn names() -> String {
    known().join(", ")
}

/// The default columns.
pub fn default_columns() -> Vec<Field> {
    DEFAULT_COLUMNS
        .iter()
        .map(|name| Field::from_name(name).expect("the default columns are fields"))
        .collect()
}

/// The names of every value of an event's JSON that is not an object (labels are free-form, so
/// they are not offered one by one), and the aliases.
fn known() -> &'static [String] {
    static KNOWN: OnceLock<Vec<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let example = serde_json::to_value(Event::example()).expect("an event serializes");
        let mut names = Vec::new();
        leaves(&example, "", &mut names);
        names.extend(ALIASES.iter().map(|(alias, _)| alias.to_string()));
        names
    })
}

fn leaves(value: &Value, prefix: &str, names: &mut Vec<String>) {
    let Value::Object(fields) = value else {
        return;
    };
    for (key, value) in fields {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(_) if key == "labels" => {}
            Value::Object(_) => leaves(value, &name, names),
            _ => names.push(name),
        }
    }
}

impl Field {
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        if !known().contains(&name) {
            return None;
        }
        let path = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name.as_str(), |(_, path)| path);
        let segments = path.split('.').map(str::to_owned).collect();
        let encoding = if RUNTIME_TEXT.iter().any(|prefix| path.starts_with(prefix)) {
            Encoding::Plain
        } else {
            Encoding::Visible
        };
        Some(Self {
            name,
            path: segments,
            encoding,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn min_width(&self) -> usize {
        WIDTHS
            .iter()
            .find(|(name, _)| *name == self.name)
            .map_or(0, |(_, width)| *width)
    }

    /// The header: the name in capitals, as other tools of this kind print it.
    pub fn header(&self) -> String {
        self.name.to_ascii_uppercase()
    }

    /// How [`Field::value`] is encoded.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The field's value in `json`, an event's compact JSON, as text (not yet escaped for a
    /// terminal); empty where there is none.
    pub fn value<'a>(&self, json: &'a str) -> Cow<'a, str> {
        let mut top = Vec::new();
        index(json.as_bytes(), &mut top);
        self.value_in(json, &top)
    }

    /// [`Field::value`], with the top-level fields of `json` already found by [`index`]. Read
    /// from the text itself, without building a document: a string without escapes is
    /// borrowed as it is.
    pub fn value_in<'a>(&self, json: &'a str, top: &[TopField]) -> Cow<'a, str> {
        let bytes = json.as_bytes();
        let (first, rest) = self.path.split_first().expect("a field has a name");
        let found = top
            .iter()
            .find(|field| &bytes[field.key.0..field.key.1] == first.as_bytes())
            .and_then(|field| match rest {
                [] => Some(field.value),
                rest => find(bytes, field.value.0, rest),
            });
        match found.map(|(start, end)| &json[start..end]) {
            None | Some("null") => Cow::Borrowed(""),
            Some(text) if text.starts_with('"') => {
                let inner = &text[1..text.len() - 1];
                if inner.contains('\\') {
                    Cow::Owned(serde_json::from_str(text).expect("a JSON string serde wrote"))
                } else {
                    Cow::Borrowed(inner)
                }
            }
            // The numbers of `args`, without the brackets: one word in a column.
            Some(text) if text.starts_with('[') => Cow::Borrowed(&text[1..text.len() - 1]),
            // Numbers and booleans, as the JSON writes them.
            Some(text) => Cow::Borrowed(text),
        }
    }
}

/// A top-level field of an event's JSON: where its key (between the quotes) and its value are.
#[derive(Clone, Copy, Debug)]
pub struct TopField {
    key: (usize, usize),
    value: (usize, usize),
}

/// Finds the top-level fields of `json`, an event's compact JSON, in one pass.
pub fn index(json: &[u8], top: &mut Vec<TopField>) {
    top.clear();
    if json.first() != Some(&b'{') {
        return;
    }
    let mut at = 1;
    while json.get(at) == Some(&b'"') {
        let Some(key_end) = skip_value(json, at) else {
            return;
        };
        let value = key_end + 1;
        let Some(value_end) = skip_value(json, value) else {
            return;
        };
        // Our keys never need escapes, so the raw text between the quotes is the key.
        top.push(TopField {
            key: (at + 1, key_end - 1),
            value: (value, value_end),
        });
        at = value_end;
        if json.get(at) == Some(&b',') {
            at += 1;
        }
    }
}

/// Where the value at `path` is in the JSON object starting at `at`: its first and last byte
/// plus one. The JSON is our own compact output, so it has no whitespace.
fn find(json: &[u8], mut at: usize, path: &[String]) -> Option<(usize, usize)> {
    let (wanted, rest) = path.split_first()?;
    if json.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    while json.get(at) == Some(&b'"') {
        let key_end = skip_value(json, at)?;
        let value = key_end + 1;
        let value_end = skip_value(json, value)?;
        // Our keys never need escapes, so the raw text between the quotes is the key.
        if &json[at + 1..key_end - 1] == wanted.as_bytes() {
            return if rest.is_empty() {
                Some((value, value_end))
            } else {
                find(json, value, rest)
            };
        }
        at = value_end;
        if json.get(at) == Some(&b',') {
            at += 1;
        }
    }
    None
}

/// Where the JSON value starting at `at` ends.
fn skip_value(json: &[u8], at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => {
            let mut i = at + 1;
            loop {
                i += json
                    .get(i..)?
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\')?;
                match json[i] {
                    b'"' => return Some(i + 1),
                    _ => i += 2,
                }
            }
        }
        b'{' | b'[' => {
            let mut depth = 0;
            let mut i = at;
            loop {
                match json.get(i)? {
                    b'"' => {
                        i = skip_value(json, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => Some(
            at + json[at..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']'))
                .unwrap_or(json.len() - at),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_event;

    fn value(name: &str, event: &Event) -> String {
        let json = serde_json::to_string(event).unwrap();
        Field::from_name(name).unwrap().value(&json).into_owned()
    }

    #[test]
    fn reads_every_field_as_a_json_document_would() {
        let mut event = Event::example();
        event.comm = "a\"b\\c\u{1b}".into();
        let mut container = (*event.container.clone().unwrap()).clone();
        container.name = "\\x1b\u{0}\"".into();
        container.labels.insert("a\"}b".into(), "{[\n".into());
        event.set_container(Some(std::sync::Arc::new(container)));
        let mut details = crate::test_support::sample_denial_event();
        details.path = Some("a\"b\\c\u{1b}]2;x\u{7}".into());
        details.args = Some([u64::MAX, 0, 1, 1 << 53, 2, 3]);
        for event in [event, crate::test_support::sample_event(), details] {
            let json = serde_json::to_string(&event).unwrap();
            let document = serde_json::to_value(&event).unwrap();
            for name in known() {
                let field = Field::from_name(name).unwrap();
                let pointer = format!("/{}", field.path.join("/"));
                let found = document.pointer(&pointer);
                if let Some(Value::Array(items)) = found
                    && items.iter().any(Value::is_object)
                {
                    // Objects keep their fields' order in the line, and serde_json's document
                    // sorts them: compared as documents.
                    let seen: Value =
                        serde_json::from_str(&format!("[{}]", field.value(&json))).unwrap();
                    assert_eq!(&seen, found.unwrap(), "{name} in {json}");
                    continue;
                }
                let expected = match found {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    Some(other) => other.to_string(),
                };
                assert_eq!(field.value(&json), expected, "{name} in {json}");
            }
        }
    }

    #[test]
    fn offers_every_field_of_the_json_by_its_dotted_name() {
        for name in [
            "timestamp",
            "node",
            "source",
            "pid",
            "tid",
            "ppid",
            "uid",
            "gid",
            "comm",
            "mntns_id",
            "cgroup_id",
            "syscall",
            "syscall_nr",
            "arch",
            "code",
            "code_raw",
            "signal",
            "errno",
            "errno_name",
            "args",
            "ip",
            "path",
            "path_truncated",
            "dirfd",
            "exe",
            "cmdline",
            "cmdline_truncated",
            "parent_comm",
            "ns_pid",
            "ns_ppid",
            "runtime.containername",
            "container.runtime",
            "container.id",
            "container.name",
            "container.image",
            "k8s.namespace",
            "k8s.pod",
            "k8s.container",
            "k8s.pod_uid",
        ] {
            let field = Field::from_name(name).unwrap_or_else(|| panic!("{name} is not offered"));
            assert_eq!(field.name(), name);
        }
        assert_eq!(Field::from_name("SYSCALL").unwrap().name(), "syscall");
        assert_eq!(
            Field::from_name("container"),
            None,
            "an object is not a column"
        );
        assert_eq!(Field::from_name("on_host"), None, "not part of the output");
        for name in ["rule", "severity", "tags", "message"] {
            assert!(Field::from_name(name).is_some(), "{name} is not offered");
        }
        // A rules file's text is plain: a backslash in it cannot forge an escape.
        for name in ["rule", "tags", "message"] {
            assert_eq!(Field::from_name(name).unwrap().encoding, Encoding::Plain);
        }
    }

    #[test]
    fn reads_values_from_the_event() {
        let mut event = sample_event();
        assert_eq!(value("pid", &event), "485855");
        assert_eq!(value("syscall", &event), "unshare");
        assert_eq!(value("signal", &event), "SIGSYS");
        assert_eq!(value("runtime.containername", &event), "");
        event.set_container(Event::example().container);
        assert_eq!(value("runtime.containername", &event), "web");
        assert_eq!(value("k8s.pod", &event), "web-0");
    }

    #[test]
    fn reads_the_details_of_a_refusal() {
        let event = crate::test_support::sample_denial_event();
        assert_eq!(value("errno", &event), "13");
        assert_eq!(value("errno_name", &event), "EACCES");
        assert_eq!(
            value("args", &event),
            "18446744073709551516,140725579357248,493,0,0,0"
        );
        assert_eq!(value("ip", &event), "139898059041335");
        assert_eq!(value("dirfd", &event), "-100");
        assert_eq!(value("path_truncated", &event), "false");
        assert_eq!(value("cmdline", &event), "mkdir -p data");
        assert_eq!(value("args", &sample_event()), "", "null");
    }

    #[test]
    fn an_undetected_arch_is_an_empty_column() {
        let mut event = sample_event();
        assert_eq!(value("arch", &event), "x86_64");
        event.arch = crate::events::Arch::Undetected;
        assert_eq!(value("arch", &event), "");
    }

    #[test]
    fn text_from_runtimes_is_plain_and_the_kernels_visible() {
        let encoding = |name| Field::from_name(name).unwrap().encoding();
        assert_eq!(encoding("comm"), Encoding::Visible);
        for name in ["path", "exe", "cmdline", "parent_comm"] {
            assert_eq!(encoding(name), Encoding::Visible, "{name}");
        }
        assert_eq!(encoding("runtime.containername"), Encoding::Plain);
        assert_eq!(encoding("k8s.pod"), Encoding::Plain);
        assert_eq!(encoding("node"), Encoding::Plain);
    }
}
