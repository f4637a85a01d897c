//! System call architectures (`AUDIT_ARCH_*`) and their syscall tables.

use std::fmt;

/// `__X32_SYSCALL_BIT`: x32 calls go through the x86-64 entry with this bit set in the number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The architecture a system call was made in, as the kernel's audit record names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    X86_64,
    /// x32: the x86-64 ABI with 32-bit pointers (audited as x86-64, told apart by the number).
    X32,
    I386,
    Aarch64,
    Arm,
    Riscv64,
    Loongarch64,
    Powerpc64,
    Powerpc64le,
    S390x,
    /// An `AUDIT_ARCH_*` value this tracer has no table for.
    Unknown(u32),
    /// The kernel program could not tell which architecture the call was made in (a compat
    /// mode it cannot detect, or an unreadable task): no table applies.
    Undetected,
}

impl Arch {
    /// Classifies a call from its audit arch and number.
    pub fn from_audit(audit_arch: u32, syscall_nr: u32) -> Self {
        match audit_arch {
            0xc000_003e if syscall_nr & X32_SYSCALL_BIT != 0 => Self::X32,
            0xc000_003e => Self::X86_64,
            0x4000_0003 => Self::I386,
            0xc000_00b7 => Self::Aarch64,
            0x4000_0028 => Self::Arm,
            0xc000_00f3 => Self::Riscv64,
            0xc000_0102 => Self::Loongarch64,
            0x8000_0015 => Self::Powerpc64,
            0xc000_0015 => Self::Powerpc64le,
            0x8000_0016 => Self::S390x,
            other => Self::Unknown(other),
        }
    }

    /// The `AUDIT_ARCH_*` value [`from_audit`](Self::from_audit) took this from (x32 shares
    /// x86-64's), for the kernel programs' keys; `None` where the arch was not detected.
    pub fn audit_value(self) -> Option<u32> {
        Some(match self {
            Self::X86_64 | Self::X32 => 0xc000_003e,
            Self::I386 => 0x4000_0003,
            Self::Aarch64 => 0xc000_00b7,
            Self::Arm => 0x4000_0028,
            Self::Riscv64 => 0xc000_00f3,
            Self::Loongarch64 => 0xc000_0102,
            Self::Powerpc64 => 0x8000_0015,
            Self::Powerpc64le => 0xc000_0015,
            Self::S390x => 0x8000_0016,
            Self::Unknown(raw) => raw,
            Self::Undetected => return None,
        })
    }

    /// The name of call `nr` in this architecture's table.
    pub fn syscall_name(self, nr: u32) -> Option<&'static str> {
        use syscalls::{aarch64, arm, loongarch64, powerpc64, riscv64, s390x, x86, x86_64};
        let nr = nr as usize;
        match self {
            Self::X86_64 => x86_64::Sysno::new(nr).map(|s| s.name()),
            // x32 shares the x86-64 numbers below 512; above, its own compat entries (512-547)
            // have no table in the syscalls crate and are shown as numbers.
            Self::X32 => x86_64::Sysno::new(nr & !(X32_SYSCALL_BIT as usize)).map(|s| s.name()),
            Self::I386 => x86::Sysno::new(nr).map(|s| s.name()),
            Self::Aarch64 => aarch64::Sysno::new(nr).map(|s| s.name()),
            Self::Arm => arm::Sysno::new(nr).map(|s| s.name()),
            Self::Riscv64 => riscv64::Sysno::new(nr).map(|s| s.name()),
            Self::Loongarch64 => loongarch64::Sysno::new(nr).map(|s| s.name()),
            Self::Powerpc64 | Self::Powerpc64le => powerpc64::Sysno::new(nr).map(|s| s.name()),
            Self::S390x => s390x::Sysno::new(nr).map(|s| s.name()),
            Self::Unknown(_) | Self::Undetected => None,
        }
    }

    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::X86_64 => "x86_64",
            Self::X32 => "x32",
            Self::I386 => "i386",
            Self::Aarch64 => "aarch64",
            Self::Arm => "arm",
            Self::Riscv64 => "riscv64",
            Self::Loongarch64 => "loongarch64",
            Self::Powerpc64 => "ppc64",
            Self::Powerpc64le => "ppc64le",
            Self::S390x => "s390x",
            Self::Unknown(_) | Self::Undetected => return None,
        })
    }

    /// What the output shows: the name, the raw value in hex where there is no table, and
    /// nothing where the arch was not detected.
    pub fn label(self) -> Option<String> {
        (self != Self::Undetected).then(|| self.to_string())
    }
}

/// The label, or null where the arch was not detected.
impl serde::Serialize for Arch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.name(), self) {
            (Some(name), _) => serializer.serialize_str(name),
            (None, Self::Undetected) => serializer.serialize_none(),
            (None, _) => serializer.collect_str(self),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Self::Unknown(raw)) => write!(f, "{raw:#010x}"),
            (None, Self::Undetected) => f.write_str("undetected"),
            (None, _) => unreachable!("every known arch has a name"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_number_means_different_calls_per_arch() {
        let x86_64 = Arch::from_audit(0xc000_003e, 83);
        let i386 = Arch::from_audit(0x4000_0003, 83);
        assert_eq!(
            (x86_64, x86_64.syscall_name(83)),
            (Arch::X86_64, Some("mkdir"))
        );
        assert_eq!((i386, i386.syscall_name(83)), (Arch::I386, Some("symlink")));
        assert_eq!(Arch::I386.syscall_name(20), Some("getpid"));
    }

    #[test]
    fn arm32_compat_calls_are_named_from_the_arm_table() {
        // An arm32 task on arm64 is audited with arch=40000028: its getppid is 64, which is
        // write in the arm64 table.
        let arm = Arch::from_audit(0x4000_0028, 64);
        let aarch64 = Arch::from_audit(0xc000_00b7, 64);
        assert_eq!((arm, arm.syscall_name(64)), (Arch::Arm, Some("getppid")));
        assert_eq!(
            (aarch64, aarch64.syscall_name(64)),
            (Arch::Aarch64, Some("write"))
        );
        assert_eq!(arm.to_string(), "arm");
        assert_eq!(aarch64.to_string(), "aarch64");
        assert_eq!(Arch::Arm.syscall_name(20), Some("getpid"));
        assert_eq!(Arch::Aarch64.syscall_name(173), Some("getppid"));
    }

    #[test]
    fn x32_calls_are_told_apart_by_their_number() {
        let nr = 0x4000_0000 | 83;
        let arch = Arch::from_audit(0xc000_003e, nr);
        assert_eq!(arch, Arch::X32);
        assert_eq!(arch.syscall_name(nr), Some("mkdir"));
    }

    #[test]
    fn gives_back_the_audit_value_it_was_read_from() {
        for (raw, nr) in [
            (0xc000_003e, 83),
            (0xc000_003e, 0x4000_0000 | 83),
            (0x4000_0003, 20),
            (0xc000_00b7, 1),
            (0x4000_0028, 1),
            (0xc000_00f3, 1),
            (0xc000_0102, 1),
            (0x8000_0015, 1),
            (0xc000_0015, 1),
            (0x8000_0016, 1),
            (0x1234, 1),
        ] {
            assert_eq!(Arch::from_audit(raw, nr).audit_value(), Some(raw));
        }
        assert_eq!(Arch::Undetected.audit_value(), None);
    }

    #[test]
    fn unknown_numbers_and_arches_have_no_name() {
        assert_eq!(Arch::X86_64.syscall_name(100_000), None);
        let unknown = Arch::from_audit(0x1234, 1);
        assert_eq!(unknown.syscall_name(1), None);
        assert_eq!(unknown.to_string(), "0x00001234");
        assert_eq!(unknown.label().as_deref(), Some("0x00001234"));
        assert_eq!(Arch::Undetected.syscall_name(1), None);
        assert_eq!(Arch::Undetected.label(), None);
        assert_eq!(Arch::X86_64.label().as_deref(), Some("x86_64"));
    }
}
