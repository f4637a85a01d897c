//! Makes untrusted text (comm, container names, labels) safe to print on a terminal.
//!
//! A process chooses its own name: without escaping, `prctl(PR_SET_NAME, "\x1b]2;...")` could
//! rewrite the operator's terminal title, move the cursor or hide lines.

use std::{borrow::Cow, fmt::Write as _};

/// Escapes control characters (C0, DEL, C1) as `\xNN` / `\u{NN}` and backslashes as `\\`, so
/// the escaped text cannot be confused with text that contained those sequences literally.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_plain_text_alone_without_copying() {
        assert!(matches!(for_terminal("unshare"), Cow::Borrowed("unshare")));
        assert_eq!(for_terminal("bash-5.2 é"), "bash-5.2 é");
    }

    #[test]
    fn escapes_terminal_control_sequences() {
        assert_eq!(for_terminal("\x1b]2;pwned\x07"), "\\x1b]2;pwned\\x07");
        assert_eq!(for_terminal("a\nb\rc\td\x7f"), "a\\x0ab\\x0dc\\x09d\\x7f");
        assert_eq!(for_terminal("c1\u{9b}31m"), "c1\\u{9b}31m");
    }

    #[test]
    fn escapes_backslashes_so_escapes_cannot_be_forged() {
        assert_eq!(for_terminal("\\x1b"), "\\\\x1b");
    }
}
