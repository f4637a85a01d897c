//! The `#[repr(C)]` types tracer's kernel programs write and its userspace reads.
//!
//! Everything here is plain integers and byte arrays: no `bool`, no Rust `enum`, no implicit
//! padding. The kernel can write any bit pattern, and userspace turns the raw integers into
//! meaningful values with `TryFrom`, never by transmuting.
#![no_std]

/// Length of `task_struct.comm`, including the terminating NUL.
pub const COMM_LEN: usize = 16;

/// Names of the maps and globals, shared so both sides agree on them.
pub mod names {
    pub const EVENTS_MAP: &str = "EVENTS";
    pub const LOST_MAP: &str = "LOST";
    pub const MNTNS_DROP_MAP: &str = "MNTNS_DROP";
    pub const OFFSETS_GLOBAL: &str = "OFFSETS";
    pub const FENTRY_PROGRAM: &str = "seccomp_fentry";
    pub const KPROBE_PROGRAM: &str = "seccomp_kprobe";
    pub const EXITED_MAP: &str = "EXITED";
    pub const EXIT_PROGRAM: &str = "task_exit";
}

/// Which kernel program produced an event.
pub mod source {
    pub const FENTRY: u32 = 1;
    pub const KPROBE: u32 = 2;
}

/// How many mount namespaces the kernel-side drop list holds; beyond it, userspace filters.
pub const MNTNS_DROP_CAPACITY: u32 = 8192;

/// Default size of the event ring buffer, in bytes (a power of two, a multiple of the page size).
pub const DEFAULT_RING_BUFFER_BYTES: u32 = 1 << 20;

/// One call to the kernel's `audit_seccomp`: a system call that seccomp logged, refused or killed.
///
/// Fixed size (80 bytes), 8-byte aligned, with explicit padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawSeccompEvent {
    /// `CLOCK_BOOTTIME` nanoseconds when the hook ran.
    pub boot_ns: u64,
    /// cgroup v2 id of the task (0 where the task is in no v2 cgroup).
    pub cgroup_id: u64,
    /// Thread-group id: what userspace calls the process id.
    pub pid: u32,
    /// Kernel task id: what userspace calls the thread id.
    pub tid: u32,
    /// Thread-group id of the real parent, 0 when it could not be read.
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Inode number of the task's mount namespace, 0 when it could not be read.
    pub mntns_id: u32,
    /// System call number, as the filter saw it (x32 calls keep their `0x40000000` bit).
    pub syscall_nr: u32,
    /// `AUDIT_ARCH_*` value of the call, as in the kernel's own audit record; 0 when
    /// [`read_error::ARCH`] is set.
    pub arch: u32,
    /// The seccomp action and data the kernel passed to `audit_seccomp`.
    pub code: u32,
    /// Signal the action delivers (SIGSYS for kill and trap), 0 for none.
    pub signal: i32,
    /// One of the [`source`] constants.
    pub source: u32,
    /// Bit set of [`read_error`] flags: fields that could not be read.
    pub read_errors: u32,
    /// `task_struct.comm`, NUL-terminated unless it is exactly 16 bytes long.
    pub comm: [u8; COMM_LEN],
}

/// What a process was when it exited, kept so events read after its death (the kernel's audit
/// records arrive asynchronously, and seccomp's kills end processes) can still be attributed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitedTask {
    /// `CLOCK_BOOTTIME` nanoseconds of the exit.
    pub exited_boot_ns: u64,
    pub cgroup_id: u64,
    pub mntns_id: u32,
    pub ppid: u32,
}

/// How many exited processes are remembered (least recently written are forgotten first).
pub const EXITED_CAPACITY: u32 = 16384;

/// Flags in [`RawSeccompEvent::read_errors`].
pub mod read_error {
    pub const PPID: u32 = 1 << 0;
    pub const MNTNS: u32 = 1 << 1;
    /// The word that tells a compat call apart was unreadable, or this architecture has a
    /// compat mode the program cannot detect (see [`compat`](super::compat)).
    pub const ARCH: u32 = 1 << 2;
    pub const COMM: u32 = 1 << 3;
}

/// Where to find the fields whose place in kernel structures changes between kernel versions.
///
/// aya's Rust programs have no CO-RE relocations, so userspace reads these offsets from the
/// running kernel's BTF and writes them into the program's read-only data before load.
///
/// Ten `u32`s: 40 bytes, 4-byte aligned, no padding.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    /// `task_struct.real_parent`
    pub task_real_parent: u32,
    /// `task_struct.tgid`
    pub task_tgid: u32,
    /// `task_struct.nsproxy`
    pub task_nsproxy: u32,
    /// `nsproxy.mnt_ns`
    pub nsproxy_mnt_ns: u32,
    /// `mnt_namespace.ns.inum`
    pub mnt_ns_inum: u32,
    /// How the program tells a compat (32-bit) system call from a native one: one of the
    /// [`compat`] constants.
    pub compat_detection: u32,
    /// Offset in `task_struct` of the word whose bit marks a compat system call.
    pub task_compat_word: u32,
    /// Number of that bit, counted from the least significant.
    pub compat_bit: u32,
    /// `AUDIT_ARCH_*` of native system calls.
    pub native_arch: u32,
    /// `AUDIT_ARCH_*` of compat system calls.
    pub compat_arch: u32,
}

/// Values of [`KernelOffsets::compat_detection`].
pub mod compat {
    /// The architecture has a compat mode the program cannot detect: it reports the arch as
    /// unread ([`read_error::ARCH`](super::read_error::ARCH)) rather than guess. Zero, so
    /// offsets that were never filled in claim no architecture.
    pub const UNDETECTABLE: u32 = 0;
    /// The kernel has no compat mode: every call is [`native_arch`](super::KernelOffsets).
    pub const NONE: u32 = 1;
    /// A call is compat while bit `compat_bit` of the `u32` at `task_compat_word` is set.
    pub const BIT_IN_U32: u32 = 2;
    /// As [`BIT_IN_U32`], in a `u64`.
    pub const BIT_IN_U64: u32 = 3;
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: both are `#[repr(C)]` structs of integers with no implicit padding, so every bit
    // pattern is a valid value.
    unsafe impl aya::Pod for super::RawSeccompEvent {}
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::ExitedTask {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, size_of};

    #[test]
    fn layout_has_no_implicit_padding() {
        assert_eq!(size_of::<RawSeccompEvent>(), 80);
        assert_eq!(align_of::<RawSeccompEvent>(), 8);
        // Ten u32 fields and nothing else: any padding would make the size larger.
        assert_eq!(size_of::<KernelOffsets>(), 10 * size_of::<u32>());
        assert_eq!(align_of::<KernelOffsets>(), 4);
    }
}
