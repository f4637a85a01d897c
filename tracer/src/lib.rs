//! tracer: shows which system calls seccomp logged, refused or killed, and why.
//!
//! The modules follow an event's path: [`probe`] loads the kernel programs, [`source`] reads
//! what they or the kernel's audit records report, [`events`] decodes it, [`enrich`] names the
//! container, [`filter`] selects, [`rules`] decide what each event carries, [`output`] formats and [`sink`] delivers; [`pipeline`] runs
//! that path for every source, and [`commands`] wires it for each subcommand. [`stack`]
//! symbolizes the user stacks captured with an event. [`profile`] reads, checks, merges and
//! writes seccomp profiles, and builds them from the calls a workload made.

pub mod cli;
pub mod commands;
pub mod config;
pub mod enrich;
pub mod error_chain;
pub mod events;
pub mod filter;
pub mod memory;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod probe;
pub mod profile;
pub mod rules;
pub mod sink;
pub mod source;
pub mod stack;
pub mod volume;

#[cfg(test)]
mod test_support;
