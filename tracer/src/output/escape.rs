//! Makes untrusted text (comm, paths, argv, container names, labels) safe to print on a terminal.
//!
//! A process chooses its own name: without escaping, `prctl(PR_SET_NAME, "\x1b]2;...")` could
//! rewrite the operator's terminal title, move the cursor or hide lines, and a right-to-left
//! override (U+202E) or a zero-width space could make one name look like another.
//!
//! What reaches the terminal is the [`visible`](crate::events::text::visible) encoding of the
//! text with these characters escaped as well, each in a form that form cannot hold otherwise:
//!
//! - a backslash prints as `\\`;
//! - a byte that was not UTF-8 prints as `\xNN`, from `\x80` to `\xff`;
//! - an ASCII control character (C0 and DEL) prints as `\xNN` too, from `\x00` to `\x1f` or as
//!   `\x7f`: the two ranges never meet;
//! - any other control, format (general category Cf: bidi controls, zero-width characters, the
//!   soft hyphen, the byte order mark...) or line/paragraph separator character prints as
//!   `\u{N}`.

use std::{borrow::Cow, fmt::Write as _};

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// How a field's text is encoded before it is escaped for the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Text as it is (a container's name, a label): a backslash in it is just a backslash, and
    /// is doubled so that it cannot forge an escape.
    Plain,
    /// Already in the [`visible`](crate::events::text::visible) encoding (comm): its
    /// backslashes are escapes, and are printed as they are.
    Visible,
}

/// Escapes what a terminal would act on or hide, and, for [`Encoding::Plain`] text, backslashes.
pub fn for_terminal(text: &str, encoding: Encoding) -> Cow<'_, str> {
    let escapes_backslash = encoding == Encoding::Plain;
    let needs_escape = |c: char| (c == '\\' && escapes_backslash) || is_hidden_or_active(c);
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        // Writing into a String cannot fail.
        match c {
            '\\' if escapes_backslash => out.push_str("\\\\"),
            c if c.is_ascii() && is_hidden_or_active(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_hidden_or_active(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Characters a terminal acts on instead of showing (controls), or that change how the text
/// around them looks without being seen themselves (format characters, line separators).
fn is_hidden_or_active(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::text::visible;

    fn plain(text: &str) -> Cow<'_, str> {
        for_terminal(text, Encoding::Plain)
    }

    #[test]
    fn leaves_plain_text_alone_without_copying() {
        assert!(matches!(plain("unshare"), Cow::Borrowed("unshare")));
        assert_eq!(plain("bash-5.2 é 名前 🦀"), "bash-5.2 é 名前 🦀");
        let comm = visible(b"a\\b\xff");
        assert!(matches!(
            for_terminal(&comm, Encoding::Visible),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn escapes_terminal_control_sequences() {
        assert_eq!(plain("\x1b]2;pwned\x07"), "\\x1b]2;pwned\\x07");
        assert_eq!(plain("a\nb\rc\td\x7f"), "a\\x0ab\\x0dc\\x09d\\x7f");
        assert_eq!(plain("c1\u{9b}31m"), "c1\\u{9b}31m");
    }

    #[test]
    fn escapes_format_and_bidi_characters() {
        // "evil\u{202e}txt.exe" would show as "evilexe.txt".
        assert_eq!(plain("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        for c in [
            '\u{ad}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202c}',
            '\u{2066}',
            '\u{2069}',
            '\u{2028}',
            '\u{2029}',
            '\u{feff}',
            '\u{e0041}',
        ] {
            let text = c.to_string();
            assert_eq!(
                plain(&text),
                format!("\\u{{{:x}}}", c as u32),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn escapes_backslashes_of_plain_text_so_escapes_cannot_be_forged() {
        assert_eq!(plain("\\x1b"), "\\\\x1b");
        assert_eq!(plain("\\u{202e}"), "\\\\u{202e}");
    }

    #[test]
    fn keeps_the_escapes_of_visible_text_and_escapes_the_rest() {
        let typed = visible(b"\\xff");
        let byte = visible(b"\xff");
        assert_eq!(for_terminal(&typed, Encoding::Visible), "\\\\xff");
        assert_eq!(for_terminal(&byte, Encoding::Visible), "\\xff");
        let hostile = visible(b"\x1b[2J\\\xc3");
        assert_eq!(
            for_terminal(&hostile, Encoding::Visible),
            "\\x1b[2J\\\\\\xc3"
        );
    }

    #[test]
    fn plain_text_prints_as_its_visible_encoding_would() {
        for text in ["a\\b", "\\\\", "\x1b\\x1b", "名\u{200b}前"] {
            assert_eq!(
                plain(text),
                for_terminal(&visible(text.as_bytes()), Encoding::Visible),
                "{text:?}"
            );
        }
    }
}
