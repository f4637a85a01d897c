//! Docker API responses → [`Container`].

use bollard::models::ContainerInspectResponse;

use crate::events::Container;

/// The container, and the host pid of its first process while it runs.
pub fn container(inspect: ContainerInspectResponse) -> Option<(Container, Option<u32>)> {
    let id = inspect.id?;
    let config = inspect.config.unwrap_or_default();
    let pid = inspect
        .state
        .filter(|state| state.running == Some(true))
        .and_then(|state| state.pid)
        .and_then(|pid| u32::try_from(pid).ok())
        .filter(|&pid| pid > 0);
    let container = Container {
        runtime: "docker",
        name: inspect
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        id,
    };
    Some((container, pid))
}

#[cfg(test)]
mod tests {
    use bollard::models::{ContainerConfig, ContainerState};

    use super::*;

    #[test]
    fn takes_name_image_labels_and_running_pid() {
        let inspect = ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/eager_mclean".into()),
            config: Some(ContainerConfig {
                image: Some("busybox".into()),
                labels: Some([("a".to_string(), "b".to_string())].into()),
                ..Default::default()
            }),
            state: Some(ContainerState {
                running: Some(true),
                pid: Some(4242),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (container, pid) = container(inspect).unwrap();
        assert_eq!(container.name, "eager_mclean");
        assert_eq!(container.image, "busybox");
        assert_eq!(container.labels["a"], "b");
        assert_eq!(pid, Some(4242));
    }

    #[test]
    fn a_stopped_container_has_no_pid() {
        let inspect = ContainerInspectResponse {
            id: Some("abc".into()),
            state: Some(ContainerState {
                running: Some(false),
                pid: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(container(inspect).unwrap().1, None);
    }
}
