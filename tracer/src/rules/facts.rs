//! What a rule can ask of an event, borrowed: the live pipeline's [`Event`] and a JSON line of
//! `tracer rules test` answer the same questions, so both are matched by the same code.

use crate::events::{Arch, Event, SeccompAction};

/// The label kubelet puts the pod's namespace in, on every container it creates.
pub const K8S_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// The label kubelet puts the pod's name in.
pub const K8S_POD: &str = "io.kubernetes.pod.name";

pub trait Facts {
    fn container_name(&self) -> Option<&str>;
    fn image(&self) -> Option<&str>;
    /// The container's label `key`; `None` outside containers.
    fn label(&self, key: &str) -> Option<&str>;
    fn arch(&self) -> Arch;
    fn syscall_nr(&self) -> u32;
    fn code(&self) -> SeccompAction;
    fn errno(&self) -> Option<i32>;
    fn exe(&self) -> Option<&str>;
    fn path(&self) -> Option<&str>;
    fn uid(&self) -> u32;
}

impl Facts for Event {
    fn container_name(&self) -> Option<&str> {
        self.container.as_deref().map(|c| c.name.as_str())
    }

    fn image(&self) -> Option<&str> {
        self.container.as_deref().map(|c| c.image.as_str())
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.container
            .as_deref()?
            .labels
            .get(key)
            .map(String::as_str)
    }

    fn arch(&self) -> Arch {
        self.arch
    }

    fn syscall_nr(&self) -> u32 {
        self.syscall_nr
    }

    fn code(&self) -> SeccompAction {
        self.code
    }

    fn errno(&self) -> Option<i32> {
        self.errno
    }

    fn exe(&self) -> Option<&str> {
        self.exe.as_deref()
    }

    fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    fn uid(&self) -> u32 {
        self.uid
    }
}
