//! Reads of the current `task_struct` at offsets userspace took from the kernel's BTF.

use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};
use tracer_common::{KernelOffsets, compat};

pub struct Current<'a> {
    task: *const u8,
    offsets: &'a KernelOffsets,
}

impl<'a> Current<'a> {
    #[inline(always)]
    pub fn new(offsets: &'a KernelOffsets) -> Self {
        // SAFETY: the helper has no preconditions; the pointer is only used through probe reads.
        let task = unsafe { bpf_get_current_task() } as *const u8;
        Self { task, offsets }
    }

    /// `current->real_parent->tgid`
    #[inline(always)]
    pub fn parent_tgid(&self) -> Option<u32> {
        let parent: *const u8 = read(self.task, self.offsets.task_real_parent)?;
        read(parent, self.offsets.task_tgid)
    }

    /// `current->nsproxy->mnt_ns->ns.inum`; the nsproxy is gone once a task has exited.
    #[inline(always)]
    pub fn mnt_ns_inum(&self) -> Option<u32> {
        let nsproxy: *const u8 = read(self.task, self.offsets.task_nsproxy)?;
        let mnt_ns: *const u8 = read(nsproxy, self.offsets.nsproxy_mnt_ns)?;
        read(mnt_ns, self.offsets.mnt_ns_inum)
    }

    /// The audit architecture of the system call in progress, as `syscall_get_arch()` sees it;
    /// `None` where the word is unreadable or this architecture's compat mode is undetectable.
    #[inline(always)]
    pub fn syscall_arch(&self) -> Option<u32> {
        let offsets = self.offsets;
        let word: u64 = match offsets.compat_detection {
            compat::NONE => return Some(offsets.native_arch),
            compat::BIT_IN_U32 => read::<u32>(self.task, offsets.task_compat_word)?.into(),
            compat::BIT_IN_U64 => read::<u64>(self.task, offsets.task_compat_word)?,
            _ => return None,
        };
        // The mask keeps the shift in range for the verifier and for Rust.
        Some(if (word >> (offsets.compat_bit & 63)) & 1 != 0 {
            offsets.compat_arch
        } else {
            offsets.native_arch
        })
    }
}

#[inline(always)]
fn read<T>(base: *const u8, offset: u32) -> Option<T> {
    if base.is_null() {
        return None;
    }
    // SAFETY: bpf_probe_read_kernel checks the address; a bad one yields an error, not a fault.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset as usize) as *const T) }.ok()
}
