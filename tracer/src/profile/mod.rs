//! Seccomp profiles: reading Docker's and the OCI runtime spec's JSON ([`load`]), deciding what
//! a profile does with a call as runc would install it ([`Checker`]), turning refusals into
//! logs ([`audit_mode`]), merging profiles ([`merge`]), and building profiles from the calls a
//! workload made ([`recording`], [`write`]).

pub mod arch_names;
pub mod audit_mode;
pub mod context;
pub mod evaluate;
pub mod events_file;
pub mod findings;
pub mod load;
pub mod merge;
pub mod model;
pub mod recording;
pub mod write;

#[cfg(test)]
mod evaluate_tests;
#[cfg(test)]
mod merge_tests;

pub use context::CheckContext;
pub use evaluate::{Call, Cause, CheckError, Checker, Verdict};
pub use load::{ProfileError, load};
pub use model::{Action, Profile};
pub use recording::{CallStats, RecordedGroup, Recording};
