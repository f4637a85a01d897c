//! Checks, before touching the kernel, that we may load and attach tracing programs.

use caps::{CapSet, Capability};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "missing capabilities {missing}: run as root (sudo tracer ...), or grant them with \
     `setcap cap_bpf,cap_perfmon+ep $(command -v tracer)`"
)]
pub struct MissingCapabilities {
    pub missing: String,
}

/// Loading tracing programs needs CAP_BPF and attaching them CAP_PERFMON (kernels 5.8+), or
/// CAP_SYS_ADMIN, which covers both.
pub fn check() -> Result<(), MissingCapabilities> {
    let has = |cap| caps::has_cap(None, CapSet::Effective, cap).unwrap_or(false);
    if has(Capability::CAP_SYS_ADMIN) {
        return Ok(());
    }
    missing_of(has(Capability::CAP_BPF), has(Capability::CAP_PERFMON))
}

fn missing_of(bpf: bool, perfmon: bool) -> Result<(), MissingCapabilities> {
    let missing: Vec<_> = [("CAP_BPF", bpf), ("CAP_PERFMON", perfmon)]
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(name, _)| name)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MissingCapabilities {
            missing: missing.join(" and "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_exactly_what_is_missing() {
        assert_eq!(missing_of(true, true), Ok(()));
        let err = missing_of(true, false).unwrap_err();
        assert_eq!(err.missing, "CAP_PERFMON");
        let err = missing_of(false, false).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("missing capabilities CAP_BPF and CAP_PERFMON: run as root")
        );
    }
}
