//! Docker API responses → [`Container`].

use std::path::PathBuf;

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
        file_dirs: inspect
            .graph_driver
            .map(|driver| file_dirs(&driver.data))
            .unwrap_or_default(),
        id,
    };
    Some((container, pid))
}

/// The overlay directories of a container's files, as its graph driver names them: upper (its
/// own changes), then the image's layers, top first. Not the merged directory, their union:
/// it is unmounted as the container stops, often while its last events are read.
fn file_dirs(data: &std::collections::HashMap<String, String>) -> Vec<PathBuf> {
    data.get("UpperDir")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            data.get("LowerDir")
                .into_iter()
                .flat_map(|dirs| dirs.split(':'))
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from),
        )
        .collect()
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
    fn file_dirs_are_upper_then_each_lower_layer() {
        let data = [
            ("MergedDir", "/d/c/merged"),
            ("UpperDir", "/d/c/diff"),
            ("LowerDir", "/d/c-init/diff:/d/l1/diff:/d/l2/diff"),
            ("WorkDir", "/d/c/work"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
        assert_eq!(
            file_dirs(&data),
            ["/d/c/diff", "/d/c-init/diff", "/d/l1/diff", "/d/l2/diff"].map(PathBuf::from)
        );
        assert!(file_dirs(&Default::default()).is_empty());
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
