//! One JSON object per event: the event's own serialization, the contract documented in
//! docs/events.md.

use super::Formatter;
use crate::events::Event;

pub struct Json {
    pretty: bool,
}

impl Json {
    pub fn new(pretty: bool) -> Self {
        Self { pretty }
    }
}

impl Formatter for Json {
    fn header(&self, _out: &mut Vec<u8>) {}

    fn event(&mut self, event: &Event, out: &mut Vec<u8>) {
        let written = if self.pretty {
            serde_json::to_writer_pretty(&mut *out, event)
        } else {
            serde_json::to_writer(&mut *out, event)
        };
        // Writing plain strings and integers into a Vec cannot fail.
        written.expect("serializing an event into memory");
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{events::Container, test_support::sample_event};

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
                r#""container":null,"k8s":null}"#,
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
            serde_json::json!({"namespace": "default", "pod": "mypod", "container": "container1"})
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

    #[test]
    fn pretty_output_is_the_same_object() {
        let mut out = Vec::new();
        Json::new(true).event(&sample_event(), &mut out);
        let pretty: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(pretty, render(&sample_event()));
    }
}
