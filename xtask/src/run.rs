//! `run`: builds tracer in release mode and replaces this process with it, so signals such as
//! Ctrl-C reach tracer directly.

use std::{ffi::OsString, os::unix::process::CommandExt as _, process::Command};

use anyhow::{Context as _, Result};

use crate::{cargo, process, setup};

pub fn run(args: &[OsString]) -> Result<()> {
    setup::run()?;
    let tracer = cargo::build_tracer(true)?;
    let mut cmd = if process::is_root() {
        Command::new(&tracer)
    } else {
        // Loading eBPF programs needs root (or CAP_BPF and CAP_PERFMON).
        let mut sudo = Command::new("sudo");
        sudo.arg(&tracer);
        sudo
    };
    cmd.args(args);
    let line = process::display(&cmd);
    let err = cmd.exec();
    Err(err).with_context(|| format!("cannot start `{line}`"))
}
