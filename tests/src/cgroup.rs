//! The machine's cgroup hierarchies, as /proc/self/mountinfo lists them.

use std::{fs, path::PathBuf};

/// A mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// `cgroup2`, or `cgroup` for a v1 hierarchy.
    pub fs_type: String,
    /// The super block options: a v1 hierarchy's controllers are among them.
    pub options: String,
}

/// Every mounted cgroup hierarchy, v1 and v2.
pub fn hierarchies() -> Vec<Hierarchy> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_else(|error| panic!("reading /proc/self/mountinfo: {error}"));
    parse_mountinfo(&mountinfo)
}

fn parse_mountinfo(mountinfo: &str) -> Vec<Hierarchy> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs_part) = line.split_once(" - ")?;
            let mount_point = mount.split(' ').nth(4)?;
            let mut fs_fields = fs_part.split(' ');
            let fs_type = fs_fields.next()?;
            let options = fs_fields.nth(1).unwrap_or_default();
            ["cgroup", "cgroup2"].contains(&fs_type).then(|| Hierarchy {
                mount_point: PathBuf::from(mount_point),
                fs_type: fs_type.to_owned(),
                options: options.to_owned(),
            })
        })
        .collect()
}

/// Where a cgroup can be made and a process moved into it: the v2 hierarchy, or else the v1
/// `pids` one.
pub fn for_new_groups() -> PathBuf {
    let all = hierarchies();
    all.iter()
        .find(|h| h.fs_type == "cgroup2")
        .or_else(|| {
            all.iter()
                .find(|h| h.options.split(',').any(|o| o == "pids"))
        })
        .map(|h| h.mount_point.clone())
        .unwrap_or_else(|| panic!("no cgroup hierarchy is mounted (cgroup2, or v1 with pids)"))
}

/// Removes the empty group `name` (a path relative to each hierarchy's root) wherever it is.
pub fn remove_everywhere(name: &str) {
    for hierarchy in hierarchies() {
        // Fails, harmlessly, where the group does not exist or still has members.
        let _ = fs::remove_dir(hierarchy.mount_point.join(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v1_and_v2_hierarchies_and_skips_other_mounts() {
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
38 31 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let found = parse_mountinfo(mountinfo);
        assert_eq!(
            found,
            [
                Hierarchy {
                    mount_point: "/sys/fs/cgroup/pids".into(),
                    fs_type: "cgroup".into(),
                    options: "rw,pids".into(),
                },
                Hierarchy {
                    mount_point: "/sys/fs/cgroup/unified".into(),
                    fs_type: "cgroup2".into(),
                    options: "rw".into(),
                },
            ]
        );
    }
}
