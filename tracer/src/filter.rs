//! Which events reach the output.

use std::os::unix::fs::MetadataExt as _;

use crate::events::Event;

/// Without `--host`, events from processes in the host's own mount namespace are hidden: the
/// operator asked about containers, and host processes would bury them.
#[derive(Clone, Debug)]
pub struct Filter {
    host_mntns: Option<u32>,
    show_host: bool,
}

impl Filter {
    pub fn new(show_host: bool) -> Self {
        Self {
            host_mntns: if show_host {
                None
            } else {
                host_mount_namespace()
            },
            show_host,
        }
    }

    pub fn with_host_namespace(show_host: bool, host_mntns: Option<u32>) -> Self {
        Self {
            host_mntns,
            show_host,
        }
    }

    pub fn keep(&self, event: &Event) -> bool {
        if self.show_host {
            return true;
        }
        // An event whose namespace is unknown (the task was exiting) is shown: hiding it could
        // hide the very kill the operator is looking for.
        match (event.mntns_id, self.host_mntns) {
            (Some(ns), Some(host)) => ns != host,
            _ => true,
        }
    }
}

/// The mount namespace of pid 1, which is the host's even when we run in a container with the
/// host's pid namespace.
fn host_mount_namespace() -> Option<u32> {
    match std::fs::metadata("/proc/1/ns/mnt") {
        Ok(meta) => u32::try_from(meta.ino()).ok(),
        Err(error) => {
            tracing::warn!("cannot read the host's mount namespace (/proc/1/ns/mnt): {error}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_event;

    #[test]
    fn hides_host_processes_unless_asked() {
        let mut host = sample_event();
        host.mntns_id = Some(1);
        let mut container = sample_event();
        container.mntns_id = Some(2);
        let mut exiting = sample_event();
        exiting.mntns_id = None;

        let containers_only = Filter::with_host_namespace(false, Some(1));
        assert!(!containers_only.keep(&host));
        assert!(containers_only.keep(&container));
        assert!(containers_only.keep(&exiting));

        let everything = Filter::with_host_namespace(true, Some(1));
        assert!(everything.keep(&host));
    }
}
