//! The kernel's seccomp audit record (type 1326, `AUDIT_SECCOMP`), parsed from its text:
//! `audit(1700000000.123:4567): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined
//! pid=1234 comm="mkdir" exe="/bin/busybox" sig=0 arch=c000003e syscall=83 compat=0 ip=0x7f12
//! code=0x7ffc0000`.
//!
//! Fields vary by kernel version and LSM (`subj`, `compat`, `ip` and `exe` are not always there),
//! so the text is first split into fields generically ([`Fields`]) and the typed record
//! ([`SeccompRecord`]) then reads each by name, requiring only what an event cannot do without.

use std::{borrow::Cow, sync::Arc};

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::{Arch, Event, SeccompAction, Source, SyscallName, text::visible};

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("the record has no audit(SECONDS.MILLIS:SERIAL) header")]
    NoHeader,
    #[error("the record's header audit({header}) is not SECONDS.MILLIS:SERIAL")]
    BadHeader { header: String },
    #[error("the record has no {0} field")]
    Missing(&'static str),
    #[error("the record's {field} field has an unreadable value {value:?}")]
    Invalid { field: &'static str, value: String },
}

/// A field's value as the kernel printed it. Which of the bare forms a value is (a number, a
/// hex-encoded string, a label) is known only from the field's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `"..."`, without the quotes. The kernel quotes a string only when it has no space,
    /// quote, control or non-ASCII byte, so it needs no unescaping.
    Quoted(&'a str),
    /// `(null)`: the kernel had nothing to print, e.g. `exe` of a task without an executable.
    Null,
    /// Anything else, e.g. `1234`, `0x7ffc0000`, `6D792070726F67` or `docker-default (enforce)`.
    Bare(&'a str),
}

impl<'a> Value<'a> {
    /// The text as printed; `None` for `(null)`.
    pub fn text(self) -> Option<&'a str> {
        match self {
            Value::Quoted(text) | Value::Bare(text) => Some(text),
            Value::Null => None,
        }
    }

    /// The bytes of a string the kernel logs with `audit_log_untrustedstring` (comm, exe): quoted
    /// as is, or hex-encoded when it holds a byte that could not be quoted safely. A bare value
    /// that is not hex (the kernel's `<too_long>` or `<no_memory>` placeholders) is kept as text.
    pub fn untrusted_bytes(self) -> Option<Cow<'a, [u8]>> {
        match self {
            Value::Quoted(text) => Some(Cow::Borrowed(text.as_bytes())),
            Value::Bare(text) => {
                Some(hex_bytes(text).map_or(Cow::Borrowed(text.as_bytes()), Cow::Owned))
            }
            Value::Null => None,
        }
    }

    /// [`Value::untrusted_bytes`] in the [`visible`] encoding events from the kernel programs
    /// use: a backslash as `\\`, a byte that is not UTF-8 as `\xNN`.
    pub fn untrusted_string(self) -> Option<String> {
        self.untrusted_bytes().map(|bytes| visible(&bytes))
    }
}

/// The header and every `key=value` field of an audit record, in the order printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fields<'a> {
    /// Wall-clock time the record was made, in nanoseconds since the Unix epoch (the kernel
    /// prints milliseconds).
    pub timestamp_ns: u64,
    /// The audit event's serial number; records of one event share it.
    pub serial: u64,
    pub fields: Vec<(&'a str, Value<'a>)>,
}

impl<'a> Fields<'a> {
    /// Splits a record as it arrives on netlink (`audit(...): k=v ...`) or as the kernel log
    /// shows it (`audit: type=1326 audit(...): k=v ...`).
    pub fn parse(text: &'a str) -> Result<Self, RecordError> {
        let (timestamp_ns, serial, body) = split_header(text)?;
        Ok(Self {
            timestamp_ns,
            serial,
            fields: FieldIter::new(body).collect(),
        })
    }

    /// The first field named `key`.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.fields.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
    }
}

/// The header's time and serial, and the text of the fields after it.
fn split_header(text: &str) -> Result<(u64, u64, &str), RecordError> {
    let text = text.trim_end_matches(['\0', '\n', ' ']);
    // Records from netlink start with the header; the kernel log's form has a prefix.
    let start = match text.strip_prefix("audit(") {
        Some(_) => "audit(".len(),
        None => text.find("audit(").ok_or(RecordError::NoHeader)? + "audit(".len(),
    };
    let end = start + text[start..].find("):").ok_or(RecordError::NoHeader)?;
    let header = &text[start..end];
    let (timestamp_ns, serial) = parse_header(header).ok_or_else(|| RecordError::BadHeader {
        header: header.to_owned(),
    })?;
    Ok((timestamp_ns, serial, &text[end + 2..]))
}

/// A seccomp audit record, as `audit_seccomp` and `audit_log_task` in the kernel write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompRecord {
    /// Wall-clock time, nanoseconds since the Unix epoch, millisecond precision.
    pub timestamp_ns: u64,
    pub serial: u64,
    /// Login uid; 4294967295 when unset, as the kernel prints it.
    pub auid: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Login session; 4294967295 when unset.
    pub ses: Option<u32>,
    /// The LSM's label of the task; `None` also for `subj=?`, which kernels with several LSMs
    /// print while putting the labels in a separate record.
    pub subj: Option<String>,
    /// Thread-group id in the initial pid namespace.
    pub pid: u32,
    pub comm: Option<String>,
    /// `None` when the kernel printed `(null)`: a task without an executable file.
    pub exe: Option<String>,
    /// The signal seccomp sends with the action, 0 for none.
    pub sig: Option<i32>,
    /// `AUDIT_ARCH_*` of the call, which decides the syscall table `syscall` is from.
    pub arch: u32,
    /// As seccomp saw it (`seccomp_data.nr`): a negative number keeps its 32-bit pattern.
    pub syscall: u32,
    pub compat: Option<u32>,
    pub ip: Option<u64>,
    /// The filter's full return value: action in the high 16 bits, data in the low 16.
    pub code: u32,
}

impl SeccompRecord {
    /// Reads a record in one pass over its fields, without collecting them.
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let (timestamp_ns, serial, body) = split_header(text)?;
        Self::from_named(timestamp_ns, serial, &Named::of(FieldIter::new(body)))
    }

    pub fn from_fields(fields: &Fields<'_>) -> Result<Self, RecordError> {
        let named = Named::of(fields.fields.iter().copied());
        Self::from_named(fields.timestamp_ns, fields.serial, &named)
    }

    fn from_named(timestamp_ns: u64, serial: u64, fields: &Named<'_>) -> Result<Self, RecordError> {
        let text = |name: &'static str| fields.get(name).and_then(Value::text);
        let optional = |name: &'static str, read: fn(&str) -> Option<u64>, max: u64| {
            text(name)
                .map(|value| {
                    read(value)
                        .filter(|&n| n <= max)
                        .ok_or_else(|| invalid(name, value))
                })
                .transpose()
        };
        let required = |name: &'static str, read: fn(&str) -> Option<u64>, max: u64| {
            optional(name, read, max)?.ok_or(RecordError::Missing(name))
        };
        let max32 = u64::from(u32::MAX);
        let u32_field = |name| -> Result<Option<u32>, RecordError> {
            Ok(optional(name, decimal, max32)?.map(|n| n as u32))
        };
        let syscall = text("syscall").ok_or(RecordError::Missing("syscall"))?;
        Ok(Self {
            timestamp_ns,
            serial,
            auid: u32_field("auid")?,
            uid: u32_field("uid")?,
            gid: u32_field("gid")?,
            ses: u32_field("ses")?,
            subj: text("subj").filter(|s| *s != "?").map(str::to_owned),
            pid: required("pid", decimal, max32)? as u32,
            comm: fields.get("comm").and_then(Value::untrusted_string),
            exe: fields.get("exe").and_then(Value::untrusted_string),
            sig: text("sig")
                .map(|v| v.parse::<i32>().map_err(|_| invalid("sig", v)))
                .transpose()?,
            arch: required("arch", hex, max32)? as u32,
            syscall: syscall_number(syscall).ok_or_else(|| invalid("syscall", syscall))?,
            compat: u32_field("compat")?,
            ip: optional("ip", hex, u64::MAX)?,
            code: required("code", hex, max32)? as u32,
        })
    }

    pub fn timestamp(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(i64::try_from(self.timestamp_ns).unwrap_or(i64::MAX))
    }

    /// The event this record reports. What the record lacks (the parent, the namespace, the
    /// cgroup) is left for enrichment to find; the call's arguments, path and argv for the
    /// kernel programs' details of the same call, where they run.
    pub fn into_event(self, node: &Arc<str>) -> Event {
        let arch = Arch::from_audit(self.arch, self.syscall);
        Event {
            timestamp: self.timestamp(),
            node: Arc::clone(node),
            source: Source::Audit,
            pid: self.pid,
            tid: None,
            ppid: None,
            // The kernel prints every id; an absent one reads as unset (-1), as auditd shows it.
            uid: self.uid.unwrap_or(u32::MAX),
            gid: self.gid.unwrap_or(u32::MAX),
            comm: self.comm.unwrap_or_default(),
            mntns_id: None,
            cgroup_id: None,
            syscall_nr: self.syscall,
            arch,
            syscall: SyscallName::of(arch, self.syscall),
            code: SeccompAction::from(self.code),
            code_raw: self.code,
            signal: self.sig.filter(|&sig| sig != 0),
            errno: None,
            errno_name: None,
            args: None,
            ip: self.ip,
            path: None,
            path_truncated: None,
            dirfd: None,
            exe: self.exe,
            cmdline: None,
            cmdline_truncated: None,
            parent_comm: None,
            ns_pid: None,
            ns_ppid: None,
            stack: None,
            raw_stack: None,
            container: None,
            k8s: None,
            rule: None,
            severity: None,
            tags: None,
            message: None,
            on_host: false,
            summary: None,
        }
    }
}

/// The fields a seccomp record reads, found in one pass over the record: looking each up by
/// name would compare every key of the record once per field read.
struct Named<'a> {
    values: [Option<Value<'a>>; 14],
}

impl<'a> Named<'a> {
    fn of(fields: impl Iterator<Item = (&'a str, Value<'a>)>) -> Self {
        let mut values = [None; 14];
        for (key, value) in fields {
            if let Some(at) = Self::slot(key) {
                // The first field of a name counts, as with Fields::get.
                values[at].get_or_insert(value);
            }
        }
        Self { values }
    }

    fn get(&self, name: &'static str) -> Option<Value<'a>> {
        self.values[Self::slot(name)?]
    }

    /// Where each field [`SeccompRecord::from_fields`] reads is kept.
    #[inline]
    fn slot(name: &str) -> Option<usize> {
        Some(match name {
            "auid" => 0,
            "uid" => 1,
            "gid" => 2,
            "ses" => 3,
            "subj" => 4,
            "pid" => 5,
            "comm" => 6,
            "exe" => 7,
            "sig" => 8,
            "arch" => 9,
            "syscall" => 10,
            "compat" => 11,
            "ip" => 12,
            "code" => 13,
            _ => return None,
        })
    }
}

fn invalid(field: &'static str, value: &str) -> RecordError {
    RecordError::Invalid {
        field,
        value: value.to_owned(),
    }
}

/// `SECONDS.MILLIS:SERIAL` → (nanoseconds, serial). The fraction is read by its digits, not
/// assumed to be three, so a finer clock would still read right.
fn parse_header(header: &str) -> Option<(u64, u64)> {
    let (time, serial) = header.split_once(':')?;
    let (seconds, fraction) = time.split_once('.')?;
    if fraction.is_empty() || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fraction_ns = fraction.parse::<u64>().ok()? * 10u64.pow(9 - fraction.len() as u32);
    let ns = seconds
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(fraction_ns)?;
    Some((ns, serial.parse().ok()?))
}

/// The fields of `k1=v1 k2="v2" k3=(null)`, in order. A word that does not start a new field
/// continues the previous bare value: AppArmor's `subj=docker-default (enforce)` is printed
/// unquoted with its space.
struct FieldIter<'a> {
    text: &'a str,
    at: usize,
    /// The length of the key at `at`, when the previous field already found it there.
    key_at: Option<usize>,
}

impl<'a> FieldIter<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            at: 0,
            key_at: None,
        }
    }

    /// The end of the word that starts at `from`: the next space, or the end of the text.
    fn word_end(&self, from: usize) -> usize {
        self.text.as_bytes()[from..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(self.text.len(), |len| from + len)
    }

    /// Skips spaces and words that start no field (only stray text before the first field
    /// can be such a word here: later ones are taken by the bare value before them).
    fn skip_to_field(&mut self) {
        while self.at < self.text.len() {
            if self.text.as_bytes()[self.at] == b' ' {
                self.at += 1;
            } else if key_length(&self.text[self.at..]).is_none() {
                self.at = self.word_end(self.at);
            } else {
                return;
            }
        }
    }
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = (&'a str, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let key_len = match self.key_at.take() {
            Some(len) => len,
            None => {
                self.skip_to_field();
                key_length(&self.text[self.at..])?
            }
        };
        let rest = &self.text[self.at..];
        let key = &rest[..key_len];
        let value_at = self.at + key_len + 1;
        let after = &self.text[value_at..];
        if let Some(quoted) = after.strip_prefix('"') {
            // A missing closing quote means the record was cut short: keep what there is.
            let close = quoted
                .as_bytes()
                .iter()
                .position(|&b| b == b'"')
                .unwrap_or(quoted.len());
            self.at = (value_at + 1 + close + 1).min(self.text.len());
            return Some((key, Value::Quoted(&quoted[..close])));
        }
        let mut end = self.word_end(value_at);
        if &self.text[value_at..end] == "(null)" {
            self.at = end;
            return Some((key, Value::Null));
        }
        // Words up to the next field continue this bare value.
        // The next field's key, once found, is not looked for again.
        loop {
            let next =
                end + self.text[end..].len() - self.text[end..].trim_start_matches(' ').len();
            if next >= self.text.len() {
                break;
            }
            if let Some(len) = key_length(&self.text[next..]) {
                self.key_at = Some(len);
                self.at = next;
                return Some((key, Value::Bare(&self.text[value_at..end])));
            }
            end = self.word_end(next);
        }
        self.at = end;
        Some((key, Value::Bare(&self.text[value_at..end])))
    }
}

/// Length of the key when `text` starts with `key=`.
fn key_length(text: &str) -> Option<usize> {
    let len = text
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        .count();
    (len > 0 && text.as_bytes().get(len) == Some(&b'=')).then_some(len)
}

fn decimal(value: &str) -> Option<u64> {
    value.parse().ok()
}

/// `c000003e` (arch is printed without a prefix) or `0x7ffc0000`.
fn hex(value: &str) -> Option<u64> {
    let digits = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
        .unwrap_or(value);
    u64::from_str_radix(digits, 16).ok()
}

/// The kernel prints the number as a signed long: a filter that acts on a call with a negative
/// number (`syscall(-1)`) makes `syscall=-1`, which seccomp saw as the int 0xffffffff.
fn syscall_number(value: &str) -> Option<u32> {
    let number = value.parse::<i64>().ok()?;
    if let Ok(number) = u32::try_from(number) {
        return Some(number);
    }
    i32::try_from(number).ok().map(|n| n as u32)
}

fn hex_bytes(value: &str) -> Option<Vec<u8>> {
    if value.is_empty() || !value.len().is_multiple_of(2) {
        return None;
    }
    (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(value.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A LOG record from this kind of machine's 6.18 kernel: no LSM, so no subj.
    const MKDIR: &str = "audit(1795477998.219:484): auid=4294967295 uid=0 gid=0 \
        ses=4294967295 pid=24743 comm=\"mkdir\" exe=\"/bin/busybox\" sig=0 arch=c000003e \
        syscall=83 compat=0 ip=0x47b567 code=0x7ffc0000";

    fn record(text: &str) -> SeccompRecord {
        SeccompRecord::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn parses_a_record_of_this_kernel() {
        let record = record(MKDIR);
        assert_eq!(
            record,
            SeccompRecord {
                timestamp_ns: 1_795_477_998_219_000_000,
                serial: 484,
                auid: Some(u32::MAX),
                uid: Some(0),
                gid: Some(0),
                ses: Some(u32::MAX),
                subj: None,
                pid: 24743,
                comm: Some("mkdir".into()),
                exe: Some("/bin/busybox".into()),
                sig: Some(0),
                arch: 0xc000_003e,
                syscall: 83,
                compat: Some(0),
                ip: Some(0x47b567),
                code: 0x7ffc_0000,
            }
        );
        assert_eq!(record.timestamp().timestamp_millis(), 1_795_477_998_219);
    }

    #[test]
    fn the_event_has_the_records_exe_and_ip() {
        let event = record(MKDIR).into_event(&"node".into());
        assert_eq!(event.exe.as_deref(), Some("/bin/busybox"));
        assert_eq!(event.ip, Some(0x47b567));
        // A kill from a program whose path has a space, which the kernel hex-encodes.
        let text = "audit(1795478112.906:512): auid=1000 uid=1000 gid=1000 ses=3 pid=31337 \
            comm=\"my-prog\" exe=2F746D702F6D792070726F67 sig=31 arch=c000003e syscall=272 \
            compat=0 ip=0x7f9a4c2e1b5d code=0x80000000";
        let event = record(text).into_event(&"node".into());
        assert_eq!(event.exe.as_deref(), Some("/tmp/my prog"));
        assert_eq!(event.ip, Some(0x7f9a_4c2e_1b5d));
        // What only a kernel program reads stays unknown.
        assert_eq!((event.args, event.errno, event.path), (None, None, None));
        assert_eq!(
            (event.cmdline, event.parent_comm, event.ns_pid),
            (None, None, None)
        );
    }

    #[test]
    fn splits_every_field_generically() {
        let fields = Fields::parse(MKDIR).unwrap();
        let keys: Vec<_> = fields.fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "auid", "uid", "gid", "ses", "pid", "comm", "exe", "sig", "arch", "syscall",
                "compat", "ip", "code"
            ]
        );
        assert_eq!(fields.get("comm"), Some(Value::Quoted("mkdir")));
        assert_eq!(fields.get("arch"), Some(Value::Bare("c000003e")));
        assert_eq!(fields.get("nope"), None);
    }

    #[test]
    fn reads_the_kernel_log_form_too() {
        let line = format!("audit: type=1326 {MKDIR}");
        assert_eq!(record(&line), record(MKDIR));
    }

    #[test]
    fn reads_hex_encoded_names_and_a_missing_executable() {
        // A space makes the kernel hex-encode comm ("my prog"); a kernel thread or a task whose
        // mm is gone has no executable; a signal comes with KILL/TRAP actions.
        let text = "audit(1700000000.005:7): auid=1000 uid=1000 gid=1000 ses=2 pid=42 \
            comm=6D792070726F67 exe=(null) sig=31 arch=c000003e syscall=272 compat=0 \
            ip=0x7f0011223344 code=0x80000000";
        let record = record(text);
        assert_eq!(record.comm.as_deref(), Some("my prog"));
        assert_eq!(record.exe, None);
        assert_eq!((record.sig, record.code), (Some(31), 0x8000_0000));
        assert_eq!(record.timestamp_ns % 1_000_000_000, 5_000_000);
    }

    #[test]
    fn keeps_quotes_and_bytes_that_are_not_utf8_visible() {
        // comm `a"b` (a quote forces hex too), exe with a Latin-1 byte that is not UTF-8.
        let text = "audit(1.000:1): pid=1 comm=612262 exe=2F746D702F66FF sig=0 arch=c000003e \
            syscall=1 code=0x7ffc0000";
        let record = record(text);
        assert_eq!(record.comm.as_deref(), Some("a\"b"));
        assert_eq!(record.exe.as_deref(), Some("/tmp/f\\xff"));
    }

    #[test]
    fn keeps_a_path_placeholder_as_text() {
        let text = "audit(1.000:1): pid=1 comm=\"x\" exe=<too_long> sig=0 arch=c000003e \
            syscall=1 code=0x7ffc0000";
        assert_eq!(record(text).exe.as_deref(), Some("<too_long>"));
    }

    #[test]
    fn reads_an_apparmor_subject_with_its_space() {
        // Ubuntu with Docker's default AppArmor profile: the label is printed unquoted.
        let text = "audit(1700000000.123:4567): auid=4294967295 uid=0 gid=0 ses=4294967295 \
            subj=docker-default (enforce) pid=1234 comm=\"unshare\" exe=\"/usr/bin/unshare\" \
            sig=0 arch=c000003e syscall=272 compat=0 ip=0x7f12 code=0x50001";
        let record = record(text);
        assert_eq!(record.subj.as_deref(), Some("docker-default (enforce)"));
        assert_eq!((record.pid, record.code), (1234, 0x0005_0001));
    }

    #[test]
    fn a_bare_value_takes_every_word_up_to_the_next_field() {
        let fields =
            Fields::parse("audit(1.001:2): subj=a (b)  c pid=5 comm=\"x y\" tail").unwrap();
        assert_eq!(fields.get("subj"), Some(Value::Bare("a (b)  c")));
        assert_eq!(fields.get("pid"), Some(Value::Bare("5")));
        assert_eq!(fields.get("comm"), Some(Value::Quoted("x y")));
        assert_eq!(fields.fields.len(), 3);
    }

    #[test]
    fn reads_selinux_subjects_and_treats_a_deferred_one_as_absent() {
        let text = "audit(1700000000.123:9): auid=1000 uid=0 gid=0 ses=1 \
            subj=system_u:system_r:container_t:s0:c12,c34 pid=9 comm=\"sh\" exe=\"/bin/sh\" \
            sig=0 arch=c000003e syscall=83 compat=0 ip=0x1 code=0x7ffc0000";
        assert_eq!(
            record(text).subj.as_deref(),
            Some("system_u:system_r:container_t:s0:c12,c34")
        );
        // Several LSMs: the kernel prints `subj=?` and the labels in a record of their own.
        let text = text.replace("subj=system_u:system_r:container_t:s0:c12,c34", "subj=?");
        assert_eq!(record(&text).subj, None);
    }

    #[test]
    fn reads_kernels_older_than_compat_and_ip() {
        // 3.x kernels printed no exe, compat or ip for seccomp.
        let text = "audit(1400000000.500:12): auid=0 uid=0 gid=0 ses=1 pid=77 comm=\"a\" \
            sig=0 arch=40000003 syscall=20 code=0x7ffc0000";
        let record = record(text);
        assert_eq!((record.exe, record.compat, record.ip), (None, None, None));
        assert_eq!((record.arch, record.syscall), (0x4000_0003, 20));
    }

    #[test]
    fn keeps_the_bit_pattern_of_a_negative_syscall_number() {
        let text = "audit(1.000:1): pid=1 sig=0 arch=c000003e syscall=-1 code=0x50026";
        assert_eq!(record(text).syscall, u32::MAX);
        // x32 calls carry bit 30, and stay positive.
        let text = "audit(1.000:1): pid=1 sig=0 arch=c000003e syscall=1073741863 code=0x0";
        assert_eq!(record(text).syscall, 0x4000_0027);
    }

    #[test]
    fn ignores_fields_it_does_not_know_and_what_trails_the_text() {
        let text = format!("{MKDIR} new_field=1 another=\"x\"\n\0\0");
        assert_eq!(record(&text), record(MKDIR));
    }

    #[test]
    fn names_what_is_missing_or_unreadable() {
        for field in ["pid", "arch", "syscall", "code"] {
            let text = MKDIR.replace(&format!(" {field}="), &format!(" x{field}="));
            assert_eq!(
                SeccompRecord::parse(&text),
                Err(RecordError::Missing(field)),
                "{text}"
            );
        }
        let text = MKDIR.replace("pid=24743", "pid=x");
        assert_eq!(
            SeccompRecord::parse(&text),
            Err(RecordError::Invalid {
                field: "pid",
                value: "x".into()
            })
        );
        let text = MKDIR.replace("uid=0 ", "uid=-5 ");
        assert!(matches!(
            SeccompRecord::parse(&text),
            Err(RecordError::Invalid { field: "uid", .. })
        ));
        assert_eq!(SeccompRecord::parse("pid=1"), Err(RecordError::NoHeader));
        assert!(matches!(
            SeccompRecord::parse("audit(12:34): pid=1"),
            Err(RecordError::BadHeader { .. })
        ));
    }

    #[test]
    fn optional_fields_may_be_missing() {
        let text = "audit(1.000:1): pid=1 arch=c000003e syscall=1 code=0x7ffc0000";
        let record = record(text);
        assert_eq!(
            (record.auid, record.uid, record.comm, record.sig),
            (None, None, None, None)
        );
    }

    #[test]
    fn keeps_what_a_truncated_record_has() {
        let text = "audit(1.000:1): pid=1 arch=c000003e syscall=1 code=0x7ffc0000 comm=\"abc";
        assert_eq!(record(text).comm.as_deref(), Some("abc"));
    }
}
