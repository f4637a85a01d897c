//! Bytes a traced process chose (its comm, the paths it passes, its executable's path, its argv)
//! turned into text that says exactly which bytes they were.
//!
//! The kernel holds these as bytes, not UTF-8, and the process picks them freely: it can name
//! itself `\xff` (four characters) or give itself the single byte 0xff. The [`visible`] encoding
//! keeps the two apart:
//!
//! - valid UTF-8 is kept as it is;
//! - a backslash becomes `\\`;
//! - each byte that is not part of valid UTF-8 becomes `\xNN` (two lowercase hex digits).
//!
//! A backslash in the encoded text is therefore always the start of `\\` or `\xNN`, and the
//! bytes can be read back from it. Control characters are valid UTF-8 and are kept: making them
//! harmless is the terminal output's job, not the data's (JSON escapes them its own way).

use std::fmt::Write as _;

/// The [`visible`](self) encoding of untrusted bytes.
pub fn visible(bytes: &[u8]) -> String {
    // Nearly every name is UTF-8 without a backslash, and is its own encoding.
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.contains('\\')
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            // Writing into a String cannot fail.
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_utf8_and_marks_the_rest() {
        assert_eq!(visible(b"unshare"), "unshare");
        assert_eq!(visible("bash-5.2 é 名前".as_bytes()), "bash-5.2 é 名前");
        assert_eq!(visible(b"\xff"), "\\xff");
        assert_eq!(visible(b"\\xff"), "\\\\xff");
        // A lead byte without its continuation, and a continuation without its lead.
        assert_eq!(visible(b"a\xc3"), "a\\xc3");
        assert_eq!(visible(b"\xa9b"), "\\xa9b");
        assert_eq!(visible(b"\x1b[2J"), "\x1b[2J");
        assert_eq!(visible(b""), "");
    }
}
