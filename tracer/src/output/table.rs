//! `--summary`'s table: calls counted by container, syscall and code, the most frequent first,
//! with when each was last seen. A summary event counts as the calls it stands for, so the
//! table counts every call whatever `--dedup` or `--rate-limit` held back.

use std::{collections::HashMap, fmt::Write as _};

use chrono::{DateTime, Utc};
use unicode_width::UnicodeWidthStr as _;

use super::escape::{self, Encoding};
use crate::events::{Event, owner::Owner};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RowKey {
    owner: Owner,
    /// The call's number and name (the number where its arch's table has none).
    syscall: (u32, Option<&'static str>),
    code: &'static str,
}

#[derive(Clone, Debug)]
struct Row {
    count: u64,
    last_seen: DateTime<Utc>,
    /// The owner as last seen: a renamed container shows its new name.
    latest: Owner,
}

/// Calls counted so far.
#[derive(Default)]
pub struct CallTable {
    rows: HashMap<RowKey, Row>,
    total: u64,
}

/// The column headers.
const HEADERS: [&str; 5] = ["CONTAINER", "SYSCALL", "CODE", "COUNT", "LAST SEEN"];

impl CallTable {
    /// Counts `event`: one call, or the calls a summary stands for.
    pub fn add(&mut self, event: &Event) {
        let (count, last_seen) = match &event.summary {
            Some(summarized) => (summarized.summary.count, summarized.summary.last),
            None => (1, event.timestamp),
        };
        let key = Self::key_of(event);
        self.total += count;
        let latest = key.owner.clone();
        let row = self.rows.entry(key).or_insert_with(|| Row {
            count: 0,
            last_seen,
            latest: latest.clone(),
        });
        row.count += count;
        row.latest = latest;
        row.last_seen = row.last_seen.max(last_seen);
    }

    fn key_of(event: &Event) -> RowKey {
        RowKey {
            owner: Owner::of(event),
            syscall: (event.syscall.nr, event.syscall.name),
            code: event.code.name().unwrap_or("unknown"),
        }
    }

    /// Calls counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The table, the most frequent rows first: at most `max_rows` of them (then a line saying
    /// how many more there are), each cut to `width` columns if given.
    pub fn render(&self, max_rows: Option<usize>, width: Option<usize>) -> Vec<String> {
        let mut rows: Vec<(&RowKey, &Row)> = self.rows.iter().collect();
        rows.sort_by(|a, b| {
            b.1.count
                .cmp(&a.1.count)
                .then_with(|| b.1.last_seen.cmp(&a.1.last_seen))
                .then_with(|| a.0.syscall.cmp(&b.0.syscall))
                .then_with(|| a.0.code.cmp(b.0.code))
        });
        let shown_rows = max_rows.map_or(rows.len(), |max| {
            if rows.len() > max {
                max.saturating_sub(1)
            } else {
                max
            }
        });
        let cells: Vec<[String; 5]> = rows
            .iter()
            .take(shown_rows)
            .map(|(key, row)| {
                let (nr, name) = key.syscall;
                [
                    escape::for_terminal(&row.latest.name(), Encoding::Plain).into_owned(),
                    name.map_or_else(|| nr.to_string(), str::to_owned),
                    key.code.to_owned(),
                    row.count.to_string(),
                    row.last_seen.format("%H:%M:%S%.3f").to_string(),
                ]
            })
            .collect();
        let mut widths = HEADERS.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.width());
            }
        }
        let mut lines = Vec::with_capacity(cells.len() + 2);
        lines.push(line(&HEADERS.map(String::from), &widths));
        lines.extend(cells.iter().map(|row| line(row, &widths)));
        if shown_rows < rows.len() {
            lines.push(format!("... {} more rows", rows.len() - shown_rows));
        }
        if let Some(width) = width {
            for line in &mut lines {
                cut_to_width(line, width);
            }
        }
        lines
    }
}

/// Cells padded by the columns they take on screen; COUNT aligned right.
fn line(cells: &[String; 5], widths: &[usize; 5]) -> String {
    let mut out = String::new();
    for (index, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        let padding = " ".repeat(width.saturating_sub(cell.width()));
        // Writing into a String cannot fail.
        let _ = match index {
            3 => write!(out, "{padding}{cell}  "),
            4 => write!(out, "{cell}"),
            _ => write!(out, "{cell}{padding}  "),
        };
    }
    out
}

/// Cuts `line` to `width` columns on screen, so it never wraps onto the next row.
fn cut_to_width(line: &mut String, width: usize) {
    if line.width() <= width {
        return;
    }
    let mut used = 0;
    let end = line
        .char_indices()
        .find(|(_, c)| {
            used += unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
            used > width
        })
        .map_or(line.len(), |(at, _)| at);
    line.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::{
        events::{Container, SyscallName},
        test_support::sample_event,
    };

    fn call(container: Option<&str>, syscall_nr: u32) -> Event {
        let mut event = sample_event();
        event.syscall = SyscallName::of(event.arch, syscall_nr);
        event.syscall_nr = syscall_nr;
        event.set_container(container.map(|name| {
            Arc::new(Container {
                runtime: "docker",
                id: format!("id-{name}"),
                name: name.into(),
                ..Container::default()
            })
        }));
        event.on_host = container.is_none();
        event
    }

    #[test]
    fn counts_calls_and_summaries_most_frequent_first() {
        let mut table = CallTable::default();
        for _ in 0..3 {
            table.add(&call(Some("web"), 39));
        }
        table.add(&call(Some("db"), 39));
        table.add(&call(None, 83));
        table.add(&crate::volume::tests_support::summary_of(
            call(Some("db"), 39),
            10,
        ));
        assert_eq!(table.total(), 15);
        let lines = table.render(None, None);
        let words: Vec<Vec<&str>> = lines
            .iter()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            words[0],
            ["CONTAINER", "SYSCALL", "CODE", "COUNT", "LAST", "SEEN"]
        );
        assert_eq!(&words[1][..4], ["db", "getpid", "kill_thread", "11"]);
        assert_eq!(&words[2][..4], ["web", "getpid", "kill_thread", "3"]);
        assert_eq!(&words[3][..4], ["(host)", "mkdir", "kill_thread", "1"]);
        // The summary's last call is the row's last seen.
        assert_eq!(words[1][4], "22:13:21.000");
    }

    #[test]
    fn a_renamed_container_is_one_row_under_its_new_name() {
        let mut table = CallTable::default();
        table.add(&call(Some("web"), 39));
        let mut renamed = call(Some("web"), 39);
        let mut container = (**renamed.container.as_ref().unwrap()).clone();
        container.name = "web-2".into();
        renamed.set_container(Some(Arc::new(container)));
        table.add(&renamed);
        let lines = table.render(None, None);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[1].starts_with("web-2 "), "{lines:?}");
        assert!(lines[1].contains(" 2 "), "{lines:?}");
    }

    #[test]
    fn fits_the_terminal() {
        let mut table = CallTable::default();
        for nr in 0..50 {
            table.add(&call(Some("a-container-with-a-rather-long-name"), nr));
        }
        let lines = table.render(Some(10), Some(30));
        assert_eq!(lines.len(), 11, "the header and 10 rows");
        assert_eq!(lines[10], "... 41 more rows");
        assert!(lines.iter().all(|l| l.width() <= 30), "{lines:#?}");
    }

    #[test]
    fn escapes_container_names() {
        let mut table = CallTable::default();
        table.add(&call(Some("\u{1b}]2;pwned\u{7}\u{202e}"), 39));
        let lines = table.render(None, None);
        assert!(!lines[1].chars().any(char::is_control), "{lines:?}");
        assert!(
            lines[1].starts_with("\\x1b]2;pwned\\x07\\u{202e}"),
            "{lines:?}"
        );
    }
}
