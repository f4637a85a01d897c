//! Why a call failed: the caller's registers, its ids as its container numbers them, its parent,
//! the path it passed, its executable and argv, read while the caller still runs.
//!
//! A killed process is gone by the time userspace reads its event, and the kernel's audit record
//! drops the errno, so everything here is read in the kernel program, in the caller's context.
//! Structures that are walked (dentries, mounts, pids) are read with `bpf_probe_read_kernel`:
//! their pointers are followed backwards (`container_of`) or indexed, which the verifier's typed
//! loads do not allow.

use aya_ebpf::helpers::generated::{
    bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user, bpf_probe_read_user_str,
    bpf_task_pt_regs,
};
use tracer_common::{
    CMDLINE_MAX_BYTES, EXE_MAX_BYTES, EXE_MAX_COMPONENTS, KernelOffsets, PATH_MAX_BYTES, PathArg,
    RawSeccompEvent, detail, details_level,
};

use crate::task::{Current, constant};

/// Room for the strings after the header: each section starts below the sum of the bounds
/// before it, and the masks below keep every write inside this buffer for the verifier.
pub const TAIL_ROOM: usize = 1024;
/// Room for a copy of the task's `struct pt_regs` (x86-64: 168 bytes, arm64: 336).
const REGS_ROOM: usize = 512;

/// An event being put together: the header, the strings after it, and the caller's registers.
#[repr(C)]
pub struct Scratch {
    pub header: RawSeccompEvent,
    pub tail: [u8; TAIL_ROOM],
    regs: [u8; REGS_ROOM],
}

impl Scratch {
    /// Bytes of header and strings, the part that goes to userspace.
    #[inline(always)]
    pub fn len(&self) -> usize {
        let h = &self.header;
        let strings = h.path_len as usize + h.exe_len as usize + h.cmdline_len as usize;
        size_of::<RawSeccompEvent>() + (opaque(strings) & (TAIL_ROOM - 1))
    }
}

/// Reads the details `level` asks for into `scratch`. `path_arg` says which argument is a path,
/// for calls that take one.
#[inline(always)]
pub fn fill(
    scratch: &mut Scratch,
    task: &Current,
    offsets: &KernelOffsets,
    level: u32,
    path_arg: Option<PathArg>,
) {
    let h = &mut scratch.header;
    h.path_len = 0;
    h.exe_len = 0;
    h.cmdline_len = 0;
    h.details = 0;
    if level == details_level::NONE {
        return;
    }
    if let Some(comm) = task.parent_comm(offsets) {
        h.parent_comm = comm;
        h.details |= detail::PARENT_COMM;
    }
    if let Some((pid, ppid)) = ns_pids(task, offsets) {
        h.ns_pid = pid;
        h.ns_ppid = ppid;
        h.details |= detail::NS_PIDS;
    }
    let compat = h.arch != 0 && h.arch == constant(&offsets.compat_arch);
    if !read_registers(scratch, task, offsets, compat) {
        return;
    }
    if level < details_level::ALL {
        return;
    }
    if let Some(arg) = path_arg {
        read_path(scratch, arg);
    }
    read_exe(scratch, task, offsets);
    read_cmdline(scratch, task, offsets);
}

/// Copies the task's saved user registers and picks the call's arguments, return value and ip
/// from them; `false` where they could not be read.
#[inline(always)]
fn read_registers(
    scratch: &mut Scratch,
    task: &Current,
    offsets: &KernelOffsets,
    compat: bool,
) -> bool {
    let size = constant(&offsets.regs_size) as usize;
    if size == 0 || size > REGS_ROOM {
        return false;
    }
    // SAFETY: the helper returns the task's saved user registers; the copy is bounded by the
    // buffer, and a failed read is reported, not used.
    let copied = unsafe {
        let regs = bpf_task_pt_regs(task.as_ptr() as *mut _) as *const core::ffi::c_void;
        bpf_probe_read_kernel(scratch.regs.as_mut_ptr().cast(), size as u32, regs)
    };
    if copied != 0 {
        return false;
    }
    let regs = &scratch.regs;
    let h = &mut scratch.header;
    let slots = if compat {
        &offsets.regs_compat_args
    } else {
        &offsets.regs_args
    };
    for (arg, slot) in h.args.iter_mut().zip(slots) {
        *arg = word(regs, constant(slot));
    }
    if compat {
        // A 32-bit task's registers hold 32-bit values: its upper halves are not its own.
        for arg in h.args.iter_mut() {
            *arg &= 0xffff_ffff;
        }
    }
    h.ip = word(regs, constant(&offsets.regs_ip));
    h.ret = word(regs, constant(&offsets.regs_ret)) as i64;
    if compat {
        h.ret = h.ret as i32 as i64;
    }
    h.details |= detail::ARGS | detail::RET;
    true
}

/// The 8 bytes at `offset` in the copied registers.
#[inline(always)]
fn word(regs: &[u8; REGS_ROOM], offset: u32) -> u64 {
    let at = (offset as usize) & (REGS_ROOM - 8) & !7;
    // SAFETY: the mask keeps the 8 bytes inside the buffer.
    unsafe { core::ptr::read_unaligned(regs.as_ptr().add(at).cast::<u64>()) }
}

/// The number the kernel saved for the call in progress, from the task's user registers.
#[inline(always)]
pub fn syscall_nr(task: &Current, offsets: &KernelOffsets) -> Option<u32> {
    if constant(&offsets.regs_size) == 0 {
        return None;
    }
    // SAFETY: as in `read_registers`, for one word.
    let nr = unsafe {
        let regs = bpf_task_pt_regs(task.as_ptr() as *mut _) as *const u8;
        kernel::<u64>(regs.wrapping_add(constant(&offsets.regs_nr) as usize))?
    };
    Some(nr as u32)
}

/// The path argument, cut at [`PATH_MAX_BYTES`] - 1 bytes, and the directory it is relative to.
#[inline(always)]
fn read_path(scratch: &mut Scratch, arg: PathArg) {
    let h = &mut scratch.header;
    let pointer = h.args[(arg.path & 7) as usize % 6];
    if pointer == 0 {
        return;
    }
    // SAFETY: reads at most PATH_MAX_BYTES of the caller's memory into the tail's first
    // section; a fault ends the read with an error.
    let n = unsafe {
        bpf_probe_read_user_str(
            scratch.tail.as_mut_ptr().cast(),
            PATH_MAX_BYTES as u32,
            pointer as *const _,
        )
    };
    if n <= 0 {
        return;
    }
    let len = (n as usize - 1) & (PATH_MAX_BYTES - 1);
    h.path_len = len as u16;
    h.details |= detail::PATH;
    if len == PATH_MAX_BYTES - 1 {
        // The read stops at the bound whether or not the string does: one more byte tells.
        // SAFETY: one byte of the caller's memory, right after what was read.
        let next = unsafe { user::<u8>((pointer as *const u8).wrapping_add(len)) };
        if next != Some(0) {
            h.details |= detail::PATH_TRUNCATED;
        }
    }
    if arg.dirfd != PathArg::NO_DIRFD && scratch.tail[0] != b'/' {
        h.dirfd = h.args[(arg.dirfd & 7) as usize % 6] as i32;
        h.details |= detail::DIRFD;
    }
}

/// The executable's path, as `d_path` would give it from the task's root: its components from
/// the file up, crossing mount points, each NUL-terminated.
#[inline(always)]
fn read_exe(scratch: &mut Scratch, task: &Current, offsets: &KernelOffsets) {
    let Some(file) = task.exe_file(offsets) else {
        return;
    };
    let f_path = file.wrapping_add(constant(&offsets.file_f_path) as usize);
    // SAFETY (this block): each read is of one kernel word, checked by the helper.
    let (Some(mut vfsmount), Some(mut dentry)) = (unsafe {
        (
            kernel::<*const u8>(f_path.wrapping_add(constant(&offsets.path_mnt) as usize)),
            kernel::<*const u8>(f_path.wrapping_add(constant(&offsets.path_dentry) as usize)),
        )
    }) else {
        return;
    };
    let start = scratch.header.path_len as usize;
    let mut used: usize = 0;
    let mut complete = false;
    for _ in 0..EXE_MAX_COMPONENTS {
        let Some(root) = (unsafe {
            kernel::<*const u8>(
                vfsmount.wrapping_add(constant(&offsets.vfsmount_mnt_root) as usize),
            )
        }) else {
            break;
        };
        if dentry == root {
            // The top of this mount: carry on from where it is mounted, unless it is the root
            // of the namespace (its own parent).
            let mount = vfsmount.wrapping_sub(constant(&offsets.mount_mnt) as usize);
            let Some(parent) = (unsafe {
                kernel::<*const u8>(
                    mount.wrapping_add(constant(&offsets.mount_mnt_parent) as usize),
                )
            }) else {
                break;
            };
            if parent == mount || parent.is_null() {
                complete = true;
                break;
            }
            let Some(mountpoint) = (unsafe {
                kernel::<*const u8>(
                    mount.wrapping_add(constant(&offsets.mount_mnt_mountpoint) as usize),
                )
            }) else {
                break;
            };
            dentry = mountpoint;
            vfsmount = parent.wrapping_add(constant(&offsets.mount_mnt) as usize);
            continue;
        }
        let Some(parent) = (unsafe {
            kernel::<*const u8>(dentry.wrapping_add(constant(&offsets.dentry_d_parent) as usize))
        }) else {
            break;
        };
        if parent == dentry {
            // A dentry that is its own parent outside a mount root: a detached tree.
            complete = true;
            break;
        }
        let Some(name) = (unsafe {
            kernel::<*const u8>(dentry.wrapping_add(constant(&offsets.dentry_d_name) as usize))
        }) else {
            break;
        };
        // What is left of the section, which is at most EXE_MAX_BYTES - 1 long so that its
        // length fits the mask.
        let room = opaque((EXE_MAX_BYTES - 1).saturating_sub(used)) & (EXE_MAX_BYTES - 1);
        if room == 0 {
            break;
        }
        let at = opaque(start + used) & (PATH_MAX_BYTES + EXE_MAX_BYTES - 1);
        // SAFETY: at most `room` bytes at `at`, both masked to stay in the tail.
        let n = unsafe {
            bpf_probe_read_kernel_str(
                scratch.tail.as_mut_ptr().add(at).cast(),
                room as u32,
                name.cast(),
            )
        };
        // A name that filled the room may have been cut: the path is then incomplete.
        if n <= 0 || n as usize >= room {
            break;
        }
        used += n as usize;
        dentry = parent;
    }
    if used == 0 && !complete {
        return;
    }
    let h = &mut scratch.header;
    h.exe_len = (used & (EXE_MAX_BYTES - 1)) as u16;
    h.details |= detail::EXE;
    if !complete {
        h.details |= detail::EXE_TRUNCATED;
    }
}

/// The task's argv as `/proc/PID/cmdline` gives it, cut at [`CMDLINE_MAX_BYTES`].
#[inline(always)]
fn read_cmdline(scratch: &mut Scratch, task: &Current, offsets: &KernelOffsets) {
    let Some((start, end)) = task.arg_range(offsets) else {
        return;
    };
    if end <= start {
        return;
    }
    let total = end - start;
    let len = if total > CMDLINE_MAX_BYTES as u64 {
        CMDLINE_MAX_BYTES
    } else {
        total as usize
    };
    let h = &mut scratch.header;
    let at =
        opaque(h.path_len as usize + h.exe_len as usize) & (PATH_MAX_BYTES + EXE_MAX_BYTES - 1);
    let len = opaque(len) & (2 * CMDLINE_MAX_BYTES - 1);
    // SAFETY: at most CMDLINE_MAX_BYTES at an offset masked to stay in the tail.
    let read = unsafe {
        bpf_probe_read_user(
            scratch.tail.as_mut_ptr().add(at).cast(),
            len as u32,
            start as *const _,
        )
    };
    if read != 0 {
        return;
    }
    h.cmdline_len = len as u16;
    h.details |= detail::CMDLINE;
    if total > CMDLINE_MAX_BYTES as u64 {
        h.details |= detail::CMDLINE_TRUNCATED;
    }
}

/// The ids of the caller's process and its parent in the caller's own pid namespace.
#[inline(always)]
fn ns_pids(task: &Current, offsets: &KernelOffsets) -> Option<(u32, u32)> {
    let (pid, level) = task.leader_pid(offsets)?;
    let ns_pid = pid_nr_at(pid, level, offsets)?;
    let ns_ppid = match task.parent_leader_pid(offsets) {
        // A parent outside the caller's namespace has no number in it, as the caller's
        // `getppid()` would say.
        Some((parent, parent_level)) if parent_level >= level => {
            pid_nr_at(parent, level, offsets).unwrap_or(0)
        }
        _ => 0,
    };
    Some((ns_pid, ns_ppid))
}

/// `pid->numbers[level].nr`
#[inline(always)]
fn pid_nr_at(pid: *const u8, level: u32, offsets: &KernelOffsets) -> Option<u32> {
    // Pid namespaces nest at most 32 deep (MAX_PID_NS_LEVEL). The mask bounds the product for
    // verifiers (Linux 6.1's) that lose the bounds of a multiplication.
    let level = (level & 31) as usize;
    let entry = (level * constant(&offsets.upid_size) as usize) & 0xfff;
    let at = constant(&offsets.pid_numbers) as usize + entry + constant(&offsets.upid_nr) as usize;
    // SAFETY: one kernel word, checked by the helper.
    unsafe { kernel::<u32>(pid.wrapping_add(at)) }
}

/// `value`, hidden from the compiler: a mask applied to it stays in the program even where the
/// compiler can prove it changes nothing, because older verifiers (Linux 6.1's) cannot, and
/// refuse a helper's size or offset whose bounds they lost.
#[inline(always)]
fn opaque(value: usize) -> usize {
    // SAFETY: a read of a local.
    unsafe { core::ptr::read_volatile(&value) }
}

/// A `T` at `at` in kernel memory, `None` when the read faults.
#[inline(always)]
pub unsafe fn kernel<T: Copy>(at: *const u8) -> Option<T> {
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: the helper writes exactly size_of::<T>() bytes or fails.
    let failed = unsafe {
        bpf_probe_read_kernel(value.as_mut_ptr().cast(), size_of::<T>() as u32, at.cast())
    };
    // SAFETY: on success every byte was written.
    (failed == 0).then(|| unsafe { value.assume_init() })
}

/// A `T` at `at` in the caller's memory, `None` when the read faults.
#[inline(always)]
unsafe fn user<T: Copy>(at: *const u8) -> Option<T> {
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: as in `kernel`.
    let failed =
        unsafe { bpf_probe_read_user(value.as_mut_ptr().cast(), size_of::<T>() as u32, at.cast()) };
    // SAFETY: on success every byte was written.
    (failed == 0).then(|| unsafe { value.assume_init() })
}
