//! Where formatted events go.

pub mod stdout;

pub use stdout::{Stdout, WriteOutcome};
