//! What Docker looks at when it turns a profile into a filter: the container's capabilities,
//! the host's architecture and its kernel version.

use std::{collections::BTreeSet, fmt, str::FromStr};

use crate::events::Arch;

use super::arch_names;

/// The capabilities Docker gives a container unless told otherwise.
pub const DOCKER_DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The host and container a profile is checked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckContext {
    /// The container's bounding set, as `CAP_*` names.
    pub caps: BTreeSet<String>,
    /// The kernel `minKernel` conditions are compared with; `None` where it could not be read.
    pub kernel: Option<KernelVersion>,
    /// The host's architecture: it picks the `archMap` entry, names the host in
    /// `includes.arches`, and is always in the filter.
    pub native: Arch,
}

impl CheckContext {
    /// A container with Docker's default capabilities on this machine.
    pub fn of_this_host() -> Self {
        Self {
            caps: DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
            kernel: running_kernel(),
            native: arch_names::native(),
        }
    }
}

/// Normalizes a capability as `docker run --cap-add` takes it: any case, with or without
/// `CAP_`.
pub fn capability_name(text: &str) -> String {
    let upper = text.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// A kernel version as Docker compares it: major and minor only, so "5.15.0-91-generic",
/// "5.15" and "5.15-rc2" are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a kernel version: write it as MAJOR.MINOR, such as 5.15")]
pub struct BadKernelVersion(pub String);

impl FromStr for KernelVersion {
    type Err = BadKernelVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadKernelVersion(text.to_owned());
        let mut parts = text.trim().splitn(3, ['.', '-', '+']);
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = parts
            .next()
            .map(|p| {
                let digits = p.split(|c: char| !c.is_ascii_digit()).next().unwrap_or("");
                digits.parse().map_err(|_| bad())
            })
            .transpose()?
            .unwrap_or(0);
        Ok(Self { major, minor })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

fn running_kernel() -> Option<KernelVersion> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_ignore_what_docker_ignores() {
        let v = |s: &str| s.parse::<KernelVersion>().unwrap();
        assert_eq!(v("5.15.0-91-generic"), v("5.15"));
        assert_eq!(v("3.12-1-amd64"), v("3.12"));
        assert_eq!(v("3.12-rc5"), v("3.12.25-gentoo"));
        assert!(v("4.8") < v("4.10"));
        assert!("five".parse::<KernelVersion>().is_err());
    }

    #[test]
    fn capabilities_are_normalized() {
        assert_eq!(capability_name("sys_admin"), "CAP_SYS_ADMIN");
        assert_eq!(capability_name("CAP_SYSLOG"), "CAP_SYSLOG");
        assert_eq!(CheckContext::of_this_host().caps.len(), 14);
    }
}
