//! Reading saphyr's nodes with the place of each, for errors that point at the line and column
//! at fault.

use std::path::Path;

use saphyr::{MarkedYaml, Scalar, YamlData};

use super::load::{Problem, RulesError};

pub type Node<'a> = MarkedYaml<'a>;

/// An error at `node`'s place in the file at `path`.
pub fn at(path: &Path, node: &Node<'_>, problem: Problem) -> RulesError {
    RulesError::At {
        path: path.to_owned(),
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
        problem,
    }
}

/// A mapping's entries, keys as text.
pub fn entries<'a, 'b>(
    path: &Path,
    node: &'b Node<'a>,
    what: &'static str,
) -> Result<Vec<(&'b str, &'b Node<'a>, &'b Node<'a>)>, RulesError> {
    let YamlData::Mapping(mapping) = &node.data else {
        return Err(at(path, node, Problem::NotAMapping { what }));
    };
    mapping
        .iter()
        .map(|(key, value)| match key.data.as_str() {
            Some(name) => Ok((name, key, value)),
            None => Err(at(path, key, Problem::NotAMapping { what })),
        })
        .collect()
}

/// The value of `key` in a mapping's entries.
pub fn get<'a, 'b>(
    entries: &[(&str, &'b Node<'a>, &'b Node<'a>)],
    key: &str,
) -> Option<&'b Node<'a>> {
    entries
        .iter()
        .find(|(name, ..)| *name == key)
        .map(|(_, _, value)| *value)
}

/// A scalar's text; `None` for null, lists and mappings.
pub fn scalar(node: &Node<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(text)) => Some(text.to_string()),
        YamlData::Value(Scalar::Integer(n)) => Some(n.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Representation(text, ..) => Some(text.to_string()),
        _ => None,
    }
}

/// A scalar's text, or an error naming `key` and what it takes.
pub fn text(
    path: &Path,
    node: &Node<'_>,
    key: &str,
    expected: &'static str,
) -> Result<String, RulesError> {
    scalar(node).ok_or_else(|| {
        at(
            path,
            node,
            Problem::BadValue {
                key: key.to_owned(),
                expected,
            },
        )
    })
}

/// One value or a list of values, each with its node; an empty list is an error.
pub fn list<'a, 'b>(
    path: &Path,
    node: &'b Node<'a>,
    key: &str,
    expected: &'static str,
) -> Result<Vec<(String, &'b Node<'a>)>, RulesError> {
    let items: Vec<&Node<'a>> = match &node.data {
        YamlData::Sequence(items) => items.iter().collect(),
        _ => vec![node],
    };
    if items.is_empty() {
        return Err(at(
            path,
            node,
            Problem::EmptyList {
                key: key.to_owned(),
            },
        ));
    }
    items
        .into_iter()
        .map(|item| Ok((text(path, item, key, expected)?, item)))
        .collect()
}

pub fn is_null(node: &Node<'_>) -> bool {
    matches!(node.data, YamlData::Value(Scalar::Null))
}
