//! What a check found: the calls a profile would refuse, and those it cannot decide, counted by
//! container, arch, call and verdict, for `profile check` and `audit seccomp --check` alike.

use std::{collections::BTreeMap, fmt::Write as _};

use unicode_width::UnicodeWidthStr as _;

use super::{Call, Verdict};
use crate::output::escape::{Encoding, for_terminal};

/// (container, arch, call, verdict)
type Key = (String, String, String, String);

#[derive(Debug, Default)]
pub struct Findings {
    refused: BTreeMap<Key, u64>,
    undecided: BTreeMap<Key, u64>,
}

impl Findings {
    /// Counts `call` of `container` if `verdict` refuses it or cannot decide; returns whether
    /// it did.
    pub fn add(&mut self, container: &str, call: &Call, verdict: &Verdict) -> bool {
        let target = match verdict {
            Verdict::Allowed | Verdict::Logged => return false,
            Verdict::Refused { .. } => &mut self.refused,
            Verdict::Undecided { .. } => &mut self.undecided,
        };
        let syscall = call
            .syscall
            .map_or_else(|| call.nr.to_string(), str::to_owned);
        let arch = call.arch.label().unwrap_or_else(|| "-".into());
        let key = (container.to_owned(), arch, syscall, verdict.to_string());
        *target.entry(key).or_default() += 1;
        true
    }

    pub fn is_empty(&self) -> bool {
        self.refused.is_empty() && self.undecided.is_empty()
    }

    pub fn refused(&self) -> u64 {
        self.refused.values().sum()
    }

    pub fn undecided(&self) -> u64 {
        self.undecided.values().sum()
    }

    /// A table of the refused calls, then one of the undecided, each explained; empty when
    /// there are neither.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if !self.refused.is_empty() {
            text.push_str(&table("ACTION", &self.refused));
        }
        if !self.undecided.is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(
                "Undecided, counted as refused: the profile decides these calls by their \
                 arguments, and the events do not have them (run tracer with its kernel \
                 programs, not only the audit source, to record them):\n",
            );
            text.push_str(&table("WHY", &self.undecided));
        }
        text
    }
}

fn table(last: &str, rows: &BTreeMap<Key, u64>) -> String {
    let escape = |s: &str| for_terminal(s, Encoding::Plain).into_owned();
    let rows: Vec<[String; 5]> = rows
        .iter()
        .map(|((container, arch, syscall, verdict), count)| {
            [
                escape(container),
                escape(arch),
                escape(syscall),
                count.to_string(),
                verdict.clone(),
            ]
        })
        .collect();
    let header = ["CONTAINER", "ARCH", "SYSCALL", "COUNT", last].map(str::to_owned);
    let mut widths = [0; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.as_str().width());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter().zip(row) {
            let pad = width - cell.as_str().width();
            let _ = write!(text, "{cell}{:pad$}  ", "");
        }
        let _ = writeln!(text, "{}", row[4]);
    }
    text
}
