//! What a summary event adds to an event: how many calls of its kind `--dedup` or
//! `--rate-limit` held back, and when (docs/events.md, "Summary events").

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::json;

/// How many pids a summary names at most: enough to see whether one process or many made the
/// calls, bounded whatever the flood.
pub const SUMMARY_PIDS: usize = 5;

/// Present only on a summary event, whose JSON then starts with `"type":"summary"` and this
/// `summary` object; the other fields are those of the last call held back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summarized {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub summary: HeldBack,
}

/// The `type` of an event that is not one call. A line without `type` is one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Summary,
}

/// Why calls were held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// `--dedup`: the same container, call, code and arch within the window.
    Dedup,
    /// `--rate-limit`: past the key's rate and burst.
    RateLimit,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Dedup => "dedup",
            Reason::RateLimit => "rate_limit",
        }
    }
}

/// The calls of one key held back since its last summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeldBack {
    pub reason: Reason,
    /// How many calls were held back (not counting the ones that went out).
    pub count: u64,
    /// When the earliest and the latest of them were made.
    #[serde(serialize_with = "json::timestamp")]
    pub first: DateTime<Utc>,
    #[serde(serialize_with = "json::timestamp")]
    pub last: DateTime<Utc>,
    /// The distinct pids that made them, in the order first seen, at most [`SUMMARY_PIDS`].
    pub pids: Vec<u32>,
}
