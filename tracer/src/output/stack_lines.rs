//! An event's stack under its row in columns, one indented line a frame, as a crash report
//! prints it. Names and paths come from the caller's own files: they are escaped like every
//! other untrusted text.

use std::fmt::Write as _;

use super::escape::{Encoding, for_terminal};
use crate::stack::Frame;

/// Appends one line per frame, innermost first.
pub fn write(stack: &[Frame], out: &mut Vec<u8>) {
    let mut line = String::new();
    for (index, frame) in stack.iter().enumerate() {
        line.clear();
        describe(index, frame, &mut line);
        out.extend_from_slice(for_terminal(&line, Encoding::Plain).as_bytes());
        out.push(b'\n');
    }
}

/// `    #1  0x000055d4c2a1b2c3 open_config+0x14 at src/config.c:42 (/usr/local/bin/app)`
fn describe(index: usize, frame: &Frame, line: &mut String) {
    // Writing into a String cannot fail.
    let _ = write!(line, "    #{index:<2} {:#018x} ", frame.ip);
    match (&frame.function, frame.function_offset) {
        (Some(function), Some(offset)) if !frame.inlined => {
            let _ = write!(line, "{function}+{offset:#x}");
        }
        (Some(function), _) => line.push_str(function),
        (None, _) => line.push_str("[unknown]"),
    }
    if frame.inlined {
        line.push_str(" (inlined)");
    }
    if let Some(file) = &frame.file {
        let _ = write!(line, " at {file}");
        if let Some(number) = frame.line {
            let _ = write!(line, ":{number}");
        }
    }
    match (&frame.module, &frame.build_id, frame.file_offset) {
        (Some(module), _, _) => {
            let _ = write!(line, " ({module})");
        }
        (None, Some(build_id), Some(offset)) => {
            let _ = write!(line, " (build id {build_id}, file offset {offset:#x})");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(stack: &[Frame]) -> String {
        let mut out = Vec::new();
        write(stack, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_line_per_frame_with_what_is_known() {
        let full = Frame {
            ip: 0x55d4_c2a1_b2c3,
            module: Some("/usr/local/bin/app".into()),
            build_id: Some("ab".into()),
            file_offset: Some(0x1b2c3),
            function: Some("open_config".into()),
            function_offset: Some(0x14),
            file: Some("src/config.c".into()),
            line: Some(42),
            inlined: false,
        };
        let unknown = Frame {
            ip: 0x7f00_0000_1000,
            build_id: Some("cd".into()),
            file_offset: Some(0x1000),
            ..Frame::default()
        };
        let bare = Frame {
            ip: 0x10,
            ..Frame::default()
        };
        assert_eq!(
            text(&[full, unknown, bare]),
            "    #0  0x000055d4c2a1b2c3 open_config+0x14 at src/config.c:42 (/usr/local/bin/app)\n\
             \x20   #1  0x00007f0000001000 [unknown] (build id cd, file offset 0x1000)\n\
             \x20   #2  0x0000000000000010 [unknown]\n"
        );
    }

    #[test]
    fn names_from_the_callers_files_are_escaped() {
        let hostile = Frame {
            ip: 1,
            function: Some("f\x1b]2;owned\x07".into()),
            module: Some("/a\u{202e}b".into()),
            ..Frame::default()
        };
        let line = text(&[hostile]);
        assert!(
            !line.contains('\x1b') && !line.contains('\u{202e}'),
            "{line:?}"
        );
        assert!(line.contains("f\\x1b]2;owned\\x07"), "{line:?}");
    }
}
