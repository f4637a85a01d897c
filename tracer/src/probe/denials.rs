//! `--all-denials`: the `raw_syscalls` tracepoint programs that see calls seccomp refused
//! without auditing them. They attach on every kernel tracer supports, this one included.

use aya::{
    Ebpf,
    programs::{ProgramError, RawTracePoint},
};
use thiserror::Error;
use tracer_common::names;

#[derive(Debug, Error)]
pub enum DenialsError {
    #[error("the kernel programs have no {0} program")]
    Missing(&'static str),
    #[error("loading or attaching the {tracepoint} raw tracepoint program")]
    Program {
        tracepoint: &'static str,
        #[source]
        source: ProgramError,
    },
}

/// Attaches the exit program first: a call that starts between the two attaches is seen
/// entering, and at worst its exit is taken for the thread's first, never for a refusal.
pub fn attach(ebpf: &mut Ebpf) -> Result<(), DenialsError> {
    attach_one(ebpf, names::DENIALS_EXIT_PROGRAM, "sys_exit")?;
    attach_one(ebpf, names::DENIALS_ENTER_PROGRAM, "sys_enter")
}

/// Attaches the program that reads a trap's details and stack as seccomp raises its SIGSYS:
/// the audit source's record of a trap has neither, and `--all-denials`' exit program, which
/// has them too, may not run.
pub fn attach_trap_signal(ebpf: &mut Ebpf) -> Result<(), DenialsError> {
    attach_one(ebpf, names::TRAP_SIGNAL_PROGRAM, "signal_generate")
}

fn attach_one(
    ebpf: &mut Ebpf,
    program: &'static str,
    tracepoint: &'static str,
) -> Result<(), DenialsError> {
    let error = |source| DenialsError::Program { tracepoint, source };
    let found: &mut RawTracePoint = ebpf
        .program_mut(program)
        .ok_or(DenialsError::Missing(program))?
        .try_into()
        .map_err(error)?;
    found.load().map_err(error)?;
    found.attach(tracepoint).map_err(error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{loader, offsets};

    /// The verifier sees the whole event path here (details included): the exit program
    /// builds events like the audit hooks do, and it loads on every kernel, this one included.
    #[test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    fn the_kernel_accepts_and_attaches_every_raw_tracepoint_program() {
        let offsets = offsets::from_running_kernel().expect("kernel offsets");
        let settings = tracer_common::Settings {
            all_denials: 1,
            ..tracer_common::Settings::DEFAULT
        };
        let mut ebpf = loader::load(&offsets, 4096, &settings).expect("loading (needs root)");
        if let Err(error) = attach(&mut ebpf).and_then(|()| attach_trap_signal(&mut ebpf)) {
            panic!("{}", crate::error_chain::Chain(&error));
        }
    }
}
