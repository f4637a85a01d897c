//! Aligned columns for people watching a terminal.

use std::io::Write as _;

use super::{Field, Formatter, escape};
use crate::events::Event;

pub struct Columns {
    fields: Vec<Field>,
    widths: Vec<usize>,
}

impl Columns {
    pub fn new(fields: Vec<Field>) -> Self {
        let widths = fields
            .iter()
            .map(|f| f.min_width().max(f.header().len()))
            .collect();
        Self { fields, widths }
    }

    fn cell(&self, index: usize, text: &str, out: &mut Vec<u8>) {
        if index + 1 == self.fields.len() {
            // No padding after the last column: lines stay free of trailing blanks.
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        } else {
            // A long value is never cut: it pushes the row right and keeps one space.
            let _ = write!(out, "{text:<width$} ", width = self.widths[index]);
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
        for (index, field) in self.fields.iter().enumerate() {
            let value = field.value(event);
            self.cell(index, &escape::for_terminal(&value), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{OutputFormat, fields::DEFAULT_COLUMNS};
    use crate::test_support::sample_event;

    fn render(fields: &[Field], event: &Event) -> String {
        let mut columns = Columns::new(fields.to_vec());
        let mut out = Vec::new();
        columns.header(&mut out);
        columns.event(event, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_columns_name_the_culprit() {
        let text = render(DEFAULT_COLUMNS, &sample_event());
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
    fn escapes_a_hostile_comm() {
        let mut event = sample_event();
        event.comm = "\x1b[2Jevil".into();
        let text = render(&[Field::Comm], &event);
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(text.contains("\\x1b[2Jevil"), "{text:?}");
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
        assert_eq!(row, ["272", "x86_64", "0x0", "SIGSYS"]);
    }
}
