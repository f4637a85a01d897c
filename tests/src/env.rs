//! What the test binaries need from their environment, and clear failures when it is missing.

use std::{os::unix::fs::MetadataExt as _, path::PathBuf};

/// The value of `name`; panics with `how_to_run` when it is unset.
#[track_caller]
pub fn required_var(name: &str, how_to_run: &str) -> String {
    match std::env::var(name) {
        Ok(value) => value,
        Err(_) => panic!("{name} is not set: {how_to_run}"),
    }
}

/// The file `name` points at; panics with `how_to_run` when it is unset or missing.
#[track_caller]
pub fn required_file(name: &str, how_to_run: &str) -> PathBuf {
    let path = PathBuf::from(required_var(name, how_to_run));
    assert!(
        path.is_file(),
        "{name}={} is not a file: {how_to_run}",
        path.display()
    );
    path
}

/// `name` when it is set, otherwise `fallback` (a path cargo knows at build time, which may not
/// exist where the tests were copied to).
#[track_caller]
pub fn file_or(name: &str, fallback: &str, how_to_run: &str) -> PathBuf {
    match std::env::var_os(name) {
        Some(_) => required_file(name, how_to_run),
        None if PathBuf::from(fallback).is_file() => PathBuf::from(fallback),
        None => panic!("{name} is not set and {fallback} does not exist: {how_to_run}"),
    }
}

#[track_caller]
pub fn require_root(how_to_run: &str) {
    assert!(
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() } == 0,
        "these tests load kernel programs, read /dev/kmsg and change kernel settings, so they \
         must run as root: {how_to_run}"
    );
}

/// Inode of this process's mount namespace, as `mntns_id` reports it.
pub fn mount_namespace() -> u64 {
    std::fs::metadata("/proc/self/ns/mnt")
        .unwrap_or_else(|error| panic!("reading /proc/self/ns/mnt: {error}"))
        .ino()
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .unwrap_or_else(|error| panic!("gethostname: {error}"))
        .to_string_lossy()
        .into_owned()
}
