//! `tracer profile audit-mode IN.json`: the profile that logs what IN refuses, on stdout.

use crate::{cli::AuditModeArgs, profile};

pub fn run(args: &AuditModeArgs) -> anyhow::Result<()> {
    let original = profile::load(&args.profile)?;
    let audit = profile::audit_mode::audit_mode(&original);
    let json = profile::write::docker_json(&audit);
    super::print(&String::from_utf8_lossy(&json))
}
