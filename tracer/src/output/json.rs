//! One JSON object per event: the event's own serialization, the contract documented in
//! docs/events.md.
//!
//! The compact form, one line per event, is what log pipelines read at full rate, so it is
//! written here field by field rather than through serde: no allocation per event, strings
//! copied as they are unless they need escaping, and a container's object (the longest part,
//! the same for all its events) serialized once. The tests hold it to the serde form byte for
//! byte, so the event's `Serialize` stays the contract; a field added to the event fails them
//! until it is written here too.

use std::sync::Arc;

use serde::Serialize;

use super::Formatter;
use crate::events::{
    Container, Event,
    json::{Rfc3339, known_signal},
};

/// How many containers' serialized objects are kept: a node runs a few dozen at most, and an
/// event from one that is not kept costs one serialization.
const KEPT_CONTAINERS: usize = 32;

pub struct Json {
    pretty: bool,
    /// Containers and their JSON objects, the most recently used last. Holding the `Arc` keeps
    /// its address from being reused by another container while it is here.
    containers: Vec<(Arc<Container>, Vec<u8>)>,
}

impl Json {
    pub fn new(pretty: bool) -> Self {
        Self {
            pretty,
            containers: Vec::new(),
        }
    }

    fn compact(&mut self, event: &Event, out: &mut Vec<u8>) {
        match &event.summary {
            // One per key and window at most: serde writes it.
            Some(summarized) => {
                out.extend_from_slice(b"{\"type\":\"summary\",\"summary\":");
                serde_value(out, &summarized.summary);
                out.extend_from_slice(b",\"timestamp\":\"");
            }
            None => out.extend_from_slice(b"{\"timestamp\":\""),
        }
        out.extend_from_slice(Rfc3339::of(&event.timestamp).as_str().as_bytes());
        out.extend_from_slice(b"\",\"node\":");
        string(out, &event.node);
        out.extend_from_slice(b",\"source\":\"");
        out.extend_from_slice(event.source.as_str().as_bytes());
        out.extend_from_slice(b"\",\"pid\":");
        number(out, event.pid.into());
        out.extend_from_slice(b",\"tid\":");
        optional(out, event.tid.map(u64::from));
        out.extend_from_slice(b",\"ppid\":");
        optional(out, event.ppid.map(u64::from));
        out.extend_from_slice(b",\"uid\":");
        number(out, event.uid.into());
        out.extend_from_slice(b",\"gid\":");
        number(out, event.gid.into());
        out.extend_from_slice(b",\"comm\":");
        string(out, &event.comm);
        out.extend_from_slice(b",\"mntns_id\":");
        optional(out, event.mntns_id.map(u64::from));
        out.extend_from_slice(b",\"cgroup_id\":");
        optional(out, event.cgroup_id);
        out.extend_from_slice(b",\"syscall\":\"");
        match event.syscall.name {
            Some(name) => out.extend_from_slice(name.as_bytes()),
            None => number(out, event.syscall.nr.into()),
        }
        out.extend_from_slice(b"\",\"syscall_nr\":");
        number(out, event.syscall_nr.into());
        out.extend_from_slice(b",\"arch\":");
        match event.arch.name() {
            Some(name) => quoted_ascii(out, name),
            None => serde_value(out, &event.arch),
        }
        out.extend_from_slice(b",\"code\":");
        match event.code.name() {
            Some(name) => quoted_ascii(out, name),
            None => serde_value(out, &event.code),
        }
        out.extend_from_slice(b",\"code_raw\":");
        number(out, event.code_raw.into());
        out.extend_from_slice(b",\"signal\":");
        match event.signal {
            None => out.extend_from_slice(b"null"),
            Some(signo) => match known_signal(signo) {
                Some(name) => quoted_ascii(out, name),
                None => {
                    out.push(b'"');
                    out.extend_from_slice(signo.to_string().as_bytes());
                    out.push(b'"');
                }
            },
        }
        out.extend_from_slice(b",\"errno\":");
        optional_signed(out, event.errno);
        out.extend_from_slice(b",\"errno_name\":");
        match event.errno_name {
            Some(name) => string(out, name),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"args\":");
        match &event.args {
            Some(args) => {
                out.push(b'[');
                for (index, &arg) in args.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    number(out, arg);
                }
                out.push(b']');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"ip\":");
        optional(out, event.ip);
        out.extend_from_slice(b",\"path\":");
        optional_string(out, event.path.as_deref());
        out.extend_from_slice(b",\"path_truncated\":");
        optional_bool(out, event.path_truncated);
        out.extend_from_slice(b",\"dirfd\":");
        optional_signed(out, event.dirfd);
        out.extend_from_slice(b",\"exe\":");
        optional_string(out, event.exe.as_deref());
        out.extend_from_slice(b",\"cmdline\":");
        optional_string(out, event.cmdline.as_deref());
        out.extend_from_slice(b",\"cmdline_truncated\":");
        optional_bool(out, event.cmdline_truncated);
        out.extend_from_slice(b",\"parent_comm\":");
        optional_string(out, event.parent_comm.as_deref());
        out.extend_from_slice(b",\"ns_pid\":");
        optional(out, event.ns_pid.map(u64::from));
        out.extend_from_slice(b",\"ns_ppid\":");
        optional(out, event.ns_ppid.map(u64::from));
        out.extend_from_slice(b",\"stack\":");
        match &event.stack {
            // Rare (kills and traps), and nested: serde writes it.
            Some(stack) => serde_value(out, stack),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"container\":");
        match &event.container {
            Some(container) => out.extend_from_slice(self.container(container)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"k8s\":");
        serde_value(out, &event.k8s);
        out.extend_from_slice(b",\"rule\":");
        optional_string(out, event.rule.as_deref());
        out.extend_from_slice(b",\"severity\":");
        optional(out, event.severity.map(u64::from));
        out.extend_from_slice(b",\"tags\":");
        match &event.tags {
            Some(tags) => {
                out.push(b'[');
                for (index, tag) in tags.iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    string(out, tag);
                }
                out.push(b']');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"message\":");
        optional_string(out, event.message.as_deref());
        out.push(b'}');
    }

    /// The container's JSON object, serialized on first use.
    fn container(&mut self, container: &Arc<Container>) -> &[u8] {
        let kept = self
            .containers
            .iter()
            .position(|(known, _)| Arc::ptr_eq(known, container));
        let entry = match kept {
            Some(at) => self.containers.remove(at),
            None => {
                if self.containers.len() == KEPT_CONTAINERS {
                    self.containers.remove(0);
                }
                let mut object = Vec::new();
                serde_value(&mut object, &**container);
                (Arc::clone(container), object)
            }
        };
        self.containers.push(entry);
        &self.containers.last().expect("just pushed").1
    }
}

impl Formatter for Json {
    fn header(&self, _out: &mut Vec<u8>) {}

    fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        if self.pretty {
            serde_value_pretty(out, event);
        } else {
            self.compact(event, out);
        }
        out.push(b'\n');
    }
}

fn serde_value(out: &mut Vec<u8>, value: &impl Serialize) {
    // Writing plain strings and integers into a Vec cannot fail.
    serde_json::to_writer(out, value).expect("serializing into memory");
}

fn serde_value_pretty(out: &mut Vec<u8>, value: &impl Serialize) {
    serde_json::to_writer_pretty(out, value).expect("serializing into memory");
}

/// A JSON string: copied as it is when nothing in it needs escaping, else escaped by serde_json,
/// so both ways write the same text.
fn string(out: &mut Vec<u8>, text: &str) {
    let plain = text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_value(out, &text);
    }
}

/// A name of ours, which is plain ASCII.
fn quoted_ascii(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn optional(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        Some(value) => number(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

fn optional_signed(out: &mut Vec<u8>, value: Option<i32>) {
    match value {
        Some(value) => {
            if value < 0 {
                out.push(b'-');
            }
            number(out, value.unsigned_abs().into());
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn optional_string(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

fn optional_bool(out: &mut Vec<u8>, value: Option<bool>) {
    out.extend_from_slice(match value {
        Some(true) => b"true",
        Some(false) => b"false",
        None => b"null",
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        events::Container,
        test_support::{sample_denial_event, sample_event},
    };

    fn render(event: &Event) -> serde_json::Value {
        let mut out = Vec::new();
        Json::new(false).event(event, &mut out);
        assert_eq!(
            out.iter().filter(|&&b| b == b'\n').count(),
            1,
            "one line per event"
        );
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn follows_the_documented_contract() {
        let mut out = Vec::new();
        Json::new(false).event(&sample_event(), &mut out);
        // The exact text, field order included: log pipelines may depend on it.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"timestamp":"2023-11-14T22:13:20.000000005Z","node":"node-a","source":"fentry","#,
                r#""pid":485855,"tid":485856,"ppid":1,"uid":1000,"gid":100,"comm":"unshare","#,
                r#""mntns_id":4026531841,"cgroup_id":77,"syscall":"unshare","syscall_nr":272,"#,
                r#""arch":"x86_64","code":"kill_thread","code_raw":0,"signal":"SIGSYS","#,
                r#""errno":null,"errno_name":null,"args":null,"ip":null,"path":null,"#,
                r#""path_truncated":null,"dirfd":null,"exe":null,"cmdline":null,"#,
                r#""cmdline_truncated":null,"parent_comm":null,"ns_pid":null,"ns_ppid":null,"stack":null,"#,
                r#""container":null,"k8s":null,"rule":null,"severity":null,"tags":null,"message":null}"#,
                "\n"
            )
        );
    }

    #[test]
    fn follows_the_documented_contract_with_every_detail() {
        let mut out = Vec::new();
        Json::new(false).event(&sample_denial_event(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                r#"{"timestamp":"2023-11-14T22:13:20.000000005Z","node":"node-a","source":"fentry","#,
                r#""pid":485855,"tid":485856,"ppid":1,"uid":1000,"gid":100,"comm":"mkdir","#,
                r#""mntns_id":4026531841,"cgroup_id":77,"syscall":"mkdirat","syscall_nr":258,"#,
                r#""arch":"x86_64","code":"errno","code_raw":327680,"signal":null,"#,
                r#""errno":13,"errno_name":"EACCES","#,
                r#""args":[18446744073709551516,140725579357248,493,0,0,0],"ip":139898059041335,"#,
                r#""path":"data","path_truncated":false,"dirfd":-100,"exe":"/usr/bin/mkdir","#,
                r#""cmdline":"mkdir -p data","cmdline_truncated":false,"parent_comm":"bash","#,
                r#""ns_pid":42,"ns_ppid":1,"stack":null,"container":null,"k8s":null,"rule":null,"#,
                r#""severity":null,"tags":null,"message":null}"#,
                "\n"
            )
        );
    }

    #[test]
    fn names_the_container_and_its_pod() {
        let mut event = sample_event();
        let labels = [
            ("io.kubernetes.pod.namespace", "default"),
            ("io.kubernetes.pod.name", "mypod"),
            ("io.kubernetes.container.name", "container1"),
            (
                "io.kubernetes.pod.uid",
                "6f1c2d3e-0000-4000-8000-00000000abcd",
            ),
        ];
        event.set_container(Some(std::sync::Arc::new(Container {
            runtime: "docker",
            id: "4f3c".into(),
            name: "eager_mclean".into(),
            image: "busybox".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            file_dirs: vec!["/var/lib/docker/overlay2/x/merged".into()],
        })));
        let value = render(&event);
        assert_eq!(value["container"]["name"], "eager_mclean");
        assert_eq!(value["container"]["runtime"], "docker");
        assert_eq!(value["container"]["image"], "busybox");
        assert_eq!(value["container"]["id"], "4f3c");
        assert_eq!(
            value["container"]["labels"]["io.kubernetes.pod.name"],
            "mypod"
        );
        assert_eq!(
            value["k8s"],
            serde_json::json!({
                "namespace": "default",
                "pod": "mypod",
                "container": "container1",
                "pod_uid": "6f1c2d3e-0000-4000-8000-00000000abcd"
            })
        );
    }

    #[test]
    fn unknown_values_stay_visible() {
        let mut event = sample_event();
        event.syscall.name = None;
        event.syscall.nr = 9999;
        event.syscall_nr = 9999;
        event.signal = None;
        event.ppid = None;
        let value = render(&event);
        assert_eq!(value["syscall"], "9999");
        assert_eq!(value["signal"], serde_json::Value::Null);
        assert_eq!(value["ppid"], serde_json::Value::Null);
    }

    #[test]
    fn an_undetected_arch_is_null_and_the_syscall_a_number() {
        let mut raw = crate::test_support::sample_raw();
        raw.read_errors = tracer_common::read_error::ARCH;
        let event = crate::events::Decoder::new(
            "node-a".into(),
            crate::events::clock::WallClock::with_offset_ns(0),
        )
        .decode(&raw)
        .unwrap();
        let value = render(&event);
        assert_eq!(value["arch"], serde_json::Value::Null);
        assert_eq!(value["syscall"], "272");
        assert_eq!(value["syscall_nr"], 272);
    }

    /// Events unlike each other in every field whose form varies.
    fn varied_events() -> Vec<Event> {
        let mut events = vec![sample_event(), Event::example(), sample_denial_event()];
        let mut details = sample_denial_event();
        details.source = crate::events::Source::SyscallExit;
        details.args = Some([u64::MAX, 1 << 53, (1 << 53) + 1, 0, 1, i64::MAX as u64]);
        details.ip = Some(u64::MAX);
        details.errno = Some(0);
        details.errno_name = None;
        details.dirfd = Some(i32::MIN);
        details.path = Some("a\"b\\c\u{1b}[2J\n\t\u{7f} é 名前 \u{202e}\\xff".into());
        details.path_truncated = Some(true);
        details.exe = Some(".../\u{0}\"".into());
        details.cmdline = Some(String::new());
        details.cmdline_truncated = Some(true);
        details.parent_comm = Some("\\\u{8}".into());
        details.ns_pid = Some(u32::MAX);
        details.ns_ppid = Some(0);
        events.push(details.clone());
        details.source = crate::events::Source::TaskExit;
        details.errno = Some(-5);
        details.dirfd = Some(i32::MAX);
        details.path_truncated = None;
        details.cmdline = None;
        events.push(details);
        let mut odd = sample_event();
        odd.comm = "a\"b\\c\u{1b}[2J\n\t\u{7f} é 名前 \u{202e}".into();
        odd.node = "node \"quoted\"".into();
        odd.tid = None;
        odd.ppid = None;
        odd.mntns_id = None;
        odd.cgroup_id = None;
        odd.syscall.name = None;
        odd.syscall.nr = u32::MAX;
        odd.syscall_nr = u32::MAX;
        odd.arch = crate::events::Arch::Unknown(0x1234);
        odd.code = crate::events::SeccompAction::Unknown(0x0005_0001);
        odd.code_raw = 0x0005_0001;
        odd.signal = Some(99);
        odd.uid = u32::MAX;
        odd.timestamp = chrono::DateTime::from_timestamp_nanos(-1);
        events.push(odd.clone());
        odd.arch = crate::events::Arch::Undetected;
        odd.signal = None;
        odd.source = crate::events::Source::Audit;
        let mut container = (*Event::example().container.unwrap()).clone();
        container.name = "\\x1b\u{0}".into();
        container.labels.insert("a\"b".into(), "\n".into());
        odd.set_container(Some(std::sync::Arc::new(container)));
        odd.rule = Some("a \"rule\"\n".into());
        odd.severity = Some(10);
        odd.tags = Some(vec!["CIS-4.4,4.3".to_owned(), "\u{1b}]2;".to_owned()].into());
        odd.message = Some("Warning! Syscall Alert".into());
        events.push(odd.clone());
        odd.tags = Some(Vec::new().into());
        odd.message = None;
        events.push(odd);
        let mut summary = crate::volume::tests_support::summary_of(sample_denial_event(), 99_999);
        events.push(summary.clone());
        if let Some(summarized) = &mut summary.summary {
            summarized.summary.reason = crate::events::summary::Reason::RateLimit;
            summarized.summary.pids.clear();
        }
        events.push(summary);
        events
    }

    #[test]
    fn a_summary_starts_with_its_type_and_counts() {
        let summary = crate::volume::tests_support::summary_of(sample_event(), 41);
        let mut out = Vec::new();
        Json::new(false).event(&summary, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(concat!(
                r#"{"type":"summary","summary":{"reason":"dedup","count":41,"#,
                r#""first":"2023-11-14T22:13:20.000000005Z","last":"2023-11-14T22:13:21.000000005Z","#,
                r#""pids":[485855]},"timestamp":"2023-11-14T22:13:22.000000005Z","node":"node-a""#,
            )),
            "{text}"
        );
    }

    #[test]
    fn writes_exactly_what_serde_writes() {
        let mut json = Json::new(false);
        // Twice: the second time the containers' objects are the kept ones.
        for event in varied_events().iter().chain(&varied_events()) {
            let mut out = Vec::new();
            json.event(event, &mut out);
            let mut expected = serde_json::to_vec(event).unwrap();
            expected.push(b'\n');
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(expected).unwrap(),
                "output/json.rs must write every field of the event as its Serialize does"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn writes_what_serde_writes_for_any_raw_event(
            comm: [u8; 16],
            ids: (u64, u32, u32, u32, u32, u32),
            call: (u32, u32, u32, i32),
            read_errors in 0u32..16,
            registers: ([u64; 6], u64, i64, i32),
            details: u16,
            source in 1u32..=4,
            parent_comm: [u8; 16],
            strings: (Vec<u8>, Vec<u8>, Vec<u8>),
        ) {
            let (boot_ns, pid, tid, ppid, uid, gid) = ids;
            let (mntns_id, syscall_nr, arch, code) = (call.0, call.1, call.2, call.3 as u32);
            let signal = (call.0 % 70) as i32;
            let raw = tracer_common::RawSeccompEvent {
                boot_ns,
                cgroup_id: boot_ns ^ 0x5555,
                pid,
                tid,
                ppid,
                uid,
                gid,
                mntns_id,
                syscall_nr,
                arch: [arch, 0xc000_003e, 0x4000_0003][arch as usize % 3],
                code,
                signal,
                source,
                read_errors,
                comm,
                parent_comm,
                args: registers.0,
                ip: registers.1,
                // A small return value in most cases, where errno lies.
                ret: if registers.2 % 2 == 0 { registers.2 % 5000 } else { registers.2 },
                ns_pid: ppid ^ 0xff,
                ns_ppid: ppid,
                dirfd: registers.3,
                path_len: strings.0.len() as u16,
                exe_len: strings.1.len() as u16,
                cmdline_len: strings.2.len() as u16,
                details,
                ..Default::default()
            };
            let event = crate::events::Decoder::new(
                "node".into(),
                crate::events::clock::WallClock::with_offset_ns(1_700_000_000_000_000_000),
            )
            .decode_bytes(&crate::test_support::record_bytes(
                &raw,
                &[strings.0, strings.1, strings.2].concat(),
            ))
            .unwrap();
            let mut out = Vec::new();
            Json::new(false).event(&event, &mut out);
            let mut expected = serde_json::to_vec(&event).unwrap();
            expected.push(b'\n');
            proptest::prop_assert_eq!(out, expected);
        }
    }

    #[test]
    fn pretty_output_is_the_same_object() {
        let mut out = Vec::new();
        Json::new(true).event(&sample_event(), &mut out);
        let pretty: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(pretty, render(&sample_event()));
    }
}
