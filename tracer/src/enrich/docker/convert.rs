//! Docker API responses → [`Container`].

use std::path::{Path, PathBuf};

use bollard::models::ContainerInspectResponse;

use crate::events::Container;

/// The container, and the host pid of its first process while it runs. `runtime` is the
/// daemon that answered (`docker`, `podman`); `data_root` is its own directory, where a vfs
/// container's files are.
pub fn container(
    inspect: ContainerInspectResponse,
    runtime: &'static str,
    data_root: Option<&Path>,
) -> Option<(Container, Option<u32>)> {
    let file_dirs = file_dirs_of(&inspect, data_root);
    let id = inspect.id?;
    let config = inspect.config.unwrap_or_default();
    let pid = inspect
        .state
        .filter(|state| state.running == Some(true))
        .and_then(|state| state.pid)
        .and_then(|pid| u32::try_from(pid).ok())
        .filter(|&pid| pid > 0);
    let container = Container {
        runtime,
        name: inspect
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or_default(),
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        file_dirs,
        id,
    };
    Some((container, pid))
}

/// Where the container's files are on the host, as its graph driver says (overlay2), or, for
/// the vfs driver, which says nothing, where Docker's layer store keeps its copy.
fn file_dirs_of(inspect: &ContainerInspectResponse, data_root: Option<&Path>) -> Vec<PathBuf> {
    let Some(driver) = &inspect.graph_driver else {
        return Vec::new();
    };
    match (driver.name.as_str(), inspect.id.as_deref(), data_root) {
        _ if !driver.data.is_empty() => file_dirs(&driver.data),
        ("vfs", Some(id), Some(root)) => vfs_dir(id, root).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// A vfs container's directory: `<root>/vfs/dir/<mount id>`, the mount id in the layer store at
/// `<root>/image/vfs/layerdb/mounts/<container id>/mount-id`, written when the container is
/// created.
fn vfs_dir(id: &str, root: &Path) -> Option<PathBuf> {
    let mount_file = root.join(format!("image/vfs/layerdb/mounts/{id}/mount-id"));
    let mount_id = std::fs::read_to_string(mount_file).ok()?;
    let mount_id = mount_id.trim();
    // The id names a directory of the store: nothing else may be joined in.
    if mount_id.is_empty() || !mount_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some(root.join("vfs/dir").join(mount_id))
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
        let (container, pid) = container(inspect, "docker", None).unwrap();
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
    fn a_vfs_containers_directory_is_found_in_the_layer_store() {
        let root = std::env::temp_dir().join(format!("tracer-vfs-{}", std::process::id()));
        let mounts = root.join("image/vfs/layerdb/mounts/c0ffee");
        std::fs::create_dir_all(&mounts).unwrap();
        std::fs::write(mounts.join("mount-id"), "5e1f00d\n").unwrap();
        let mut inspect = ContainerInspectResponse {
            id: Some("c0ffee".into()),
            graph_driver: Some(bollard::models::DriverData {
                name: "vfs".into(),
                data: Default::default(),
            }),
            ..Default::default()
        };
        assert_eq!(
            file_dirs_of(&inspect, Some(&root)),
            [root.join("vfs/dir/5e1f00d")]
        );
        assert!(file_dirs_of(&inspect, None).is_empty(), "no root, no store");
        std::fs::write(mounts.join("mount-id"), "../../etc").unwrap();
        assert!(
            file_dirs_of(&inspect, Some(&root)).is_empty(),
            "a mount id is a name, not a path"
        );
        inspect.graph_driver = None;
        assert!(file_dirs_of(&inspect, Some(&root)).is_empty());
        std::fs::remove_dir_all(&root).unwrap();
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
        assert_eq!(container(inspect, "docker", None).unwrap().1, None);
    }
}
