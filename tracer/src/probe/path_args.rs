//! Which argument of which system call is a path, for the kernel programs to read it: the
//! `PATH_ARGS` map, filled from the syscall tables of the architectures tracer decodes.

use std::str::FromStr as _;

use tracer_common::{PathArg, path_arg_slot};

/// Calls that take a path: name, index of the path argument, index of the directory
/// descriptor a relative path is resolved against (for `*at` calls). Names missing from an
/// arch's table are skipped there.
const PATH_CALLS: &[(&str, u8, Option<u8>)] = &[
    ("open", 0, None),
    ("openat", 1, Some(0)),
    ("openat2", 1, Some(0)),
    ("creat", 0, None),
    ("mkdir", 0, None),
    ("mkdirat", 1, Some(0)),
    ("rmdir", 0, None),
    ("unlink", 0, None),
    ("unlinkat", 1, Some(0)),
    ("rename", 0, None),
    ("renameat", 1, Some(0)),
    ("renameat2", 1, Some(0)),
    ("link", 0, None),
    ("linkat", 1, Some(0)),
    // The link is created at the second path; the first is only its text.
    ("symlink", 1, None),
    ("symlinkat", 2, Some(1)),
    ("readlink", 0, None),
    ("readlinkat", 1, Some(0)),
    ("chmod", 0, None),
    ("fchmodat", 1, Some(0)),
    ("fchmodat2", 1, Some(0)),
    ("chown", 0, None),
    ("lchown", 0, None),
    ("chown32", 0, None),
    ("lchown32", 0, None),
    ("fchownat", 1, Some(0)),
    ("truncate", 0, None),
    ("truncate64", 0, None),
    ("mknod", 0, None),
    ("mknodat", 1, Some(0)),
    ("access", 0, None),
    ("faccessat", 1, Some(0)),
    ("faccessat2", 1, Some(0)),
    ("stat", 0, None),
    ("lstat", 0, None),
    ("stat64", 0, None),
    ("lstat64", 0, None),
    ("newfstatat", 1, Some(0)),
    ("fstatat64", 1, Some(0)),
    ("statx", 1, Some(0)),
    ("statfs", 0, None),
    ("statfs64", 0, None),
    ("utime", 0, None),
    ("utimes", 0, None),
    ("futimesat", 1, Some(0)),
    ("utimensat", 1, Some(0)),
    ("chdir", 0, None),
    ("chroot", 0, None),
    ("pivot_root", 0, None),
    // The mount point: the source is often no path at all ("proc", "none").
    ("mount", 1, None),
    ("umount", 0, None),
    ("umount2", 0, None),
    ("open_tree", 1, Some(0)),
    ("execve", 0, None),
    ("execveat", 1, Some(0)),
    ("swapon", 0, None),
    ("swapoff", 0, None),
    ("acct", 0, None),
    ("uselib", 0, None),
    ("setxattr", 0, None),
    ("lsetxattr", 0, None),
    ("getxattr", 0, None),
    ("lgetxattr", 0, None),
    ("listxattr", 0, None),
    ("llistxattr", 0, None),
    ("removexattr", 0, None),
    ("lremovexattr", 0, None),
    ("name_to_handle_at", 1, Some(0)),
    ("inotify_add_watch", 1, None),
    ("fanotify_mark", 4, Some(3)),
];

/// Every `(slot, value)` of the map for the architecture tracer runs on.
pub fn entries() -> Vec<(u32, PathArg)> {
    let mut entries = Vec::new();
    for &(name, path, dirfd) in PATH_CALLS {
        let value = PathArg {
            present: 1,
            path,
            dirfd: dirfd.unwrap_or(PathArg::NO_DIRFD),
            _padding: 0,
        };
        for (compat, nr) in numbers(name) {
            if let Some(slot) = path_arg_slot(compat, nr) {
                entries.push((slot, value));
            }
        }
    }
    entries
}

/// The call's number in the native and the compat table of the running architecture, where
/// they have it.
fn numbers(name: &str) -> Vec<(bool, u32)> {
    let mut found = Vec::new();
    if cfg!(target_arch = "x86_64") {
        if let Ok(sysno) = syscalls::x86_64::Sysno::from_str(name) {
            found.push((false, sysno.id() as u32));
        }
        if let Ok(sysno) = syscalls::x86::Sysno::from_str(name) {
            found.push((true, sysno.id() as u32));
        }
    } else if cfg!(target_arch = "aarch64") {
        if let Ok(sysno) = syscalls::aarch64::Sysno::from_str(name) {
            found.push((false, sysno.id() as u32));
        }
        if let Ok(sysno) = syscalls::arm::Sysno::from_str(name) {
            found.push((true, sysno.id() as u32));
        }
    }
    found
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn lookup(compat: bool, nr: u32) -> Option<(u8, u8)> {
        let slot = path_arg_slot(compat, nr)?;
        entries()
            .into_iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, v)| (v.path, v.dirfd))
    }

    #[test]
    fn each_table_has_its_own_numbers() {
        const NO: u8 = PathArg::NO_DIRFD;
        // mkdir is 83 on x86-64 and 39 on i386, where 83 is symlink.
        assert_eq!(lookup(false, 83), Some((0, NO)));
        assert_eq!(lookup(true, 39), Some((0, NO)));
        assert_eq!(lookup(true, 83), Some((1, NO)));
        // openat: path in the second argument, relative to the first; x32's shares the slot.
        assert_eq!(lookup(false, 257), Some((1, 0)));
        assert_eq!(lookup(false, 257 | 0x4000_0000), Some((1, 0)));
        // getppid takes no path.
        assert_eq!(lookup(false, 110), None);
    }

    #[test]
    fn every_slot_is_in_the_array() {
        let entries = entries();
        assert!(entries.len() > 100, "{}", entries.len());
        assert!(
            entries
                .iter()
                .all(|(slot, _)| *slot < tracer_common::PATH_ARGS_CAPACITY)
        );
    }
}
