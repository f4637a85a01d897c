//! How the fields whose Rust types are not their JSON form are written (docs/events.md).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// RFC 3339 in UTC with nanoseconds: `2026-11-23T22:41:07.123456789Z`.
pub fn timestamp<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Nanos, true))
}

/// The signal's name (`SIGSYS`), its number where it has none, or null.
pub fn signal_name<S: Serializer>(signal: &Option<i32>, serializer: S) -> Result<S::Ok, S::Error> {
    match signal {
        Some(signo) => serializer.serialize_str(&self::signal(*signo)),
        None => serializer.serialize_none(),
    }
}

pub fn signal(signo: i32) -> String {
    nix::sys::signal::Signal::try_from(signo)
        .map(|signal| signal.as_str().to_owned())
        .unwrap_or_else(|_| signo.to_string())
}
