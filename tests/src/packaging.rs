//! The files under packaging/ as the tests read them, and an installed Debian package that is
//! purged again however the test ends.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// The repository's packaging/ directory.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging")
}

pub fn read(name: &str) -> String {
    let path = dir().join(name);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// The values of `key=` in a unit file, each assignment's words in order.
pub fn unit_values(unit: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|line| line.trim().strip_prefix(&prefix))
        .flat_map(|value| value.split_whitespace().map(str::to_owned))
        .collect()
}

/// The capabilities the unit grants (`CAP_BPF`, ...): its bounding set, which must equal its
/// ambient set.
#[track_caller]
pub fn unit_capabilities() -> Vec<String> {
    let unit = read("tracer.service");
    let bounding = unit_values(&unit, "CapabilityBoundingSet");
    let ambient = unit_values(&unit, "AmbientCapabilities");
    assert!(
        !bounding.is_empty(),
        "tracer.service sets no CapabilityBoundingSet"
    );
    assert_eq!(
        bounding, ambient,
        "tracer.service: the ambient capabilities must be the bounding set, or tracer gets \
         fewer than the unit documents"
    );
    bounding
}

/// `setpriv` arguments that leave a process exactly `caps` (as `CAP_X` names), as systemd does
/// for the unit: bounding, inheritable and ambient sets, and no new privileges.
pub fn setpriv_args(caps: &[String]) -> Vec<String> {
    let list: Vec<String> = caps
        .iter()
        .map(|cap| format!("+{}", cap.trim_start_matches("CAP_").to_ascii_lowercase()))
        .collect();
    let list = list.join(",");
    vec![
        format!("--bounding-set=-all,{list}"),
        format!("--inh-caps=-all,{list}"),
        format!("--ambient-caps=-all,{list}"),
        "--no-new-privs".into(),
        "--".into(),
    ]
}

/// Whether this process can hand `cap` (`CAP_X`) to a child: a container or VM may have taken it
/// out of root's bounding set (this machine's root lacks CAP_SYS_RESOURCE, for one).
pub fn grantable(cap: &str) -> bool {
    let args = setpriv_args(&[cap.to_owned()]);
    Command::new("setpriv")
        .args(args)
        .arg("true")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs a command to its end; panics if it cannot start.
pub fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"))
}

/// Runs a command and panics with its output unless it succeeds; returns its stdout.
#[track_caller]
pub fn succeed(command: &mut Command) -> String {
    let result = output(command);
    assert!(
        result.status.success(),
        "{command:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        result.status,
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    String::from_utf8_lossy(&result.stdout).into_owned()
}

/// The package `name` installed from a .deb; purged when dropped, also when the test fails.
pub struct Installed {
    name: String,
}

impl Installed {
    #[track_caller]
    pub fn install(deb: &Path) -> Self {
        let name = succeed(
            Command::new("dpkg-deb")
                .args(["--field"])
                .arg(deb)
                .arg("Package"),
        )
        .trim()
        .to_owned();
        // The guard comes first: a half-done install is purged too.
        let installed = Self { name };
        succeed(Command::new("dpkg").arg("--install").arg(deb));
        installed
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `dpkg --purge`, returning its output: the test checks it, the guard only tries.
    pub fn purge(&self) -> Output {
        output(Command::new("dpkg").args(["--purge", &self.name]))
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = self.purge();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_values_join_every_assignment() {
        let unit = "[Service]\nCapabilityBoundingSet=CAP_BPF CAP_PERFMON\n\
                    CapabilityBoundingSet=CAP_AUDIT_READ\nAmbientCapabilities=CAP_BPF\n";
        assert_eq!(
            unit_values(unit, "CapabilityBoundingSet"),
            ["CAP_BPF", "CAP_PERFMON", "CAP_AUDIT_READ"]
        );
        assert_eq!(unit_values(unit, "Capability"), Vec::<String>::new());
    }

    #[test]
    fn setpriv_gets_lower_case_names_in_every_set() {
        let args = setpriv_args(&["CAP_BPF".into(), "CAP_AUDIT_READ".into()]);
        assert_eq!(args[0], "--bounding-set=-all,+bpf,+audit_read");
        assert_eq!(args[2], "--ambient-caps=-all,+bpf,+audit_read");
        assert_eq!(args.last().map(String::as_str), Some("--"));
    }
}
