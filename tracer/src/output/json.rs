//! One JSON object per event: the contract documented in docs/events.md.

use std::{borrow::Cow, collections::BTreeMap};

use chrono::SecondsFormat;
use serde::Serialize;

use super::Formatter;
use crate::events::{Container, Event};

pub struct Json {
    pretty: bool,
}

impl Json {
    pub fn new(pretty: bool) -> Self {
        Self { pretty }
    }
}

#[derive(Serialize)]
struct Record<'a> {
    timestamp: String,
    node: &'a str,
    source: &'static str,
    pid: u32,
    tid: Option<u32>,
    ppid: Option<u32>,
    uid: u32,
    gid: u32,
    comm: &'a str,
    mntns_id: Option<u32>,
    cgroup_id: Option<u64>,
    syscall: Cow<'static, str>,
    syscall_nr: u32,
    /// Null where the kernel program could not tell the architecture.
    arch: Option<String>,
    code: String,
    code_raw: u32,
    signal: Option<String>,
    container: Option<ContainerRecord<'a>>,
    k8s: Option<K8sRecord<'a>>,
}

#[derive(Serialize)]
struct ContainerRecord<'a> {
    runtime: &'a str,
    id: &'a str,
    name: &'a str,
    image: &'a str,
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct K8sRecord<'a> {
    namespace: &'a str,
    pod: &'a str,
    container: &'a str,
}

impl<'a> From<&'a Container> for ContainerRecord<'a> {
    fn from(c: &'a Container) -> Self {
        Self {
            runtime: c.runtime,
            id: &c.id,
            name: &c.name,
            image: &c.image,
            labels: &c.labels,
        }
    }
}

impl<'a> From<&'a Event> for Record<'a> {
    fn from(event: &'a Event) -> Self {
        Self {
            timestamp: event.timestamp.to_rfc3339_opts(SecondsFormat::Nanos, true),
            node: &event.node,
            source: event.source.as_str(),
            pid: event.pid,
            tid: event.tid,
            ppid: event.ppid,
            uid: event.uid,
            gid: event.gid,
            comm: &event.comm,
            mntns_id: event.mntns_id,
            cgroup_id: event.cgroup_id,
            syscall: event.syscall_display(),
            syscall_nr: event.syscall_nr,
            arch: event.arch.label(),
            code: event.code.to_string(),
            code_raw: event.code_raw,
            signal: event.signal_name(),
            container: event.container.as_deref().map(ContainerRecord::from),
            k8s: event
                .container
                .as_deref()
                .and_then(Container::k8s)
                .map(|k| K8sRecord {
                    namespace: k.namespace,
                    pod: k.pod,
                    container: k.container,
                }),
        }
    }
}

impl Formatter for Json {
    fn header(&self, _out: &mut Vec<u8>) {}

    fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        let record = Record::from(event);
        let written = if self.pretty {
            serde_json::to_writer_pretty(&mut *out, &record)
        } else {
            serde_json::to_writer(&mut *out, &record)
        };
        // Writing plain strings and integers into a Vec cannot fail.
        written.expect("serializing an event into memory");
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_event;

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
        let value = render(&sample_event());
        let expected = serde_json::json!({
            "timestamp": "2023-11-14T22:13:20.000000005Z",
            "node": "node-a",
            "source": "fentry",
            "pid": 485855,
            "tid": 485856,
            "ppid": 1,
            "uid": 1000,
            "gid": 100,
            "comm": "unshare",
            "mntns_id": 4026531841u32,
            "cgroup_id": 77,
            "syscall": "unshare",
            "syscall_nr": 272,
            "arch": "x86_64",
            "code": "kill_thread",
            "code_raw": 0,
            "signal": "SIGSYS",
            "container": null,
            "k8s": null,
        });
        assert_eq!(value, expected);
    }

    #[test]
    fn names_the_container_and_its_pod() {
        let mut event = sample_event();
        let labels = [
            ("io.kubernetes.pod.namespace", "default"),
            ("io.kubernetes.pod.name", "mypod"),
            ("io.kubernetes.container.name", "container1"),
        ];
        event.container = Some(std::sync::Arc::new(Container {
            runtime: "docker",
            id: "4f3c".into(),
            name: "eager_mclean".into(),
            image: "busybox".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }));
        let value = render(&event);
        assert_eq!(value["container"]["name"], "eager_mclean");
        assert_eq!(value["container"]["runtime"], "docker");
        assert_eq!(
            value["container"]["labels"]["io.kubernetes.pod.name"],
            "mypod"
        );
        assert_eq!(
            value["k8s"],
            serde_json::json!({"namespace": "default", "pod": "mypod", "container": "container1"})
        );
    }

    #[test]
    fn unknown_values_stay_visible() {
        let mut event = sample_event();
        event.syscall = None;
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

    #[test]
    fn pretty_output_is_the_same_object() {
        let mut out = Vec::new();
        Json::new(true).event(&sample_event(), &mut out);
        let pretty: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(pretty, render(&sample_event()));
    }
}
