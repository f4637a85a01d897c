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
    /// Which argument of which system call is a path, at [`path_arg_slot`](super::path_arg_slot).
    pub const PATH_ARGS_MAP: &str = "PATH_ARGS";
    /// Per-CPU room where an event with its strings is put together before it is copied out.
    pub const SCRATCH_MAP: &str = "SCRATCH";
    pub const DENIALS_ENTER_PROGRAM: &str = "denials_enter";
    pub const DENIALS_EXIT_PROGRAM: &str = "denials_exit";
    /// The SIGSYS of a trap, seen as seccomp raises it (`signal_generate`): its stack, for the
    /// audit source with `--stack`.
    pub const TRAP_SIGNAL_PROGRAM: &str = "trap_signal";
    /// Per-thread state of `--all-denials`: whether the thread is inside a system call.
    pub const IN_SYSCALL_MAP: &str = "IN_SYSCALL";
    /// (arch, system call) pairs whose entries `--all-denials` reports, keyed by
    /// [`call_key`](super::call_key): those the audit source saw logged.
    pub const LOGGED_CALLS_MAP: &str = "LOGGED_CALLS";
    /// Settings userspace writes before load (see [`Settings`](super::Settings)).
    pub const SETTINGS_GLOBAL: &str = "SETTINGS";
    /// `tracer profile record`: the system call counter and its maps.
    pub const RECORDER_PROGRAM: &str = "record_syscall";
    pub const RECORDED_CALLS_MAP: &str = "RECORDED_CALLS";
    pub const RECORDER_LOST_MAP: &str = "RECORDER_LOST";
    pub const FIRST_CALLS_MAP: &str = "FIRST_CALLS";
}

/// Which kernel program produced an event.
pub mod source {
    pub const FENTRY: u32 = 1;
    pub const KPROBE: u32 = 2;
    /// A call seccomp refused without auditing it, seen on `raw_syscalls:sys_exit` with no
    /// `sys_enter` before it (`--all-denials`).
    pub const SYSCALL_EXIT: u32 = 3;
    /// A task seccomp killed, seen as it exited (`sched_process_exit`): the details of a kill
    /// the audit source reports without them.
    pub const TASK_EXIT: u32 = 4;
    /// The entry of a call of an (arch, system call) pair the audit source saw logged, seen on
    /// `raw_syscalls:sys_enter` (`--all-denials`): the details of a later logged call, which
    /// the audit record reports without them. Its code is `SECCOMP_RET_LOG` whether or not
    /// the filter logged this very call.
    pub const SYSCALL_ENTER: u32 = 5;
    /// A call seccomp trapped, seen as it raised SIGSYS (`signal_generate`): the details and
    /// stack of a trap the audit source reports without them. Never an event of its own: a
    /// trap without an audit record is `--all-denials`' to report.
    pub const TRAP_SIGNAL: u32 = 6;
}

/// How many mount namespaces the kernel-side drop list holds; beyond it, userspace filters.
pub const MNTNS_DROP_CAPACITY: u32 = 8192;

/// Default size of the event ring buffer, in bytes (a power of two, a multiple of the page size).
pub const DEFAULT_RING_BUFFER_BYTES: u32 = 1 << 20;

/// One call to the kernel's `audit_seccomp` (or, with `--all-denials`, one call seccomp refused
/// without auditing it): a system call that seccomp logged, refused or killed.
///
/// A ring buffer record is this fixed header (184 bytes, 8-byte aligned, explicit padding)
/// followed by its strings, in this order and without padding: `path_len` bytes of path,
/// `exe_len` bytes of the executable's path components, `cmdline_len` bytes of argv. Only what
/// an event has costs room in the ring buffer.
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
    /// `comm` of the real parent, as `comm`; valid with [`detail::PARENT_COMM`].
    pub parent_comm: [u8; COMM_LEN],
    /// The six argument registers of the call, from the task's saved user registers, in the
    /// order of the call's arch (i386: ebx, ecx, edx, esi, edi, ebp); valid with [`detail::ARGS`].
    pub args: [u64; 6],
    /// User instruction pointer of the call; valid with [`detail::ARGS`].
    pub ip: u64,
    /// The return register when the hook ran: `-errno` once seccomp refused the call with
    /// ERRNO; valid with [`detail::RET`].
    pub ret: i64,
    /// Process and parent ids as the caller's own pid namespace numbers them (the ids a
    /// container sees); valid with [`detail::NS_PIDS`]. `ns_ppid` is 0 where the parent lies
    /// outside that namespace.
    pub ns_pid: u32,
    pub ns_ppid: u32,
    /// The directory descriptor of an `*at` call whose path is relative; valid with
    /// [`detail::DIRFD`].
    pub dirfd: i32,
    /// Length of the path that follows the header, without a NUL; valid with [`detail::PATH`].
    pub path_len: u16,
    /// Length of the executable's path components that follow the path: each NUL-terminated,
    /// the file's own name first, then each directory up to the root; valid with [`detail::EXE`].
    pub exe_len: u16,
    /// Length of the argv that follows the exe, NUL-separated as in `/proc/PID/cmdline`; valid
    /// with [`detail::CMDLINE`].
    pub cmdline_len: u16,
    /// Bit set of [`detail`] flags: which of the fields above the program filled in.
    pub details: u16,
    /// Frames of the caller's user stack after the strings ([`stack`]): as instruction
    /// pointers, and as build id and file offset. 0 for an event without a stack.
    pub stack_ips: u8,
    pub stack_build_ids: u8,
    /// Words read from the top of the user stack, after its pointer ([`stack::TOP_WORDS`]).
    pub stack_top_words: u8,
    pub _padding: u8,
}

/// Size of the fixed part of a ring buffer record.
pub const HEADER_BYTES: usize = core::mem::size_of::<RawSeccompEvent>();

/// Bounds of the strings after the header. Powers of two: the program masks offsets with them.
pub const PATH_MAX_BYTES: usize = 256;
pub const EXE_MAX_BYTES: usize = 256;
pub const CMDLINE_MAX_BYTES: usize = 256;
/// Components of the executable's path that are followed up (a power of two: the program masks
/// indexes with it).
pub const EXE_MAX_COMPONENTS: usize = 16;

/// Room for the strings after the header: each section starts below the sum of the bounds
/// before it, which the program's masks rely on.
pub const TAIL_ROOM: usize = 1024;

/// The user stack an event may carry. It lies at a fixed place after the header, past the
/// whole of [`TAIL_ROOM`] whatever the strings use, so the program writes it without
/// variable offsets: first [`MAX_FRAMES`] instruction pointers (`u64`, of which
/// [`RawSeccompEvent::stack_ips`] are valid), the user stack pointer and the
/// [`TOP_WORDS`] words it points to (of which `stack_top_words` are valid), then
/// `stack_build_ids` entries of [`BUILD_ID_FRAME_BYTES`] each, the kernel's
/// `struct bpf_stack_build_id`.
///
/// The top words are there for the frame a frame-pointer walk skips: the caller of a function
/// that keeps no frame of its own (libc's `syscall()` wrapper), whose return address lies on
/// the stack top, where the function's call frame information says.
pub mod stack {
    /// Frames captured at most.
    pub const MAX_FRAMES: usize = 32;
    /// Offset of the stack from the start of the record.
    pub const OFFSET: usize = super::HEADER_BYTES + super::TAIL_ROOM;
    pub const IPS_BYTES: usize = MAX_FRAMES * 8;
    /// Words read from the stack top.
    pub const TOP_WORDS: usize = 8;
    /// The stack pointer, then the words.
    pub const TOP_BYTES: usize = 8 + TOP_WORDS * 8;
    /// Offset of the build ids from [`OFFSET`].
    pub const BUILD_IDS_AT: usize = IPS_BYTES + TOP_BYTES;
    /// `struct bpf_stack_build_id { s32 status; u8 build_id[20]; u64 offset_or_ip; }`
    pub const BUILD_ID_FRAME_BYTES: usize = 32;
    pub const BUILD_IDS_BYTES: usize = MAX_FRAMES * BUILD_ID_FRAME_BYTES;
    /// `bpf_stack_build_id.status`: no frame, a build id and file offset, only an ip.
    pub const BUILD_ID_EMPTY: i32 = 0;
    pub const BUILD_ID_VALID: i32 = 1;
    pub const BUILD_ID_IP: i32 = 2;
    pub const BUILD_ID_SIZE: usize = 20;
}

/// Flags in [`RawSeccompEvent::details`]: which details an event carries.
pub mod detail {
    pub const ARGS: u16 = 1 << 0;
    pub const RET: u16 = 1 << 1;
    pub const NS_PIDS: u16 = 1 << 2;
    pub const PARENT_COMM: u16 = 1 << 3;
    pub const PATH: u16 = 1 << 4;
    /// The path was longer than [`PATH_MAX_BYTES`](super::PATH_MAX_BYTES) - 1 and is cut there.
    pub const PATH_TRUNCATED: u16 = 1 << 5;
    pub const DIRFD: u16 = 1 << 6;
    pub const EXE: u16 = 1 << 7;
    /// The executable's path was deeper or longer than the bounds: its top is missing.
    pub const EXE_TRUNCATED: u16 = 1 << 8;
    pub const CMDLINE: u16 = 1 << 9;
    /// argv was longer than [`CMDLINE_MAX_BYTES`](super::CMDLINE_MAX_BYTES) and is cut there.
    pub const CMDLINE_TRUNCATED: u16 = 1 << 10;
}

/// Slots of [`names::PATH_ARGS_MAP`], an array (its lookups cost next to nothing, a hash's
/// do not): the native table's calls below [`PATH_ARGS_PER_TABLE`], then the compat table's.
pub const PATH_ARGS_PER_TABLE: u32 = 512;
pub const PATH_ARGS_CAPACITY: u32 = 2 * PATH_ARGS_PER_TABLE;

/// The slot of [`names::PATH_ARGS_MAP`] of a call, `None` for numbers beyond the tables' common
/// range (x32's own calls, arm's private ones), which take no path tracer reads.
#[inline(always)]
pub fn path_arg_slot(compat: bool, syscall_nr: u32) -> Option<u32> {
    // x32 calls are x86-64 calls with this bit set in their number.
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let nr = syscall_nr & !X32_SYSCALL_BIT;
    (nr < PATH_ARGS_PER_TABLE).then(|| nr + if compat { PATH_ARGS_PER_TABLE } else { 0 })
}

/// How many threads `--all-denials` keeps track of at once; beyond it, the least recently
/// seen are forgotten (and only seen anew).
pub const IN_SYSCALL_CAPACITY: u32 = 65536;

/// How many (arch, system call) pairs [`names::LOGGED_CALLS_MAP`] holds: a filter logs a few
/// calls, or all of them (a native and a compat table's worth).
pub const LOGGED_CALLS_CAPACITY: u32 = 1024;

/// Key of [`names::LOGGED_CALLS_MAP`]: a system call number in one `AUDIT_ARCH_*`.
#[inline(always)]
pub fn call_key(arch: u32, syscall_nr: u32) -> u64 {
    (u64::from(arch) << 32) | u64::from(syscall_nr)
}

/// Value of [`names::PATH_ARGS_MAP`]: which argument holds the path, and which the directory
/// descriptor it is relative to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathArg {
    /// Non-zero for a call that takes a path: an array's slots are all there, zeroed.
    pub present: u8,
    /// Index (0–5) of the argument that points to the path.
    pub path: u8,
    /// Index of the directory descriptor argument, or [`PathArg::NO_DIRFD`].
    pub dirfd: u8,
    pub _padding: u8,
}

impl PathArg {
    pub const NO_DIRFD: u8 = 0xff;
}

/// Run-time choices userspace writes into the programs' read-only data before load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// How much an event carries: one of the [`details_level`] constants.
    pub details: u32,
    /// Non-zero when the `--all-denials` programs run: the audit hooks then mark the calls they
    /// report, so the exit program does not report them again.
    pub all_denials: u32,
    /// Which events carry the caller's user stack: one of the [`stack_level`] constants.
    pub stack: u32,
}

/// Values of [`Settings::stack`].
pub mod stack_level {
    pub const NONE: u32 = 0;
    /// Kills and traps: the calls that end in `Bad system call`.
    pub const FAULTS: u32 = 1;
    pub const ALL: u32 = 2;
}

impl Settings {
    /// Every detail, and no `--all-denials`.
    pub const DEFAULT: Settings = Settings {
        details: details_level::ALL,
        all_denials: 0,
        stack: stack_level::NONE,
    };
}

/// `tracer profile record`: every system call of a mount namespace, counted in the kernel per
/// (namespace, arch, confinement) in [`names::RECORDED_CALLS_MAP`]; no call is sent to userspace.
pub mod recorder {
    /// Call numbers counted per key: every table tracer knows stays below it (x32's once its
    /// bit is taken off). Numbers beyond it are counted in [`RecordedCalls::beyond_table`].
    ///
    /// [`RecordedCalls::beyond_table`]: super::RecordedCalls::beyond_table
    pub const SLOTS: usize = 1024;
    /// Namespaces (times arches and confinement) the map holds at once.
    pub const CAPACITY: u32 = 1024;
    /// [`RecordKey::flags`]: the caller ran under a seccomp filter. A container's own calls are
    /// made under the runtime's filter; its runtime's set-up calls before it are not.
    pub const CONFINED: u32 = 1 << 0;
    /// [`RecordKey::flags`]: an x32 call (x86-64's entry, with the x32 bit in its number).
    pub const X32: u32 = 1 << 1;
    /// The bit x32 calls carry in their number.
    pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
}

/// Key of [`names::RECORDED_CALLS_MAP`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordKey {
    pub mntns_id: u32,
    /// The call's `AUDIT_ARCH_*`; 0 where the kernel programs could not tell it.
    pub arch: u32,
    /// [`recorder::CONFINED`], [`recorder::X32`].
    pub flags: u32,
    pub _padding: u32,
}

/// A record of [`names::FIRST_CALLS_MAP`], a ring buffer: the first call counted under a key,
/// made by a process that is still running, so userspace can ask it which container it is in
/// before a short-lived container is gone.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FirstCall {
    pub mntns_id: u32,
    pub tgid: u32,
}

/// Value of [`names::RECORDED_CALLS_MAP`]: one namespace's calls in one arch.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RecordedCalls {
    /// The last process seen calling: userspace asks it which container it is in.
    pub last_tgid: u32,
    pub _padding: u32,
    /// Calls whose number is at or beyond [`recorder::SLOTS`].
    pub beyond_table: u64,
    /// Calls per number.
    pub counts: [u64; recorder::SLOTS],
    /// `CLOCK_BOOTTIME` of each number's first call, 0 where it has none.
    pub first_seen_boot_ns: [u64; recorder::SLOTS],
}

/// Values of [`Settings::details`].
pub mod details_level {
    /// The base fields only, as before details existed (the performance lab's baseline).
    pub const NONE: u32 = 0;
    /// Registers, ids and the parent's comm: reads of kernel memory only.
    pub const REGISTERS: u32 = 1;
    /// Also path, exe and argv, read from user memory and the dentry cache.
    pub const ALL: u32 = 2;
}

/// Seccomp return values the kernel programs write as an event's `code`
/// (include/uapi/linux/seccomp.h).
pub mod seccomp_ret {
    /// The action bits; the low 16 are its data.
    pub const ACTION_MASK: u32 = 0xffff_0000;
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0x0000_0000;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const LOG: u32 = 0x7ffc_0000;
}

/// The signal seccomp's kill and trap actions deliver.
pub const SIGSYS: i32 = 31;

/// `task_struct.seccomp.mode` values (include/linux/seccomp.h).
pub mod seccomp_mode {
    pub const FILTER: u32 = 2;
    /// Set by seccomp just before it kills the task (Linux 5.17 and later).
    pub const DEAD: u32 = 3;
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
/// `u32`s only: 4-byte aligned, no padding.
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
    /// In `struct pt_regs`: the six argument registers of native calls, then of compat calls
    /// (on arm64, the first argument is `orig_x0`, since the return value overwrites `x0`).
    pub regs_args: [u32; 6],
    pub regs_compat_args: [u32; 6],
    /// `pt_regs` return value register (`ax`, `regs[0]`) and user instruction pointer.
    pub regs_ret: u32,
    pub regs_ip: u32,
    /// `pt_regs` system call number (`orig_ax`, `syscallno`), and the struct's size; a size
    /// of 0 means tracer does not know this architecture's registers.
    pub regs_nr: u32,
    pub regs_size: u32,
    /// `pt_regs` user stack pointer (`sp`).
    pub regs_sp: u32,
    /// `task_struct.comm`, `.group_leader`, `.thread_pid`, `.mm`
    pub task_comm: u32,
    pub task_group_leader: u32,
    pub task_thread_pid: u32,
    pub task_mm: u32,
    /// `task_struct.seccomp.mode` and `.ptrace`, for `--all-denials`.
    pub task_seccomp_mode: u32,
    pub task_ptrace: u32,
    /// `task_struct.pending.signal.sig`: the first word of the thread's own pending signals,
    /// where seccomp's SIGSYS for a TRAP action waits as the call returns.
    pub task_pending_signals: u32,
    /// `struct pid`: `.level`, `.numbers`; `struct upid`: its size and `.nr`.
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub upid_size: u32,
    pub upid_nr: u32,
    /// `mm_struct.exe_file`, `.arg_start`, `.arg_end`
    pub mm_exe_file: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    /// `file.f_path`, then `path.mnt` and `path.dentry`
    pub file_f_path: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    /// `dentry.d_parent` and `dentry.d_name.name`
    pub dentry_d_parent: u32,
    pub dentry_d_name: u32,
    /// `vfsmount.mnt_root`; `mount.mnt` (the `vfsmount` inside it), `.mnt_parent`,
    /// `.mnt_mountpoint`
    pub vfsmount_mnt_root: u32,
    pub mount_mnt: u32,
    pub mount_mnt_parent: u32,
    pub mount_mnt_mountpoint: u32,
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
    unsafe impl aya::Pod for super::PathArg {}
    unsafe impl aya::Pod for super::Settings {}
    unsafe impl aya::Pod for super::RecordKey {}
    unsafe impl aya::Pod for super::FirstCall {}
    unsafe impl aya::Pod for super::RecordedCalls {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, size_of};

    #[test]
    fn layout_has_no_implicit_padding() {
        assert_eq!(size_of::<RawSeccompEvent>(), 184);
        assert_eq!(align_of::<RawSeccompEvent>(), 8);
        // u32 fields and nothing else: any padding would make the size larger.
        assert_eq!(size_of::<KernelOffsets>(), 50 * size_of::<u32>());
        assert_eq!(size_of::<PathArg>(), 4);
        assert_eq!(align_of::<KernelOffsets>(), 4);
    }
}
