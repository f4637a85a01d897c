//! The two eBPF hooks on `audit_seccomp` and the kernel features each one needs.

use std::{fmt, io, path::Path};

use aya::{
    Btf, BtfError, Ebpf,
    programs::{FEntry, KProbe, ProgramError},
};
use thiserror::Error;
use tracer_common::names;

/// The function the kernel calls to write a seccomp audit record.
pub const AUDIT_FUNCTION: &str = "audit_seccomp";
/// Its name on kernels where `audit_seccomp` is an inline wrapper around it.
pub const AUDIT_FUNCTION_FALLBACK: &str = "__audit_seccomp";
/// Present when the kernel is built with kprobes (perf's kprobe PMU).
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Fentry,
    Kprobe,
    /// Not an eBPF hook: the kernel's own audit records, read from netlink.
    Audit,
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hook::Fentry => "fentry",
            Hook::Kprobe => "kprobe",
            Hook::Audit => "audit",
        })
    }
}

#[derive(Debug, Error)]
pub enum HookError {
    #[error("kernel BTF is unavailable (fentry needs CONFIG_DEBUG_INFO_BTF)")]
    NoBtf(#[source] BtfError),
    #[error(
        "the kernel refused the program with EPERM: BPF trampolines are unavailable or locked \
         down on this kernel (ftrace lockdown)"
    )]
    FentryRefused,
    #[error(
        "this kernel has no BPF trampolines for its architecture, which fentry needs (error 524, \
         ENOTSUPP: arm64 kernels before 6.4 have none); use --probe kprobe, which --probe auto \
         falls back to"
    )]
    NoTrampolines,
    #[error("this kernel is built without kprobes ({KPROBE_PMU} is missing)")]
    NoKprobes,
    #[error(
        "neither {AUDIT_FUNCTION} nor {AUDIT_FUNCTION_FALLBACK} is in /proc/kallsyms: the kernel \
         is built without syscall auditing (CONFIG_AUDITSYSCALL)"
    )]
    NoAuditFunction,
    #[error("not an eBPF hook: the audit source is opened by the source module")]
    NotAnEbpfHook,
    #[error("cannot read /proc/kallsyms")]
    Kallsyms(#[source] io::Error),
    #[error("the kernel programs have no {0} program")]
    MissingProgram(&'static str),
    #[error("loading the program")]
    Load(#[source] ProgramError),
    #[error("attaching to {function}")]
    Attach {
        function: String,
        #[source]
        source: ProgramError,
    },
}

/// Loads and attaches the eBPF program of `hook`; returns the kernel function it is on.
pub fn attach(ebpf: &mut Ebpf, hook: Hook) -> Result<String, HookError> {
    match hook {
        Hook::Fentry => attach_fentry(ebpf),
        Hook::Kprobe => attach_kprobe(ebpf),
        Hook::Audit => Err(HookError::NotAnEbpfHook),
    }
}

fn attach_fentry(ebpf: &mut Ebpf) -> Result<String, HookError> {
    let btf = Btf::from_sys_fs().map_err(HookError::NoBtf)?;
    let program: &mut FEntry = ebpf
        .program_mut(names::FENTRY_PROGRAM)
        .ok_or(HookError::MissingProgram(names::FENTRY_PROGRAM))?
        .try_into()
        .map_err(HookError::Load)?;
    program
        .load(AUDIT_FUNCTION, &btf)
        .map_err(|e| refused_or(e, HookError::Load))?;
    program.attach().map_err(|e| {
        refused_or(e, |source| HookError::Attach {
            function: AUDIT_FUNCTION.into(),
            source,
        })
    })?;
    Ok(AUDIT_FUNCTION.into())
}

fn attach_kprobe(ebpf: &mut Ebpf) -> Result<String, HookError> {
    if !Path::new(KPROBE_PMU).exists() {
        return Err(HookError::NoKprobes);
    }
    let program: &mut KProbe = ebpf
        .program_mut(names::KPROBE_PROGRAM)
        .ok_or(HookError::MissingProgram(names::KPROBE_PROGRAM))?
        .try_into()
        .map_err(HookError::Load)?;
    program.load().map_err(HookError::Load)?;
    // /proc/kallsyms is read only when the usual name fails: the kernel writes out its whole
    // symbol table for it, which took a third of the start-up time under emulation.
    let first = match program.attach(AUDIT_FUNCTION, 0) {
        Ok(_) => return Ok(AUDIT_FUNCTION.into()),
        Err(error) => error,
    };
    let function = audit_function_in_kallsyms()?;
    let attached = if function == AUDIT_FUNCTION {
        Err(first)
    } else {
        program.attach(function, 0).map(drop)
    };
    attached.map_err(|source| HookError::Attach {
        function: function.into(),
        source,
    })?;
    Ok(function.into())
}

/// `ENOTSUPP`: the kernel-internal errno its generic `arch_prepare_bpf_trampoline()` returns
/// on architectures without trampolines (arm64 before Linux 6.4); libc has no name for it.
const ENOTSUPP: i32 = 524;

/// The kernel refuses tracing programs with EPERM when trampolines are locked down, and with
/// ENOTSUPP where the architecture has none; those cases get their own explanation, everything
/// else keeps aya's error.
fn refused_or(error: ProgramError, other: impl FnOnce(ProgramError) -> HookError) -> HookError {
    let errno = match &error {
        ProgramError::LoadError { io_error, .. } => io_error.raw_os_error(),
        ProgramError::SyscallError(e) => e.io_error.raw_os_error(),
        _ => None,
    };
    match errno {
        Some(libc::EPERM) => HookError::FentryRefused,
        Some(ENOTSUPP) => HookError::NoTrampolines,
        _ => other(error),
    }
}

fn audit_function_in_kallsyms() -> Result<&'static str, HookError> {
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").map_err(HookError::Kallsyms)?;
    pick_audit_function(&kallsyms).ok_or(HookError::NoAuditFunction)
}

/// Prefers `audit_seccomp`; takes `__audit_seccomp` only where the former is not a symbol.
fn pick_audit_function(kallsyms: &str) -> Option<&'static str> {
    let has = |name: &str| {
        kallsyms.lines().any(|line| {
            let mut fields = line.split_whitespace();
            // Lines read "address type name [module]"; only text symbols can be probed.
            let (_, kind, symbol) = (fields.next(), fields.next(), fields.next());
            symbol == Some(name) && matches!(kind, Some("T" | "t"))
        })
    };
    [AUDIT_FUNCTION, AUDIT_FUNCTION_FALLBACK]
        .into_iter()
        .find(|name| has(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_audit_seccomp_and_falls_back_to_the_inner_function() {
        let both = "ffffffff81000000 T __audit_seccomp\nffffffff81000100 T audit_seccomp\n";
        assert_eq!(pick_audit_function(both), Some("audit_seccomp"));
        let old = "ffffffff81000000 T __audit_seccomp\nffffffff81000100 t audit_seccomp_x\n";
        assert_eq!(pick_audit_function(old), Some("__audit_seccomp"));
        let data_only = "ffffffff81000000 d audit_seccomp\n";
        assert_eq!(pick_audit_function(data_only), None);
    }

    #[test]
    fn a_kernel_without_trampolines_is_explained_with_the_way_out() {
        let attach = ProgramError::SyscallError(aya::sys::SyscallError {
            call: "bpf_link_create",
            io_error: io::Error::from_raw_os_error(ENOTSUPP),
        });
        let error = refused_or(attach, HookError::Load);
        assert!(matches!(error, HookError::NoTrampolines), "{error:?}");
        let message = error.to_string();
        assert!(message.contains("no BPF trampolines"), "{message}");
        assert!(message.contains("--probe kprobe"), "{message}");
        let other = ProgramError::SyscallError(aya::sys::SyscallError {
            call: "bpf_link_create",
            io_error: io::Error::from_raw_os_error(libc::EINVAL),
        });
        assert!(matches!(
            refused_or(other, HookError::Load),
            HookError::Load(_)
        ));
    }

    #[test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    fn the_running_kernel_has_an_audit_function() {
        // Every kernel this project supports audits seccomp; this also checks the parser
        // against a real /proc/kallsyms.
        assert_eq!(audit_function_in_kallsyms().unwrap(), AUDIT_FUNCTION);
    }
}

#[cfg(test)]
mod verifier_tests {
    use super::*;
    use crate::probe::{loader, offsets};

    /// Loading (not attaching) runs the verifier, which this kernel has even where it has no
    /// kprobe PMU to attach to: the program's safety is checked on every machine the tests run.
    #[test]
    #[ignore = "needs root and BPF: cargo xtask test runs it as root"]
    fn the_kernel_verifier_accepts_the_kprobe_program() {
        let offsets = offsets::from_running_kernel().expect("kernel offsets");
        let mut ebpf = loader::load(&offsets, 4096, &tracer_common::Settings::DEFAULT)
            .expect("loading the object (needs root)");
        let program: &mut KProbe = ebpf
            .program_mut(names::KPROBE_PROGRAM)
            .expect("kprobe program")
            .try_into()
            .expect("a kprobe");
        if let Err(error) = program.load() {
            panic!("the verifier rejected the kprobe program: {error}");
        }
    }
}
