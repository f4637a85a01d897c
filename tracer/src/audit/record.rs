//! The kernel's seccomp audit record (type 1326, `AUDIT_SECCOMP`), parsed from its text:
//! `audit(1700000000.123:4567): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined
//! pid=1234 comm="mkdir" exe="/bin/busybox" sig=0 arch=c000003e syscall=83 compat=0 ip=0x7f12
//! code=0x7ffc0000`. Fields vary by kernel version and LSM (`subj`, `compat` and `ip` are not
//! always there), so every field is read by name and only the ones the event needs are required.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use thiserror::Error;

/// `AUDIT_SECCOMP`
pub const AUDIT_SECCOMP: u16 = 1326;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("no audit(SECONDS.MILLIS:SERIAL) header")]
    NoHeader,
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("field {field} has an unreadable value {value:?}")]
    Invalid { field: &'static str, value: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompRecord {
    pub timestamp: DateTime<Utc>,
    pub serial: u64,
    pub auid: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub ses: Option<u32>,
    pub subj: Option<String>,
    pub pid: u32,
    /// `None` when the kernel wrote `(null)`.
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub sig: i32,
    pub arch: u32,
    pub syscall: u32,
    pub compat: Option<u32>,
    pub ip: Option<u64>,
    pub code: u32,
}

pub fn parse(text: &str) -> Result<SeccompRecord, RecordError> {
    let text = text.trim_end_matches(['\0', '\n', ' ']);
    let (timestamp, serial, rest) = header(text).ok_or(RecordError::NoHeader)?;
    let fields = fields(rest);
    let get = |name: &'static str| fields.get(name).copied();
    let need = |name: &'static str| get(name).ok_or(RecordError::Missing(name));
    let invalid = |field: &'static str, value: &str| RecordError::Invalid {
        field,
        value: value.to_owned(),
    };
    let decimal = |name: &'static str| -> Result<Option<u32>, RecordError> {
        get(name)
            .map(|v| v.parse::<u32>().map_err(|_| invalid(name, v)))
            .transpose()
    };
    let pid = need("pid")?;
    let sig = need("sig")?;
    let arch = need("arch")?;
    let syscall = need("syscall")?;
    let code = need("code")?;
    Ok(SeccompRecord {
        timestamp,
        serial,
        auid: decimal("auid")?,
        uid: decimal("uid")?,
        gid: decimal("gid")?,
        ses: decimal("ses")?,
        subj: get("subj").map(|v| unquote_plain(v).to_owned()),
        pid: pid.parse().map_err(|_| invalid("pid", pid))?,
        comm: get("comm").and_then(untrusted),
        exe: get("exe").and_then(untrusted),
        sig: sig.parse().map_err(|_| invalid("sig", sig))?,
        arch: u32::from_str_radix(arch, 16).map_err(|_| invalid("arch", arch))?,
        syscall: syscall.parse().map_err(|_| invalid("syscall", syscall))?,
        compat: decimal("compat")?,
        ip: get("ip")
            .map(|v| hex(v).ok_or_else(|| invalid("ip", v)))
            .transpose()?,
        code: hex(code)
            .and_then(|c| u32::try_from(c).ok())
            .ok_or_else(|| invalid("code", code))?,
    })
}

/// `audit(1700000000.123:4567): ` → wall-clock time, serial, and the rest.
fn header(text: &str) -> Option<(DateTime<Utc>, u64, &str)> {
    let start = text.find("audit(")? + "audit(".len();
    let end = start + text[start..].find("):")?;
    let (time, serial) = text[start..end].split_once(':')?;
    let (seconds, millis) = time.split_once('.')?;
    let nanos = millis.parse::<u32>().ok()? * 1_000_000;
    let timestamp = DateTime::from_timestamp(seconds.parse().ok()?, nanos)?;
    Some((timestamp, serial.parse().ok()?, &text[end + 2..]))
}

/// `key=value` pairs; a quoted value runs to its closing quote (the kernel hex-encodes any value
/// that would contain a quote or a space, so quotes never nest).
fn fields(text: &str) -> HashMap<&str, &str> {
    let mut fields = HashMap::new();
    let mut rest = text.trim_start();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim();
        let after = &rest[eq + 1..];
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(close) => (&after[..close + 2], &quoted[close + 1..]),
                None => (after, ""),
            },
            None => match after.find(' ') {
                Some(space) => (&after[..space], &after[space..]),
                None => (after, ""),
            },
        };
        // A key may carry leading garbage from an unexpected format; keep the last word.
        let key = key.rsplit(' ').next().unwrap_or(key);
        fields.insert(key, value);
        rest = next.trim_start();
    }
    fields
}

fn unquote_plain(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// A string the kernel logs with `audit_log_untrustedstring`: quoted when plain, hex-encoded
/// when it holds spaces, quotes, control or non-ASCII bytes, `(null)` when absent. Bytes that are
/// not UTF-8 are kept visible as `\xNN`, as for events from the kernel programs.
fn untrusted(value: &str) -> Option<String> {
    if value == "(null)" {
        return None;
    }
    if value.starts_with('"') {
        return Some(unquote_plain(value).to_owned());
    }
    let bytes = hex_bytes(value)?;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    Some(out)
}

fn hex_bytes(value: &str) -> Option<Vec<u8>> {
    if !value.len().is_multiple_of(2) {
        return None;
    }
    (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(value.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex(value: &str) -> Option<u64> {
    u64::from_str_radix(value.trim_start_matches("0x"), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MKDIR: &str = "audit(1795477998.219:484): auid=4294967295 uid=0 gid=0 \
        ses=4294967295 pid=24743 comm=\"mkdir\" exe=\"/bin/busybox\" sig=0 arch=c000003e \
        syscall=83 compat=0 ip=0x47b567 code=0x7ffc0000";

    #[test]
    fn parses_a_record_of_this_kernel() {
        let record = parse(MKDIR).unwrap();
        assert_eq!(record.serial, 484);
        assert_eq!(record.timestamp.timestamp_millis(), 1_795_477_998_219);
        assert_eq!(
            (record.pid, record.uid, record.gid),
            (24743, Some(0), Some(0))
        );
        assert_eq!(record.auid, Some(u32::MAX));
        assert_eq!(record.comm.as_deref(), Some("mkdir"));
        assert_eq!(record.exe.as_deref(), Some("/bin/busybox"));
        assert_eq!(
            (record.sig, record.arch, record.syscall),
            (0, 0xc000_003e, 83)
        );
        assert_eq!(
            (record.compat, record.ip, record.code),
            (Some(0), Some(0x47b567), 0x7ffc_0000)
        );
        assert_eq!(record.subj, None);
    }

    #[test]
    fn reads_hex_encoded_names_subjects_and_old_formats() {
        // comm "my prog" (a space makes the kernel hex-encode it), an LSM subject, and a
        // kernel too old for compat= and ip=.
        let text = "audit(1700000000.005:7): auid=1000 uid=1000 gid=1000 ses=2 \
            subj=unconfined pid=42 comm=6D792070726F67 exe=(null) sig=31 arch=40000003 \
            syscall=20 code=0x0\n\0";
        let record = parse(text).unwrap();
        assert_eq!(record.comm.as_deref(), Some("my prog"));
        assert_eq!(record.exe, None);
        assert_eq!(record.subj.as_deref(), Some("unconfined"));
        assert_eq!((record.compat, record.ip), (None, None));
        assert_eq!((record.sig, record.arch, record.code), (31, 0x4000_0003, 0));
        assert_eq!(record.timestamp.timestamp_subsec_millis(), 5);
    }

    #[test]
    fn keeps_bytes_that_are_not_utf8_visible() {
        let text = "audit(1.000:1): pid=1 comm=FF41 sig=0 arch=c000003e syscall=1 code=0x7ffc0000";
        assert_eq!(parse(text).unwrap().comm.as_deref(), Some("\\xffA"));
    }

    #[test]
    fn names_what_is_missing_or_unreadable() {
        let text = "audit(1.000:1): pid=1 sig=0 arch=c000003e code=0x7ffc0000";
        assert_eq!(parse(text), Err(RecordError::Missing("syscall")));
        let text = "audit(1.000:1): pid=x sig=0 arch=c000003e syscall=1 code=0x7ffc0000";
        assert!(matches!(
            parse(text),
            Err(RecordError::Invalid { field: "pid", .. })
        ));
        assert_eq!(parse("pid=1"), Err(RecordError::NoHeader));
    }
}
