//! Reads of the current `task_struct` at offsets userspace took from the kernel's BTF.
//!
//! The task comes from `bpf_get_current_task_btf`, so the verifier knows its type and checks
//! every read against the kernel's BTF at load: the reads are plain loads the JIT guards with an
//! exception table, not a `bpf_probe_read_kernel` call each. The offsets must then be constants
//! the verifier can see, which is why each is read straight from the read-only global.

use aya_ebpf::helpers::generated::bpf_get_current_task_btf;
use tracer_common::{KernelOffsets, SIGSYS, compat};

pub struct Current {
    task: *const u8,
}

impl Current {
    #[inline(always)]
    pub fn new() -> Self {
        // SAFETY: the helper has no preconditions and returns the running task, never null.
        let task = unsafe { bpf_get_current_task_btf() } as *const u8;
        Self { task }
    }

    /// The task itself, for helpers that take one.
    #[inline(always)]
    pub fn as_ptr(&self) -> *const u8 {
        self.task
    }

    /// `current->seccomp.mode`
    #[inline(always)]
    pub fn seccomp_mode(&self, offsets: &KernelOffsets) -> Option<u32> {
        read(self.task, constant(&offsets.task_seccomp_mode))
    }

    /// `current->ptrace`: non-zero while a debugger traces the task.
    #[inline(always)]
    pub fn ptrace(&self, offsets: &KernelOffsets) -> Option<u32> {
        read(self.task, constant(&offsets.task_ptrace))
    }

    /// Whether SIGSYS waits in the thread's own pending signals (`current->pending`), where
    /// seccomp's TRAP action puts it.
    #[inline(always)]
    pub fn sigsys_pending(&self, offsets: &KernelOffsets) -> Option<bool> {
        let pending: u64 = read(self.task, constant(&offsets.task_pending_signals))?;
        Some(pending & (1 << (SIGSYS - 1)) != 0)
    }

    /// `current->real_parent->comm`
    #[inline(always)]
    pub fn parent_comm(&self, offsets: &KernelOffsets) -> Option<[u8; 16]> {
        let parent: *const u8 = read(self.task, constant(&offsets.task_real_parent))?;
        read(parent, constant(&offsets.task_comm))
    }

    /// `current->group_leader->thread_pid` and its `level`.
    #[inline(always)]
    pub fn leader_pid(&self, offsets: &KernelOffsets) -> Option<(*const u8, u32)> {
        leader_pid_of(self.task, offsets)
    }

    /// As [`leader_pid`](Self::leader_pid), of the real parent.
    #[inline(always)]
    pub fn parent_leader_pid(&self, offsets: &KernelOffsets) -> Option<(*const u8, u32)> {
        let parent: *const u8 = read(self.task, constant(&offsets.task_real_parent))?;
        leader_pid_of(parent, offsets)
    }

    /// `current->mm->exe_file`
    #[inline(always)]
    pub fn exe_file(&self, offsets: &KernelOffsets) -> Option<*const u8> {
        let mm: *const u8 = read(self.task, constant(&offsets.task_mm))?;
        let file: *const u8 = read(mm, constant(&offsets.mm_exe_file))?;
        (!file.is_null()).then_some(file)
    }

    /// The address of `current->mm`, as a number: what a process image is told apart by.
    #[inline(always)]
    pub fn mm_address(&self, offsets: &KernelOffsets) -> Option<u64> {
        let mm: *const u8 = read(self.task, constant(&offsets.task_mm))?;
        Some(mm as u64)
    }

    /// `current->mm->arg_start` and `arg_end`: where argv lies in the caller's memory.
    #[inline(always)]
    pub fn arg_range(&self, offsets: &KernelOffsets) -> Option<(u64, u64)> {
        let mm: *const u8 = read(self.task, constant(&offsets.task_mm))?;
        Some((
            read(mm, constant(&offsets.mm_arg_start))?,
            read(mm, constant(&offsets.mm_arg_end))?,
        ))
    }

    /// `current->real_parent->tgid`
    #[inline(always)]
    pub fn parent_tgid(&self, offsets: &KernelOffsets) -> Option<u32> {
        let parent: *const u8 = read(self.task, constant(&offsets.task_real_parent))?;
        read(parent, constant(&offsets.task_tgid))
    }

    /// `current->nsproxy->mnt_ns->ns.inum`; the nsproxy is gone once a task has exited.
    #[inline(always)]
    pub fn mnt_ns_inum(&self, offsets: &KernelOffsets) -> Option<u32> {
        let nsproxy: *const u8 = read(self.task, constant(&offsets.task_nsproxy))?;
        let mnt_ns: *const u8 = read(nsproxy, constant(&offsets.nsproxy_mnt_ns))?;
        read(mnt_ns, constant(&offsets.mnt_ns_inum))
    }

    /// The audit architecture of the system call in progress, as `syscall_get_arch()` sees it;
    /// `None` where this architecture's compat mode is undetectable.
    #[inline(always)]
    pub fn syscall_arch(&self, offsets: &KernelOffsets) -> Option<u32> {
        let native = constant(&offsets.native_arch);
        let word_at = constant(&offsets.task_compat_word);
        let word: u64 = match constant(&offsets.compat_detection) {
            compat::NONE => return Some(native),
            compat::BIT_IN_U32 => read::<u32>(self.task, word_at)?.into(),
            compat::BIT_IN_U64 => read::<u64>(self.task, word_at)?,
            _ => return None,
        };
        // The mask keeps the shift in range for the verifier and for Rust.
        Some(if (word >> (constant(&offsets.compat_bit) & 63)) & 1 != 0 {
            constant(&offsets.compat_arch)
        } else {
            native
        })
    }
}

#[inline(always)]
fn leader_pid_of(task: *const u8, offsets: &KernelOffsets) -> Option<(*const u8, u32)> {
    let leader: *const u8 = read(task, constant(&offsets.task_group_leader))?;
    let pid: *const u8 = read(leader, constant(&offsets.task_thread_pid))?;
    let level: u32 = read(pid, constant(&offsets.pid_level))?;
    Some((pid, level))
}

/// A field of the offsets global, read where it lives: the verifier folds loads from a frozen
/// read-only map into constants, and the compiler, which saw the zeroes the global was declared
/// with, must not fold them first.
#[inline(always)]
pub fn constant(field: &u32) -> u32 {
    // SAFETY: a reference to a field of a static is valid for reads.
    unsafe { core::ptr::read_volatile(field) }
}

/// A field at `offset` in the kernel object at `base`; `None` for a null object (a pointer read
/// from the kernel may be null, and a load through one yields zeroes rather than an error).
#[inline(always)]
fn read<T: Copy>(base: *const u8, offset: u32) -> Option<T> {
    if base.is_null() {
        return None;
    }
    // SAFETY: the verifier checks the access against the kernel's type of `base`, and the JIT
    // turns a fault into zeroes.
    Some(unsafe { core::ptr::read_volatile(base.wrapping_add(offset as usize) as *const T) })
}
