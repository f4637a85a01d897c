//! Which events reach the output: in userspace ([`Filter`]), and, where the kernel can decide
//! it, already in the kernel program ([`kernel::DropList`]); with `--check`, only the calls a
//! profile would refuse ([`profile_check::ProfileCheck`]).

pub mod kernel;
pub mod profile_check;

use std::os::unix::fs::MetadataExt as _;

use crate::events::Event;

/// Without `--host`, events from host processes are hidden, whatever mount namespace they run
/// in: the operator asked about containers, and host processes would bury them. With container
/// names (`-c`), only those containers' events are shown (and the host's, with `--host`).
#[derive(Clone, Debug)]
pub struct Filter {
    show_host: bool,
    names: Vec<String>,
}

impl Filter {
    pub fn new(show_host: bool, names: Vec<String>) -> Self {
        Self { show_host, names }
    }

    pub fn keep(&self, event: &Event) -> bool {
        if let Some(container) = &event.container {
            return self.wants_container(&container.name);
        }
        if event.on_host {
            return self.show_host;
        }
        // A container no runtime has named (dockerd down), or a task that was gone before it
        // could be placed: hiding it could hide the very kill the operator is looking for, so
        // only a name filter excludes it.
        self.names.is_empty()
    }

    pub fn wants_container(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|n| n == name)
    }
}

/// The host's mount namespace: pid 1's, which is the host's even when tracer runs in a container
/// sharing the host's pid namespace. Where pid 1's namespaces are hidden (some sandboxes forbid
/// reading them even to root), tracer's own, since it runs on the host.
pub fn host_mount_namespace() -> Option<u32> {
    let pid1 = std::fs::metadata("/proc/1/ns/mnt");
    let meta = match pid1 {
        Ok(meta) => Ok(meta),
        Err(error) => {
            tracing::debug!("cannot read /proc/1/ns/mnt ({error}); taking tracer's own namespace");
            std::fs::metadata("/proc/self/ns/mnt")
        }
    };
    match meta {
        Ok(meta) => u32::try_from(meta.ino()).ok(),
        Err(error) => {
            tracing::warn!("cannot read the host's mount namespace: {error}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{events::Container, test_support::sample_event};

    /// Namespace 1 is the host's, as the enricher would mark it.
    fn event(mntns: Option<u32>, container: Option<&str>) -> Event {
        let mut event = sample_event();
        event.mntns_id = mntns;
        event.on_host = mntns == Some(1);
        event.container = container.map(|name| {
            Arc::new(Container {
                name: name.into(),
                ..Container::default()
            })
        });
        event
    }

    #[test]
    fn hides_host_processes_unless_asked() {
        let host = event(Some(1), None);
        let containers_only = Filter::new(false, vec![]);
        assert!(!containers_only.keep(&host));
        assert!(
            containers_only.keep(&event(Some(2), None)),
            "an unnamed container"
        );
        assert!(containers_only.keep(&event(None, None)), "an exiting task");
        assert!(containers_only.keep(&event(Some(2), Some("web"))));

        let everything = Filter::new(true, vec![]);
        assert!(everything.keep(&host));
    }

    #[test]
    fn container_names_select_containers() {
        let web = Filter::new(false, vec!["web".into()]);
        assert!(web.keep(&event(Some(2), Some("web"))));
        assert!(!web.keep(&event(Some(3), Some("db"))));
        assert!(
            !web.keep(&event(Some(4), None)),
            "an unnamed container cannot be web"
        );
        assert!(!web.keep(&event(Some(1), None)));

        let web_and_host = Filter::new(true, vec!["web".into()]);
        assert!(web_and_host.keep(&event(Some(1), None)));
        assert!(!web_and_host.keep(&event(Some(3), Some("db"))));
    }
}
