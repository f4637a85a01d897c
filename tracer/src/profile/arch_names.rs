//! The names profiles give architectures: libseccomp's `SCMP_ARCH_*` in `architectures` and
//! `archMap`, and Docker's own (Go's, as libseccomp spells them: `amd64`, `arm64`) in a rule's
//! `includes.arches`; and system call numbers by name in each architecture's table.

use std::str::FromStr;

use crate::events::Arch;

/// Every `SCMP_ARCH_*` name libseccomp knows, with the [`Arch`] tracer reports for it where it
/// has one. Names without one are valid in a profile, but no call tracer sees is made in them.
const SCMP_ARCHES: &[(&str, Option<Arch>)] = &[
    ("SCMP_ARCH_NATIVE", None),
    ("SCMP_ARCH_X86", Some(Arch::I386)),
    ("SCMP_ARCH_X86_64", Some(Arch::X86_64)),
    ("SCMP_ARCH_X32", Some(Arch::X32)),
    ("SCMP_ARCH_ARM", Some(Arch::Arm)),
    ("SCMP_ARCH_AARCH64", Some(Arch::Aarch64)),
    ("SCMP_ARCH_LOONGARCH64", Some(Arch::Loongarch64)),
    ("SCMP_ARCH_M68K", None),
    ("SCMP_ARCH_MIPS", None),
    ("SCMP_ARCH_MIPS64", None),
    ("SCMP_ARCH_MIPS64N32", None),
    ("SCMP_ARCH_MIPSEL", None),
    ("SCMP_ARCH_MIPSEL64", None),
    ("SCMP_ARCH_MIPSEL64N32", None),
    ("SCMP_ARCH_PPC", None),
    ("SCMP_ARCH_PPC64", Some(Arch::Powerpc64)),
    ("SCMP_ARCH_PPC64LE", Some(Arch::Powerpc64le)),
    ("SCMP_ARCH_S390", None),
    ("SCMP_ARCH_S390X", Some(Arch::S390x)),
    ("SCMP_ARCH_PARISC", None),
    ("SCMP_ARCH_PARISC64", None),
    ("SCMP_ARCH_RISCV64", Some(Arch::Riscv64)),
    ("SCMP_ARCH_SH", None),
    ("SCMP_ARCH_SHEB", None),
];

/// Whether libseccomp knows the name.
pub fn is_scmp_name(name: &str) -> bool {
    SCMP_ARCHES.iter().any(|(known, _)| *known == name)
}

/// The architecture an `SCMP_ARCH_*` name stands for, where tracer reports calls in it.
pub fn from_scmp(name: &str) -> Option<Arch> {
    SCMP_ARCHES
        .iter()
        .find(|(known, _)| *known == name)
        .and_then(|(_, arch)| *arch)
}

/// The `SCMP_ARCH_*` name of an architecture tracer reports.
pub fn to_scmp(arch: Arch) -> Option<&'static str> {
    SCMP_ARCHES
        .iter()
        .find(|(_, known)| *known == Some(arch))
        .map(|(name, _)| *name)
}

/// How Docker names the host's architecture when it compares it with a rule's
/// `includes.arches`/`excludes.arches`: Go's architecture as libseccomp spells it.
pub fn docker_name(native: Arch) -> Option<&'static str> {
    Some(match native {
        Arch::X86_64 => "amd64",
        Arch::I386 => "x86",
        Arch::Aarch64 => "arm64",
        Arch::Arm => "arm",
        Arch::Loongarch64 => "loongarch64",
        Arch::Powerpc64 => "ppc64",
        Arch::Powerpc64le => "ppc64le",
        Arch::Riscv64 => "riscv64",
        Arch::S390x => "s390x",
        Arch::X32 | Arch::Unknown(_) | Arch::Undetected => return None,
    })
}

/// The architecture of the machine tracer was built for: the one whose filters it checks.
pub fn native() -> Arch {
    if cfg!(target_arch = "x86_64") {
        Arch::X86_64
    } else if cfg!(target_arch = "aarch64") {
        Arch::Aarch64
    } else if cfg!(target_arch = "riscv64") {
        Arch::Riscv64
    } else if cfg!(target_arch = "loongarch64") {
        Arch::Loongarch64
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Arch::Powerpc64le
    } else if cfg!(target_arch = "powerpc64") {
        Arch::Powerpc64
    } else if cfg!(target_arch = "s390x") {
        Arch::S390x
    } else if cfg!(target_arch = "x86") {
        Arch::I386
    } else if cfg!(target_arch = "arm") {
        Arch::Arm
    } else {
        Arch::Undetected
    }
}

/// The number of system call `name` in `arch`'s table, as the filter sees it (x32 numbers keep
/// their `0x40000000` bit).
pub fn syscall_number(arch: Arch, name: &str) -> Option<u32> {
    use syscalls::{aarch64, arm, loongarch64, powerpc64, riscv64, s390x, x86, x86_64};
    let nr = match arch {
        Arch::X86_64 => x86_64::Sysno::from_str(name).ok()?.id(),
        Arch::X32 => x86_64::Sysno::from_str(name).ok()?.id() | 0x4000_0000,
        Arch::I386 => x86::Sysno::from_str(name).ok()?.id(),
        Arch::Aarch64 => aarch64::Sysno::from_str(name).ok()?.id(),
        Arch::Arm => arm::Sysno::from_str(name).ok()?.id(),
        Arch::Riscv64 => riscv64::Sysno::from_str(name).ok()?.id(),
        Arch::Loongarch64 => loongarch64::Sysno::from_str(name).ok()?.id(),
        Arch::Powerpc64 | Arch::Powerpc64le => powerpc64::Sysno::from_str(name).ok()?.id(),
        Arch::S390x => s390x::Sysno::from_str(name).ok()?.id(),
        Arch::Unknown(_) | Arch::Undetected => return None,
    };
    u32::try_from(nr).ok()
}

/// Every architecture with a system call table.
pub const KNOWN_ARCHES: [Arch; 10] = [
    Arch::X86_64,
    Arch::X32,
    Arch::I386,
    Arch::Aarch64,
    Arch::Arm,
    Arch::Riscv64,
    Arch::Loongarch64,
    Arch::Powerpc64,
    Arch::Powerpc64le,
    Arch::S390x,
];

/// Reads an architecture as tracer's events name it (`x86_64`, `i386`...).
pub fn from_event_name(name: &str) -> Option<Arch> {
    KNOWN_ARCHES
        .into_iter()
        .find(|arch| arch.name() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_both_ways() {
        for arch in [
            Arch::X86_64,
            Arch::I386,
            Arch::X32,
            Arch::Aarch64,
            Arch::Arm,
        ] {
            assert_eq!(from_scmp(to_scmp(arch).unwrap()), Some(arch));
            assert_eq!(from_event_name(arch.name().unwrap()), Some(arch));
        }
        assert!(is_scmp_name("SCMP_ARCH_MIPS"));
        assert_eq!(from_scmp("SCMP_ARCH_MIPS"), None);
        assert!(!is_scmp_name("x86_64"));
    }

    #[test]
    fn numbers_are_per_table() {
        assert_eq!(syscall_number(Arch::X86_64, "mkdir"), Some(83));
        assert_eq!(syscall_number(Arch::I386, "symlink"), Some(83));
        assert_eq!(syscall_number(Arch::X32, "mkdir"), Some(0x4000_0000 | 83));
        assert_eq!(syscall_number(Arch::Arm, "getppid"), Some(64));
        assert_eq!(syscall_number(Arch::Aarch64, "getppid"), Some(173));
        assert_eq!(syscall_number(Arch::Aarch64, "mkdir"), None);
        assert_eq!(syscall_number(Arch::X86_64, "no_such_call"), None);
    }
}
