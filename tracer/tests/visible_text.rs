//! The visible encoding of untrusted bytes (`events::text::visible`) and what the terminal gets
//! of it (`output::escape::for_terminal`), checked by reading the bytes back with decoders
//! written here from the encoding's description in docs/events.md.

use std::sync::Arc;

use proptest::prelude::*;
use tracer::{
    events::{Container, Decoder, clock::WallClock, text::visible},
    output::{
        Formatter, Json,
        escape::{Encoding, for_terminal},
    },
};
use tracer_common::{COMM_LEN, HEADER_BYTES, RawSeccompEvent, detail, source};

/// Reads the bytes back from their visible encoding; `None` for text the encoding never makes.
fn from_visible(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        match chars.next()? {
            '\\' => bytes.push(b'\\'),
            'x' => {
                let byte = hex_byte(&mut chars)?;
                // Only bytes that cannot be UTF-8 on their own are escaped.
                if byte < 0x80 {
                    return None;
                }
                bytes.push(byte);
            }
            _ => return None,
        }
    }
    // Escaped bytes next to each other never form valid UTF-8 together: `visible` would have
    // kept them as a character.
    (visible(&bytes) == text).then_some(bytes)
}

/// Reads back what the terminal got for visible text: `\xNN` below 0x80 and `\u{N}` are
/// characters the terminal must not see raw, the rest is the visible encoding.
fn from_terminal(text: &str) -> Option<String> {
    let mut visible_text = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            visible_text.push(c);
            continue;
        }
        match chars.peek()? {
            'x' => {
                let mut lookahead = chars.clone();
                lookahead.next();
                let byte = hex_byte(&mut lookahead)?;
                if byte < 0x80 {
                    visible_text.push(char::from(byte));
                    chars = lookahead;
                } else {
                    // A byte that is not UTF-8: part of the visible encoding, kept as it is.
                    visible_text.push('\\');
                }
            }
            'u' => {
                chars.next();
                if chars.next()? != '{' {
                    return None;
                }
                let digits: String = chars.by_ref().take_while(|&d| d != '}').collect();
                let code = u32::from_str_radix(&digits, 16).ok()?;
                visible_text.push(char::from_u32(code)?);
            }
            '\\' => {
                chars.next();
                visible_text.push_str("\\\\");
            }
            _ => return None,
        }
    }
    Some(visible_text)
}

fn hex_byte(chars: &mut impl Iterator<Item = char>) -> Option<u8> {
    let high = chars.next()?.to_digit(16)?;
    let low = chars.next()?.to_digit(16)?;
    Some((high * 16 + low) as u8)
}

/// What a terminal would act on or hide: controls, the format characters of Unicode's
/// general category Cf that are in use, and the line and paragraph separators.
fn is_hidden_or_active(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

#[test]
fn keeps_apart_what_printed_the_same_before() {
    let pairs: [(&[u8], &[u8]); 5] = [
        // Typed escapes against the bytes they name.
        (b"\\xff", b"\xff"),
        (b"\\x1b", b"\x1b"),
        (b"a\\\\", b"a\\"),
        // A backslash before an invalid byte, against an escape typed before it.
        (b"\\\xfe", b"\\xfe"),
        // Two invalid bytes, against a valid character made of the same bytes.
        (b"\xc3\x28", "é".as_bytes()),
    ];
    for (a, b) in pairs {
        assert_ne!(
            visible(a),
            visible(b),
            "{a:?} and {b:?} must not look alike"
        );
        for bytes in [a, b] {
            assert_eq!(
                from_visible(&visible(bytes)).as_deref(),
                Some(bytes),
                "{bytes:?} does not read back from {:?}",
                visible(bytes)
            );
        }
    }
}

#[test]
fn the_decoders_refuse_what_the_encoders_never_write() {
    // A lone backslash, an escape of an ASCII byte, and two escaped bytes that are one character.
    for text in ["\\", "a\\q", "\\x41", "\\xc3\\xa9"] {
        assert_eq!(from_visible(text), None, "{text:?}");
    }
}

#[test]
fn json_prints_the_visible_comm() {
    let mut comm = [0; COMM_LEN];
    comm[..8].copy_from_slice(b"\\xff\xff\x1b\xe2\x80");
    let raw = RawSeccompEvent {
        source: source::FENTRY,
        comm,
        ..Default::default()
    };
    let mut event = Decoder::new("node".into(), WallClock::with_offset_ns(0))
        .decode(&raw)
        .expect("a record from the fentry program decodes");
    event.container = Some(Arc::new(Container {
        runtime: "docker",
        name: "\\xff".into(),
        ..Default::default()
    }));
    let mut out = Vec::new();
    Json::new(false).event(&event, &mut out);
    let value: serde_json::Value = serde_json::from_slice(&out).expect("JSON output parses");
    assert_eq!(value["comm"], "\\\\xff\\xff\u{1b}\\xe2\\x80");
    assert_eq!(
        from_visible(value["comm"].as_str().unwrap()).as_deref(),
        Some(&comm[..8])
    );
    // A container's name is plain text in JSON: JSON's own escaping keeps it unambiguous.
    assert_eq!(value["container"]["name"], "\\xff");
}

/// A ring buffer record from the fentry program with a path, an executable of one component
/// and argv, each carrying `bytes`, decoded and printed as JSON.
fn json_of_strings(bytes: &[u8]) -> serde_json::Value {
    let mut argv = bytes.to_vec();
    argv.push(0);
    let exe = argv.clone();
    let raw = RawSeccompEvent {
        source: source::FENTRY,
        path_len: bytes.len() as u16,
        exe_len: exe.len() as u16,
        cmdline_len: argv.len() as u16,
        details: detail::PATH | detail::EXE | detail::CMDLINE,
        ..Default::default()
    };
    // SAFETY: RawSeccompEvent is plain integers without padding: all of its bytes are
    // initialized.
    let header = unsafe {
        std::slice::from_raw_parts((&raw as *const RawSeccompEvent).cast::<u8>(), HEADER_BYTES)
    };
    let event = Decoder::new("node".into(), WallClock::with_offset_ns(0))
        .decode_bytes(&[header, bytes, &exe, &argv].concat())
        .expect("a record from the fentry program decodes");
    let mut out = Vec::new();
    Json::new(false).event(&event, &mut out);
    serde_json::from_slice(&out).expect("JSON output parses")
}

#[test]
fn json_prints_the_visible_path_exe_and_argv() {
    let value = json_of_strings(b"\\xff\xff\x1b");
    assert_eq!(value["path"], "\\\\xff\\xff\u{1b}");
    assert_eq!(value["exe"], "/\\\\xff\\xff\u{1b}");
    assert_eq!(value["cmdline"], "\\\\xff\\xff\u{1b}");
}

/// Bytes of names and paths: mostly text, with backslashes, controls, stray UTF-8 pieces and
/// format characters mixed in more often than random bytes would give them.
fn untrusted_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(b"\\".to_vec()),
        Just(b"\\x".to_vec()),
        Just(b"\\u{".to_vec()),
        (0x80u8..=0xff).prop_map(|b| vec![b]),
        any::<char>().prop_map(|c| c.to_string().into_bytes()),
        prop::sample::select(vec![
            '\u{202e}', '\u{200b}', '\u{feff}', '\u{ad}', '\u{9b}', '名'
        ])
        .prop_map(|c| c.to_string().into_bytes()),
        "[a-z0-9 ./-]{1,4}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn visible_reads_back_to_the_same_bytes(bytes in untrusted_bytes()) {
        let text = visible(&bytes);
        prop_assert_eq!(from_visible(&text), Some(bytes));
    }

    #[test]
    fn the_terminal_sees_nothing_it_acts_on_and_the_bytes_read_back(bytes in untrusted_bytes()) {
        let text = visible(&bytes);
        let shown = for_terminal(&text, Encoding::Visible);
        prop_assert!(
            !shown.chars().any(is_hidden_or_active),
            "{:?} reaches the terminal as {:?}", text, shown
        );
        prop_assert_eq!(from_terminal(&shown), Some(text));
    }

    #[test]
    fn plain_text_shows_as_its_visible_encoding(text in any::<String>()) {
        let encoded = visible(text.as_bytes());
        prop_assert_eq!(
            for_terminal(&text, Encoding::Plain),
            for_terminal(&encoded, Encoding::Visible)
        );
    }

    #[test]
    fn a_path_exe_and_argv_read_back_from_json(bytes in untrusted_bytes()) {
        // NUL ends a path and separates argv: the program never sends one inside.
        let bytes: Vec<u8> = bytes.into_iter().filter(|&b| b != 0).collect();
        let value = json_of_strings(&bytes);
        prop_assert_eq!(from_visible(value["path"].as_str().unwrap()), Some(bytes.clone()));
        prop_assert_eq!(from_visible(value["cmdline"].as_str().unwrap()), Some(bytes.clone()));
        let exe = from_visible(value["exe"].as_str().unwrap()).unwrap();
        if bytes.is_empty() || bytes == b"/" {
            prop_assert_eq!(exe, b"/");
        } else {
            prop_assert_eq!(exe, [&b"/"[..], &bytes].concat());
        }
    }
}
