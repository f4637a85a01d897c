//! containerd's containers and tasks → [`Container`].

use containerd_client::{
    services::v1::Container as ContainerdContainer,
    types::v1::{Process, Status},
};

use crate::events::Container;

/// `container.runtime` of the containers containerd names.
pub const RUNTIME: &str = "containerd";

/// Labels that name a container, first found wins: kubelet's (through the CRI plugin), then
/// nerdctl's. containerd itself has no names; without these the id is the name.
const NAME_LABELS: [&str; 2] = ["io.kubernetes.container.name", "nerdctl/name"];

pub fn container(container: ContainerdContainer) -> Container {
    let name = NAME_LABELS
        .iter()
        .find_map(|label| container.labels.get(*label))
        .cloned()
        .unwrap_or_else(|| container.id.clone());
    Container {
        runtime: RUNTIME,
        name,
        image: container.image,
        labels: container.labels.into_iter().collect(),
        // The snapshotter's directories are not in the container's record.
        file_dirs: Vec::new(),
        id: container.id,
    }
}

/// The pid of a task's process while it runs (or is paused): a stopped task's pid may be
/// another process's by now.
pub fn running_pid(process: &Process) -> Option<u32> {
    let running = [
        Status::Running as i32,
        Status::Paused as i32,
        Status::Pausing as i32,
    ];
    (running.contains(&process.status) && process.pid > 0).then_some(process.pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_labels(labels: &[(&str, &str)]) -> ContainerdContainer {
        ContainerdContainer {
            id: "4f3c".into(),
            image: "docker.io/library/busybox-local:latest".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn names_a_kubelet_container_by_its_cri_label_and_keeps_its_labels() {
        let container = container(with_labels(&[
            ("io.kubernetes.container.name", "api"),
            ("io.kubernetes.pod.name", "web-0"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("io.kubernetes.pod.uid", "6f1c"),
        ]));
        assert_eq!(container.runtime, "containerd");
        assert_eq!(container.name, "api");
        assert_eq!(container.image, "docker.io/library/busybox-local:latest");
        let k8s = container.k8s().expect("CRI labels make a k8s object");
        assert_eq!(
            (
                k8s.namespace.as_str(),
                k8s.pod.as_str(),
                k8s.container.as_str()
            ),
            ("shop", "web-0", "api")
        );
        assert_eq!(k8s.pod_uid.as_deref(), Some("6f1c"));
    }

    #[test]
    fn a_container_without_a_name_label_is_named_by_its_id() {
        assert_eq!(container(with_labels(&[])).name, "4f3c");
        assert_eq!(container(with_labels(&[("nerdctl/name", "db")])).name, "db");
    }

    #[test]
    fn only_a_running_tasks_pid_counts() {
        let process = |status: Status, pid| Process {
            status: status as i32,
            pid,
            ..Default::default()
        };
        assert_eq!(running_pid(&process(Status::Running, 42)), Some(42));
        assert_eq!(running_pid(&process(Status::Paused, 42)), Some(42));
        assert_eq!(running_pid(&process(Status::Stopped, 42)), None);
        assert_eq!(running_pid(&process(Status::Created, 42)), None);
        assert_eq!(running_pid(&process(Status::Running, 0)), None);
    }
}
