//! tracer: shows which system calls seccomp logged, refused or killed, and why.
//!
//! The modules follow an event's path: [`probe`] loads and attaches the kernel programs,
//! [`ringbuf`] reads what they write, [`events`] decodes it, [`filter`] selects, [`output`]
//! formats and [`sink`] delivers. [`commands`] wires the path for each subcommand.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod enrich;
pub mod events;
pub mod filter;
pub mod output;
pub mod probe;
pub mod ringbuf;
pub mod sink;

#[cfg(test)]
mod test_support;
