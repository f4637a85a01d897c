//! What each subcommand does, wiring the data path together.

pub mod audit_seccomp;
pub mod docs;
pub mod profile;
pub mod rules;
pub mod sinks;
