//! Turning events into text: aligned columns for people, JSON lines for log shippers.

pub mod columns;
pub mod escape;
pub mod fields;
pub mod json;
mod stack_lines;
pub mod table;

use std::{fmt, str::FromStr};

use thiserror::Error;

use crate::events::Event;
pub use columns::Columns;
pub use fields::Field;
pub use json::Json;

/// What `-o` asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Columns(Vec<Field>),
    Json,
    JsonPretty,
    /// Nothing on standard output: events go only to the other sinks.
    None,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    #[error(
        "unknown output format {0:?}: use columns, json, jsonpretty, none or columns=FIELD,..."
    )]
    UnknownFormat(String),
    #[error("columns= needs at least one field; known fields: {}", fields::names())]
    NoColumns,
    #[error("unknown field {0:?}; known fields: {known}", known = fields::names())]
    UnknownField(String),
}

impl FromStr for OutputFormat {
    type Err = FormatError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        match spec {
            "columns" => Ok(Self::Columns(fields::default_columns())),
            "json" => Ok(Self::Json),
            "jsonpretty" => Ok(Self::JsonPretty),
            "none" => Ok(Self::None),
            _ => {
                let list = spec
                    .strip_prefix("columns=")
                    .ok_or_else(|| FormatError::UnknownFormat(spec.to_owned()))?;
                let columns = list
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(|name| {
                        Field::from_name(name)
                            .ok_or_else(|| FormatError::UnknownField(name.to_owned()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if columns.is_empty() {
                    return Err(FormatError::NoColumns);
                }
                Ok(Self::Columns(columns))
            }
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Columns(columns) => {
                let names: Vec<_> = columns.iter().map(|c| c.name()).collect();
                write!(f, "columns={}", names.join(","))
            }
            Self::Json => f.write_str("json"),
            Self::JsonPretty => f.write_str("jsonpretty"),
            Self::None => f.write_str("none"),
        }
    }
}

/// Formats events one by one into a reusable buffer, so the hot path allocates nothing per event.
pub trait Formatter: Send {
    /// Text printed once before the first event (a column header), if any.
    fn header(&self, out: &mut Vec<u8>);
    /// Appends one event, with its trailing newline.
    fn event(&mut self, event: &Event, out: &mut Vec<u8>);
}

impl OutputFormat {
    /// None for `-o none`.
    pub fn formatter(&self) -> Option<Box<dyn Formatter>> {
        match self {
            Self::Columns(columns) => Some(Box::new(Columns::new(columns.clone()))),
            Self::Json => Some(Box::new(Json::new(false))),
            Self::JsonPretty => Some(Box::new(Json::new(true))),
            Self::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_format() {
        assert_eq!("json".parse(), Ok(OutputFormat::Json));
        assert_eq!("jsonpretty".parse(), Ok(OutputFormat::JsonPretty));
        assert_eq!("none".parse(), Ok(OutputFormat::None));
        assert_eq!(
            "columns".parse(),
            Ok(OutputFormat::Columns(fields::default_columns()))
        );
        assert_eq!(
            "columns=pid,syscall,code".parse(),
            Ok(OutputFormat::Columns(
                ["pid", "syscall", "code"]
                    .map(|name| Field::from_name(name).unwrap())
                    .to_vec()
            ))
        );
    }

    #[test]
    fn rejects_bad_formats_with_what_is_allowed() {
        let err = "yaml".parse::<OutputFormat>().unwrap_err();
        assert!(
            err.to_string().contains("columns, json, jsonpretty"),
            "{err}"
        );
        let err = "columns=pid,nope".parse::<OutputFormat>().unwrap_err();
        assert_eq!(err, FormatError::UnknownField("nope".into()));
        assert!(err.to_string().contains("syscall_nr"), "{err}");
        assert_eq!(
            "columns=".parse::<OutputFormat>(),
            Err(FormatError::NoColumns)
        );
    }
}
