//! The parser of the kernel's seccomp audit records (`audit::record`), fed records printed here
//! the way the kernel prints them, and text of no form at all.
//!
//! The kernel's format, from `audit_log_start`, `audit_log_task` and `audit_seccomp`:
//! `audit(%llu.%03lu:%u): auid=%u uid=%u gid=%u ses=%u[ subj=%s] pid=%d comm=<untrusted>
//! exe=<untrusted>|(null) sig=%ld arch=%x syscall=%ld compat=%d ip=0x%lx code=0x%x`, where an
//! untrusted string is quoted when every byte is printable ASCII other than `"` (0x21 to 0x7e),
//! and otherwise printed as upper-case hex (`audit_log_n_untrustedstring`).

use std::fmt::Write as _;

use proptest::prelude::*;
use tracer::{
    events::audit_record::{Fields, SeccompRecord, Value},
    events::text::visible,
};

/// What a seccomp record says, before the kernel prints it.
#[derive(Clone, Debug)]
struct Printed {
    seconds: u64,
    millis: u32,
    serial: u32,
    auid: u32,
    uid: u32,
    gid: u32,
    ses: u32,
    subj: Option<String>,
    pid: i32,
    comm: Vec<u8>,
    exe: Option<Vec<u8>>,
    sig: i32,
    arch: u32,
    /// `seccomp_data.nr`, an int the kernel prints as a long.
    syscall: i32,
    compat: bool,
    ip: u64,
    code: u32,
    /// `audit: type=1326 ` before the header, as the kernel log shows records.
    kernel_log: bool,
}

/// `audit_log_n_untrustedstring`.
fn untrusted(bytes: &[u8]) -> String {
    if bytes
        .iter()
        .any(|&b| b == b'"' || !(0x21..=0x7e).contains(&b))
    {
        bytes.iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02X}");
            hex
        })
    } else {
        format!("\"{}\"", String::from_utf8(bytes.to_vec()).unwrap())
    }
}

impl Printed {
    fn text(&self) -> String {
        let mut text = String::new();
        if self.kernel_log {
            text.push_str("audit: type=1326 ");
        }
        let _ = write!(
            text,
            "audit({}.{:03}:{}): auid={} uid={} gid={} ses={}",
            self.seconds, self.millis, self.serial, self.auid, self.uid, self.gid, self.ses
        );
        if let Some(subj) = &self.subj {
            let _ = write!(text, " subj={subj}");
        }
        let _ = write!(text, " pid={} comm={}", self.pid, untrusted(&self.comm));
        match &self.exe {
            Some(exe) => {
                let _ = write!(text, " exe={}", untrusted(exe));
            }
            None => text.push_str(" exe=(null)"),
        }
        let _ = write!(
            text,
            " sig={} arch={:x} syscall={} compat={} ip={:#x} code={:#x}",
            i64::from(self.sig),
            self.arch,
            i64::from(self.syscall),
            u8::from(self.compat),
            self.ip,
            self.code
        );
        text
    }
}

/// Bytes of a name or path: printable ASCII most of the time, so that both of the kernel's
/// forms come up, with the bytes that force hex (space, quote, controls, non-ASCII).
fn untrusted_bytes(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        6 => 0x21u8..=0x7e,
        1 => Just(b' '),
        1 => Just(b'"'),
        1 => Just(b'\\'),
        1 => 1u8..=0x20,
        2 => 0x7fu8..=0xff,
    ];
    prop::collection::vec(byte, len)
}

fn subj() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        // AppArmor, printed unquoted with the space before its mode.
        "[a-z][a-z0-9_.-]{0,15} \\((enforce|complain)\\)".prop_map(Some),
        Just(Some("unconfined".to_owned())),
        // Several LSMs: the labels go to a record of their own.
        Just(Some("?".to_owned())),
        // SELinux.
        "[a-z_]{1,8}:[a-z_]{1,8}:[a-z_]{1,10}:s0(:c[0-9]{1,3},c[0-9]{1,3})?".prop_map(Some),
    ]
}

fn printed() -> impl Strategy<Value = Printed> {
    (
        (0u64..=4_000_000_000, 0u32..1000, any::<u32>()),
        prop::array::uniform4(any::<u32>()),
        subj(),
        (0..=i32::MAX, untrusted_bytes(0..=15)),
        prop::option::of(untrusted_bytes(1..=40)),
        (any::<i32>(), any::<u32>(), any::<i32>(), any::<bool>()),
        (any::<u64>(), any::<u32>(), any::<bool>()),
    )
        .prop_map(
            |(
                (seconds, millis, serial),
                [auid, uid, gid, ses],
                subj,
                (pid, comm),
                exe,
                (sig, arch, syscall, compat),
                (ip, code, kernel_log),
            )| Printed {
                seconds,
                millis,
                serial,
                auid,
                uid,
                gid,
                ses,
                subj,
                pid,
                comm,
                exe,
                sig,
                arch,
                syscall,
                compat,
                ip,
                code,
                kernel_log,
            },
        )
}

/// Text near the record's form: its words, cut and shuffled, where a parser meets its edges.
fn record_like_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("audit(".to_owned()),
        Just("):".to_owned()),
        Just(" ".to_owned()),
        Just("=".to_owned()),
        Just("\"".to_owned()),
        Just("(null)".to_owned()),
        Just(".".to_owned()),
        Just(":".to_owned()),
        Just("0x".to_owned()),
        prop::sample::select(vec![
            "pid", "comm", "exe", "arch", "syscall", "code", "subj", "sig", "ip", "uid",
        ])
        .prop_map(str::to_owned),
        "[0-9a-fA-F]{1,20}",
        "-?[0-9]{1,25}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat()),
        // A real record cut anywhere: a record that did not fit the buffer.
        (printed(), any::<prop::sample::Index>()).prop_map(|(printed, cut)| {
            let text = printed.text();
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text[..at].to_owned()
        }),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_text_makes_the_parser_panic(text in record_like_text()) {
        // Errors are fine; what parses must name its fields as the text does.
        if let Ok(fields) = Fields::parse(&text) {
            for (key, _) in &fields.fields {
                prop_assert!(text.contains(&format!("{key}=")), "{:?} in {:?}", key, text);
            }
        }
        let _ = SeccompRecord::parse(&text);
    }

    #[test]
    fn a_printed_record_reads_back_its_numbers(printed in printed()) {
        let text = printed.text();
        let record = SeccompRecord::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(
            record.timestamp_ns,
            printed.seconds * 1_000_000_000 + u64::from(printed.millis) * 1_000_000
        );
        prop_assert_eq!(record.serial, u64::from(printed.serial));
        prop_assert_eq!(
            (record.auid, record.uid, record.gid, record.ses),
            (Some(printed.auid), Some(printed.uid), Some(printed.gid), Some(printed.ses))
        );
        prop_assert_eq!(record.pid, printed.pid as u32);
        prop_assert_eq!(record.sig, Some(printed.sig));
        prop_assert_eq!(record.arch, printed.arch);
        // seccomp saw an int: a negative number keeps its bit pattern.
        prop_assert_eq!(record.syscall, printed.syscall as u32);
        prop_assert_eq!(record.compat, Some(u32::from(printed.compat)));
        prop_assert_eq!(record.ip, Some(printed.ip));
        prop_assert_eq!(record.code, printed.code);
        prop_assert_eq!(record.subj, printed.subj.filter(|s| s != "?"));
    }

    #[test]
    fn a_printed_record_reads_back_its_comm_and_exe(printed in printed()) {
        let text = printed.text();
        let record = SeccompRecord::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        // In the one visible encoding events from the kernel programs use as well.
        prop_assert_eq!(record.comm, Some(visible(&printed.comm)), "{}", text);
        prop_assert_eq!(record.exe, printed.exe.as_deref().map(visible), "{}", text);
    }

    #[test]
    fn a_printed_record_splits_into_its_fields(printed in printed()) {
        let text = printed.text();
        let fields = Fields::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let keys: Vec<_> = fields.fields.iter().map(|(key, _)| *key).collect();
        let mut expected = vec!["auid", "uid", "gid", "ses"];
        if printed.subj.is_some() {
            expected.push("subj");
        }
        expected.extend(["pid", "comm", "exe", "sig", "arch", "syscall", "compat", "ip", "code"]);
        prop_assert_eq!(keys, expected);
        let comm = fields.get("comm").and_then(Value::untrusted_bytes);
        prop_assert_eq!(comm.as_deref(), Some(&printed.comm[..]));
        let exe = fields.get("exe").and_then(Value::untrusted_bytes);
        prop_assert_eq!(exe.as_deref(), printed.exe.as_deref());
    }

    #[test]
    fn a_printed_record_makes_an_event_with_its_exe_and_ip(printed in printed()) {
        let text = printed.text();
        let record = SeccompRecord::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let event = record.into_event(&"node".into());
        prop_assert_eq!(event.exe, printed.exe.as_deref().map(visible), "{}", text);
        prop_assert_eq!(event.ip, Some(printed.ip));
        // The record has no arguments, path or argv: those are the kernel programs' to add.
        prop_assert_eq!(event.args, None);
        prop_assert_eq!(event.path, None);
        prop_assert_eq!(event.cmdline, None);
    }
}
