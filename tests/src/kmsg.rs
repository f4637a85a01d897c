//! The kernel's own seccomp audit records (`type=1326`), read from `/dev/kmsg`: the oracle the
//! tracer's events are compared with.
//!
//! With no audit daemon listening, the kernel prints each audit record to its log. Two things
//! can keep a record out of it, and the tests guard against both:
//! - kauditd passes every record through `printk_ratelimit()` (10 records per 5 s by default)
//!   and drops the rest without a trace: [`UnlimitedPrintk`] lifts that limit while it lives.
//! - A running audit daemon receives the records instead of the log.

use std::{
    fmt,
    fs::File,
    io::{self, Read as _},
    os::{fd::AsRawFd as _, unix::fs::OpenOptionsExt as _},
    sync::Mutex,
    time::{Duration, Instant},
};

/// `AUDIT_SECCOMP`.
pub const AUDIT_SECCOMP: u32 = 1326;

/// One record of the kernel log, as `/dev/kmsg` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsgRecord {
    pub priority: u32,
    pub seq: u64,
    pub timestamp_us: u64,
    /// The text, with kmsg's `\xNN` escapes undone and its key/value continuation lines removed.
    pub message: String,
}

/// Parses `prio,seq,timestamp,flags[,...];message[\n KEY=value...]`.
pub fn parse_kmsg_record(raw: &str) -> Option<KmsgRecord> {
    let (header, rest) = raw.split_once(';')?;
    let mut fields = header.split(',');
    let priority = fields.next()?.parse().ok()?;
    let seq = fields.next()?.parse().ok()?;
    let timestamp_us = fields.next()?.parse().ok()?;
    let text = rest.split('\n').next().unwrap_or_default();
    Some(KmsgRecord {
        priority,
        seq,
        timestamp_us,
        message: unescape_kmsg(text),
    })
}

/// kmsg writes unprintable bytes and backslashes as `\xNN`.
fn unescape_kmsg(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x'))
            .then(|| bytes.get(i + 2..i + 4).and_then(hex_byte))
            .flatten();
        if let Some(byte) = escaped {
            out.push(byte);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_byte(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok()
}

/// A `type=1326` record: one call of the kernel's `audit_seccomp(syscall, signr, code)`.
///
/// Only `pid`, `sig`, `arch`, `syscall` and `code` are required; the other fields depend on the
/// kernel version, its LSMs and the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeccompRecord {
    /// Sequence number of the kmsg record (0 when parsed from text without one).
    pub kmsg_seq: u64,
    /// The audit event's serial number, from `audit(SECONDS:SERIAL)`.
    pub serial: Option<u64>,
    pub auid: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub ses: Option<u32>,
    /// Security context; absent without an LSM that provides one.
    pub subj: Option<String>,
    /// Thread-group id of the caller.
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    /// The signal the action delivers, 0 for none.
    pub sig: i32,
    /// `AUDIT_ARCH_*` of the call.
    pub arch: u32,
    /// The system call number as the filter saw it.
    pub syscall: u64,
    pub compat: Option<u32>,
    pub ip: Option<u64>,
    /// The value passed to `audit_seccomp` as `code`.
    pub code: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub problem: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {:?}", self.problem, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A field value as audit writes it: quoted text, or a bare token (a number, `(null)`, or an
/// untrusted string hex-encoded because it had spaces, quotes or unprintable bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value<'a> {
    Quoted(&'a str),
    Bare(&'a str),
}

/// `None` when `message` is not a seccomp audit record; an error when it is one but lacks a
/// field the oracle needs.
pub fn parse_seccomp_record(message: &str) -> Option<Result<SeccompRecord, ParseError>> {
    let body = message
        .strip_prefix("audit: ")
        .unwrap_or(message)
        .trim_start();
    let after_type = body.strip_prefix("type=")?;
    let (kind, rest) = after_type.split_once(' ').unwrap_or((after_type, ""));
    if kind.parse::<u32>().ok()? != AUDIT_SECCOMP {
        return None;
    }
    Some(parse_seccomp_fields(rest).map_err(|problem| ParseError {
        message: message.into(),
        problem,
    }))
}

fn parse_seccomp_fields(rest: &str) -> Result<SeccompRecord, String> {
    let mut rest = rest.trim_start();
    let mut serial = None;
    if let Some(stamp) = rest.strip_prefix("audit(") {
        let (stamp, after) = stamp
            .split_once("):")
            .ok_or("unterminated audit(...) stamp")?;
        serial = stamp
            .rsplit_once(':')
            .and_then(|(_, serial)| serial.parse().ok());
        rest = after;
    }
    let fields = tokenize(rest)?;
    let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
    let bare = |key: &str| match get(key) {
        Some(Value::Bare(text)) => Some(*text),
        _ => None,
    };
    let required = |key: &str| bare(key).ok_or_else(|| format!("no {key}= field"));
    let number = |key: &str, text: &str, radix| {
        let digits = if radix == 16 {
            text.trim_start_matches("0x")
        } else {
            text
        };
        u64::from_str_radix(digits, radix).map_err(|_| format!("{key}={text} is not a number"))
    };
    let small = |key: &str, text: &str, radix| {
        number(key, text, radix)
            .and_then(|n| u32::try_from(n).map_err(|_| format!("{key}={text} is too large")))
    };
    let optional_u32 = |key: &str| bare(key).and_then(|text| small(key, text, 10).ok());
    let sig = required("sig")?;
    Ok(SeccompRecord {
        kmsg_seq: 0,
        serial,
        auid: optional_u32("auid"),
        uid: optional_u32("uid"),
        gid: optional_u32("gid"),
        ses: optional_u32("ses"),
        subj: get("subj").map(|v| match v {
            Value::Quoted(text) | Value::Bare(text) => (*text).to_owned(),
        }),
        pid: small("pid", required("pid")?, 10)?,
        comm: get("comm").and_then(untrusted),
        exe: get("exe").and_then(untrusted),
        sig: sig
            .parse()
            .map_err(|_| format!("sig={sig} is not a number"))?,
        arch: small("arch", required("arch")?, 16)?,
        syscall: number("syscall", required("syscall")?, 10)?,
        compat: optional_u32("compat"),
        ip: bare("ip").and_then(|text| number("ip", text, 16).ok()),
        code: small("code", required("code")?, 16)?,
    })
}

fn tokenize(text: &str) -> Result<Vec<(&str, Value<'_>)>, String> {
    let mut fields = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (key, after_key) = rest
            .split_once('=')
            .ok_or_else(|| format!("{rest:?} is not key=value"))?;
        if key.contains(' ') {
            return Err(format!("{key:?} is not a field name"));
        }
        let (value, after_value) = if let Some(quoted) = after_key.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("unterminated quote in {key}="))?;
            (Value::Quoted(&quoted[..end]), &quoted[end + 1..])
        } else {
            let end = after_key.find(' ').unwrap_or(after_key.len());
            (Value::Bare(&after_key[..end]), &after_key[end..])
        };
        fields.push((key, value));
        rest = after_value.trim_start();
    }
    Ok(fields)
}

/// Audit quotes untrusted strings it can print as they are, and hex-encodes the others.
fn untrusted(value: &Value<'_>) -> Option<String> {
    match value {
        Value::Quoted(text) => Some((*text).to_owned()),
        Value::Bare("(null)" | "?") => None,
        Value::Bare(hex) => {
            let bytes: Option<Vec<u8>> = (hex.len() % 2 == 0)
                .then(|| hex.as_bytes().chunks(2).map(hex_byte).collect())
                .flatten();
            Some(match bytes {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => (*hex).to_owned(),
            })
        }
    }
}

/// `/dev/kmsg`, read without blocking from a chosen point on.
pub struct Kmsg {
    file: File,
    /// Records the kernel overwrote before we read them.
    pub overwritten: u64,
}

impl Kmsg {
    /// Opens the log positioned after its newest record, so only records written from now on
    /// are read.
    pub fn from_now() -> io::Result<Self> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        // SAFETY: lseek on a descriptor we own; /dev/kmsg takes SEEK_END to mean "after the
        // newest record".
        if unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            file,
            overwritten: 0,
        })
    }

    /// Every record written since the last read.
    pub fn read_available(&mut self) -> io::Result<Vec<KmsgRecord>> {
        // Each read returns exactly one record, and fails unless the buffer can hold it:
        // records are at most 8 KiB (CONSOLE_EXT_LOG_MAX).
        let mut buffer = vec![0; 8192];
        let mut records = Vec::new();
        loop {
            match self.file.read(&mut buffer) {
                Ok(0) => break,
                Ok(len) => {
                    let raw = String::from_utf8_lossy(&buffer[..len]);
                    if let Some(record) = parse_kmsg_record(&raw) {
                        records.push(record);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // The reader fell behind the ring; the next read continues at the oldest record.
                Err(error) if error.raw_os_error() == Some(libc::EPIPE) => self.overwritten += 1,
                Err(error) => return Err(error),
            }
        }
        Ok(records)
    }

    /// Waits until a record is available or `timeout` passes.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut poll = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            -1 => {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
            0 => Ok(false),
            _ => Ok(true),
        }
    }
}

/// The seccomp audit records the kernel writes from a point on, gathered for a test.
///
/// Panics on I/O errors: it is test machinery, and a test without its oracle cannot go on.
pub struct AuditLog {
    kmsg: Kmsg,
    pub records: Vec<SeccompRecord>,
    /// `type=1326` records this parser could not read, with the reason.
    pub unparsable: Vec<ParseError>,
}

impl AuditLog {
    pub fn from_now() -> Self {
        let kmsg = Kmsg::from_now().unwrap_or_else(|error| {
            panic!("cannot read the kernel log /dev/kmsg (run as root): {error}")
        });
        Self {
            kmsg,
            records: Vec::new(),
            unparsable: Vec::new(),
        }
    }

    pub fn overwritten(&self) -> u64 {
        self.kmsg.overwritten
    }

    pub fn collect(&mut self) {
        let records = self
            .kmsg
            .read_available()
            .unwrap_or_else(|error| panic!("reading /dev/kmsg: {error}"));
        for record in records {
            match parse_seccomp_record(&record.message) {
                Some(Ok(seccomp)) => self.records.push(SeccompRecord {
                    kmsg_seq: record.seq,
                    ..seccomp
                }),
                Some(Err(error)) => self.unparsable.push(error),
                None => {}
            }
        }
    }

    /// Gathers records until `done` says there are enough, or `timeout` passes; returns whether
    /// `done` was satisfied. The kernel writes audit records from its own thread (kauditd), a
    /// little after the call that caused them.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[SeccompRecord]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.collect();
            if done(&self.records) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.kmsg
                .wait_readable(left)
                .unwrap_or_else(|error| panic!("waiting on /dev/kmsg: {error}"));
        }
    }

    pub fn of_pids<'a>(&'a self, pids: &'a [u32]) -> impl Iterator<Item = &'a SeccompRecord> {
        self.records.iter().filter(|r| pids.contains(&r.pid))
    }
}

const PRINTK_RATELIMIT: &str = "/proc/sys/kernel/printk_ratelimit";

/// Users of the lifted limit, and the value to restore when the last one is done.
static PRINTK_LIMIT: Mutex<(usize, Option<String>)> = Mutex::new((0, None));

/// While alive, the kernel prints every audit record instead of 10 per 5 seconds.
///
/// Sets `kernel.printk_ratelimit` to 0 (no limit) and restores it when the last guard is
/// dropped, so tests running side by side do not restore each other's setting too early.
pub struct UnlimitedPrintk(());

impl UnlimitedPrintk {
    pub fn new() -> Self {
        let mut state = PRINTK_LIMIT.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 == 0 {
            let old = std::fs::read_to_string(PRINTK_RATELIMIT)
                .unwrap_or_else(|error| panic!("reading {PRINTK_RATELIMIT}: {error}"));
            std::fs::write(PRINTK_RATELIMIT, "0").unwrap_or_else(|error| {
                panic!(
                    "cannot lift the kernel's printk rate limit ({PRINTK_RATELIMIT}, run as \
                     root): without it the kernel drops most audit records: {error}"
                )
            });
            state.1 = Some(old);
        }
        state.0 += 1;
        Self(())
    }
}

impl Default for UnlimitedPrintk {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for UnlimitedPrintk {
    fn drop(&mut self) {
        let mut state = PRINTK_LIMIT.lock().unwrap_or_else(|e| e.into_inner());
        state.0 -= 1;
        if state.0 == 0
            && let Some(old) = state.1.take()
        {
            // Nothing to do about a failure while dropping; the value is only a rate limit.
            let _ = std::fs::write(PRINTK_RATELIMIT, old.trim());
        }
    }
}

/// Waits until the kernel's audit queue is empty, so every record of the calls made so far has
/// been handed to the multicast group tracer reads: what tracer has not delivered by then it
/// has lost, or still holds.
pub fn wait_audit_queue_empty() {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = std::process::Command::new("auditctl")
            .arg("-s")
            .output()
            .expect("auditctl -s (apt-get install auditd)");
        let status = String::from_utf8_lossy(&status.stdout).into_owned();
        let backlog = status
            .lines()
            .find_map(|l| l.strip_prefix("backlog "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        if backlog == Some(0) {
            // kauditd takes a record off the queue before it multicasts it.
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the kernel's audit queue did not empty within a minute:\n{status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as a 6.18 kernel wrote it (no LSM, so no `subj=`).
    const NO_SUBJ: &str = "5,1838,1404775782,-;audit: type=1326 audit(1795474123.799:2): \
        auid=4294967295 uid=0 gid=0 ses=4294967295 pid=18697 comm=\"seccomp-workloa\" \
        exe=\"/work/main/target/debug/seccomp-workload\" sig=0 arch=c000003e syscall=83 \
        compat=0 ip=0x7f88a27d7829 code=0x7ffc0000\n";

    #[test]
    fn reads_a_record_without_subj() {
        let kmsg = parse_kmsg_record(NO_SUBJ).unwrap();
        assert_eq!(
            (kmsg.priority, kmsg.seq, kmsg.timestamp_us),
            (5, 1838, 1404775782)
        );
        let record = parse_seccomp_record(&kmsg.message).unwrap().unwrap();
        assert_eq!(
            record,
            SeccompRecord {
                kmsg_seq: 0,
                serial: Some(2),
                auid: Some(4294967295),
                uid: Some(0),
                gid: Some(0),
                ses: Some(4294967295),
                subj: None,
                pid: 18697,
                comm: Some("seccomp-workloa".into()),
                exe: Some("/work/main/target/debug/seccomp-workload".into()),
                sig: 0,
                arch: 0xc000_003e,
                syscall: 83,
                compat: Some(0),
                ip: Some(0x7f88a27d7829),
                code: 0x7ffc_0000,
            }
        );
    }

    #[test]
    fn reads_subj_and_a_kill() {
        let message = "audit: type=1326 audit(1700000000.123:45): auid=1000 uid=1000 gid=1000 \
            ses=3 subj=unconfined pid=4242 comm=\"unshare\" exe=\"/usr/bin/unshare\" sig=31 \
            arch=c000003e syscall=272 compat=0 ip=0x7f0000001234 code=0x80000000";
        let record = parse_seccomp_record(message).unwrap().unwrap();
        assert_eq!(record.subj.as_deref(), Some("unconfined"));
        assert_eq!((record.uid, record.ses), (Some(1000), Some(3)));
        assert_eq!(
            (record.pid, record.sig, record.code),
            (4242, 31, 0x8000_0000)
        );
        assert_eq!(record.syscall, 272);
    }

    #[test]
    fn decodes_hex_comm_and_exe() {
        // "my prog" has a space, so audit hex-encodes it; so too a path with a space.
        let message = "audit: type=1326 audit(1700000000.123:46): auid=4294967295 uid=0 gid=0 \
            ses=4294967295 subj=system_u:system_r:kernel_t:s0 pid=7 comm=6D792070726F67 \
            exe=2F746D702F6D792070726F67 sig=0 arch=40000003 syscall=20 compat=1 \
            ip=0x8049000 code=0x7ffc0000";
        let record = parse_seccomp_record(message).unwrap().unwrap();
        assert_eq!(record.comm.as_deref(), Some("my prog"));
        assert_eq!(record.exe.as_deref(), Some("/tmp/my prog"));
        assert_eq!(
            record.subj.as_deref(),
            Some("system_u:system_r:kernel_t:s0")
        );
        assert_eq!(
            (record.arch, record.syscall, record.compat),
            (0x4000_0003, 20, Some(1))
        );
    }

    #[test]
    fn takes_a_task_without_exe_and_minimal_records() {
        let message = "type=1326 audit(1.2:3): pid=9 comm=\"kworker\" exe=(null) sig=0 \
            arch=c000003e syscall=1073741863 code=0x7ffc0000";
        let record = parse_seccomp_record(message).unwrap().unwrap();
        assert_eq!(record.exe, None);
        assert_eq!(record.uid, None);
        assert_eq!(record.syscall, 0x4000_0027);
        assert_eq!(record.ip, None);
    }

    #[test]
    fn ignores_other_records_and_reports_broken_seccomp_ones() {
        assert_eq!(
            parse_seccomp_record("audit: type=1400 audit(1.2:3): apparmor=\"DENIED\""),
            None
        );
        assert_eq!(
            parse_seccomp_record("EXT4-fs (vda): mounted filesystem"),
            None
        );
        let broken = parse_seccomp_record("audit: type=1326 audit(1.2:3): pid=9 sig=0 code=0x0")
            .unwrap()
            .unwrap_err();
        assert_eq!(broken.problem, "no arch= field");
    }

    #[test]
    fn drops_continuation_lines_and_undoes_escapes() {
        let raw = "6,77,123,-;comm \\x5cx41 \\x7f\n SUBSYSTEM=tty\n DEVICE=c5:1\n";
        let record = parse_kmsg_record(raw).unwrap();
        assert_eq!(record.message, "comm \\x41 \u{7f}");
    }

    #[test]
    fn reads_headers_with_extra_fields() {
        let raw = "4,12,34,c,caller=T1;text";
        assert_eq!(parse_kmsg_record(raw).unwrap().message, "text");
        assert_eq!(parse_kmsg_record("no header"), None);
    }
}
