//! Aligned columns for people watching a terminal.

use unicode_width::UnicodeWidthStr as _;

use super::{Field, Formatter, Json, escape, fields};
use crate::events::{Event, summary::HeldBack};

pub struct Columns {
    fields: Vec<Field>,
    widths: Vec<usize>,
    /// The event's JSON, which the columns are read from; kept to reuse its allocation.
    json: Vec<u8>,
    writer: Json,
    /// Where the JSON's top-level fields are, found once for all columns.
    top: Vec<fields::TopField>,
}

impl Columns {
    pub fn new(fields: Vec<Field>) -> Self {
        let widths = fields
            .iter()
            .map(|f| f.min_width().max(f.header().len()))
            .collect();
        Self {
            fields,
            widths,
            json: Vec::new(),
            writer: Json::new(false),
            top: Vec::new(),
        }
    }

    fn cell(&self, index: usize, text: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(text.as_bytes());
        if index + 1 == self.fields.len() {
            // No padding after the last column: lines stay free of trailing blanks.
            out.push(b'\n');
        } else {
            // Padded by the columns the text takes on screen, not by its characters: a CJK
            // character or an emoji takes two. A long value is never cut: it pushes the row
            // right and keeps one space.
            let padding = self.widths[index].saturating_sub(text.width());
            out.resize(out.len() + padding + 1, b' ');
        }
    }
}

impl Formatter for Columns {
    fn header(&self, out: &mut Vec<u8>) {
        for (index, field) in self.fields.iter().enumerate() {
            self.cell(index, &field.header(), out);
        }
    }

    fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        // Read through the JSON form, so every field the JSON has is a column.
        self.json.clear();
        self.writer.event(event, &mut self.json);
        let json = std::str::from_utf8(&self.json).expect("JSON is UTF-8");
        fields::index(json.as_bytes(), &mut self.top);
        for (index, field) in self.fields.iter().enumerate() {
            let value = field.value_in(json, &self.top);
            self.cell(index, &escape::for_terminal(&value, field.encoding()), out);
        }
        if let Some(summarized) = &event.summary {
            // The row is the last call held back; what it stands for follows on the line.
            out.pop();
            held_back_note(&summarized.summary, out);
            out.push(b'\n');
        }
        if let Some(stack) = &event.stack {
            super::stack_lines::write(stack, out);
        }
    }
}

/// `  [dedup: 41 more from 22:13:20.000 to 22:13:21.000 UTC, pids 7,8]`: only numbers and
/// times, nothing a terminal could take as a command.
fn held_back_note(held: &HeldBack, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let time = |t: &chrono::DateTime<chrono::Utc>| t.format("%H:%M:%S%.3f");
    let pids: Vec<String> = held.pids.iter().map(u32::to_string).collect();
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "  [{}: {} more from {} to {} UTC, pids {}]",
        held.reason.as_str(),
        held.count,
        time(&held.first),
        time(&held.last),
        pids.join(",")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{OutputFormat, fields::default_columns};
    use crate::test_support::sample_event;

    fn field(name: &str) -> Field {
        Field::from_name(name).unwrap()
    }

    fn render(fields: &[Field], event: &Event) -> String {
        let mut columns = Columns::new(fields.to_vec());
        let mut out = Vec::new();
        columns.header(&mut out);
        columns.event(event, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_columns_name_the_culprit() {
        let text = render(&default_columns(), &sample_event());
        let lines: Vec<_> = text.lines().collect();
        let header: Vec<_> = lines[0].split_whitespace().collect();
        assert_eq!(
            header,
            [
                "RUNTIME.CONTAINERNAME",
                "PID",
                "TID",
                "COMM",
                "SYSCALL",
                "CODE"
            ]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["485855", "485856", "unshare", "unshare", "kill_thread"]
        );
        // Every value starts under its header.
        for word in ["PID", "TID", "COMM", "SYSCALL", "CODE"] {
            let column = lines[0].find(word).unwrap();
            assert_ne!(
                &lines[1][column..column + 1],
                " ",
                "{word} column misaligned:\n{text}"
            );
        }
    }

    #[test]
    fn a_summary_is_its_last_call_and_what_it_stands_for() {
        let summary = crate::volume::tests_support::summary_of(sample_event(), 41);
        let text = render(&default_columns(), &summary);
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.ends_with(
                "kill_thread  [dedup: 41 more from 22:13:20.000 to 22:13:21.000 UTC, pids 485855]"
            ),
            "{text}"
        );
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn escapes_a_hostile_comm() {
        let mut event = sample_event();
        event.comm = "\x1b[2Jevil".into();
        let text = render(&[field("comm")], &event);
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(text.contains("\\x1b[2Jevil"), "{text:?}");
    }

    #[test]
    fn escapes_hostile_paths_executables_and_argv() {
        let mut event = crate::test_support::sample_denial_event();
        let hostile = crate::events::text::visible(b"\x1b]2;pwned\x07\xff\\\xe2\x80\xae");
        event.path = Some(hostile.clone());
        event.exe = Some(format!("/tmp/{hostile}"));
        event.cmdline = Some(format!("sh -c {hostile}\n"));
        event.parent_comm = Some(hostile);
        let names = ["path", "exe", "cmdline", "parent_comm"];
        let text = render(&names.map(field), &event);
        assert!(
            !text.lines().nth(1).unwrap().chars().any(char::is_control),
            "{text:?}"
        );
        let row: Vec<_> = text.lines().nth(1).unwrap().split_whitespace().collect();
        let shown = "\\x1b]2;pwned\\x07\\xff\\\\\\u{202e}";
        assert_eq!(
            row,
            [
                shown,
                &format!("/tmp/{shown}"),
                "sh",
                "-c",
                &format!("{shown}\\x0a"),
                shown
            ]
        );
    }

    #[test]
    fn shows_the_registers_as_the_json_has_them() {
        let event = crate::test_support::sample_denial_event();
        let text = render(
            &[field("errno_name"), field("args"), field("dirfd")],
            &event,
        );
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "EACCES",
                "18446744073709551516,140725579357248,493,0,0,0",
                "-100"
            ]
        );
        for word in ["ARGS", "DIRFD"] {
            let column = lines[0].find(word).unwrap();
            assert_ne!(&lines[1][column..column + 1], " ", "{word}:\n{text}");
        }
    }

    #[test]
    fn escapes_backslashes_of_names_but_not_the_escapes_of_comm() {
        let mut event = sample_event();
        // A comm of the byte 0xff and a backslash, decoded, and a container named like it.
        event.comm = crate::events::text::visible(b"\xff\\");
        event.container = Some(std::sync::Arc::new(crate::events::Container {
            runtime: "docker",
            name: "\\xff\u{202e}".into(),
            ..Default::default()
        }));
        let text = render(&[field("comm"), field("container.name")], &event);
        let row: Vec<_> = text.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row, ["\\xff\\\\", "\\\\xff\\u{202e}"]);
    }

    #[test]
    fn pads_by_the_width_on_screen() {
        use unicode_width::UnicodeWidthStr as _;
        let fields = [field("comm"), field("syscall")];
        let header = render(&fields, &sample_event());
        let syscall_at = header.lines().next().unwrap().find("SYSCALL").unwrap();
        // CJK and emoji take two columns each, an accent none of its own.
        for comm in ["名前を付けた", "🦀🦀🦀", "cafe\u{301}", "ascii"] {
            let mut event = sample_event();
            event.comm = comm.into();
            let text = render(&fields, &event);
            let row = text.lines().nth(1).unwrap();
            let syscall = row.find("unshare").unwrap();
            assert_eq!(
                row[..syscall].width(),
                syscall_at,
                "{comm:?} misaligns the next column:\n{text}"
            );
        }
    }

    #[test]
    fn custom_columns_follow_the_requested_order() {
        let OutputFormat::Columns(fields) =
            "columns=syscall_nr,arch,code_raw,signal".parse().unwrap()
        else {
            panic!("not columns")
        };
        let text = render(&fields, &sample_event());
        let row: Vec<_> = text.lines().nth(1).unwrap().split_whitespace().collect();
        // Columns show what the JSON has: code_raw as a number.
        assert_eq!(row, ["272", "x86_64", "0", "SIGSYS"]);
    }
}
