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
use aya_ebpf::{macros::map, maps::LruHashMap};
use tracer_common::{
    CMDLINE_MAX_BYTES, EXE_MAX_BYTES, EXE_MAX_COMPONENTS, KernelOffsets, PATH_MAX_BYTES, PathArg,
    RawSeccompEvent, TAIL_ROOM, detail, details_level, stack,
};

use crate::task::{Current, constant};

/// Room for a copy of the task's `struct pt_regs` (x86-64: 168 bytes, arm64: 336).
const REGS_ROOM: usize = 512;

/// An event being put together: the header, the strings after it, and the caller's registers.
#[repr(C)]
pub struct Scratch {
    pub header: RawSeccompEvent,
    /// The strings; the masks below keep every write inside it for the verifier.
    pub tail: [u8; TAIL_ROOM],
    /// The user stack, where [`stack`] places it in the record: right after the tail.
    pub stack_ips: [u64; stack::MAX_FRAMES],
    /// The stack pointer, then the words at the stack top.
    pub stack_top: [u64; 1 + stack::TOP_WORDS],
    pub stack_build_ids: [u8; stack::BUILD_IDS_BYTES],
    regs: [u8; REGS_ROOM],
    /// What each step of the walk up from the executable found, file first.
    names: [u64; EXE_WALK_STEPS + 1],
    /// A process's strings as they go into [`PROCESS_STRINGS`].
    staging: ProcessStrings,
}

/// A process's executable and argv, kept so its later events copy them instead of walking the
/// dentries and reading its memory again: floods come from few processes, and the walk is most
/// of what an event's details cost. Keyed by thread-group id, and valid for the memory map they
/// were read from (an exec replaces it).
#[map]
static PROCESS_STRINGS: LruHashMap<u32, ProcessStrings> =
    LruHashMap::with_max_entries(PROCESS_STRINGS_CAPACITY, 0);

/// Processes whose strings are kept; the least recently seen are read again when they return.
const PROCESS_STRINGS_CAPACITY: u32 = 2048;
/// Room for the exe section (up to 255 bytes) and argv at any offset after it (up to 511).
const STRINGS_ROOM: usize = 768;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ProcessStrings {
    /// `task->mm` when they were read.
    mm: u64,
    exe_len: u16,
    cmdline_len: u16,
    /// The [`detail`] flags of exe and argv.
    details: u16,
    _padding: u16,
    /// The exe section, then argv, as they go after an event's path.
    bytes: [u8; STRINGS_ROOM],
}

/// The [`detail`] flags that belong to a process's strings.
const STRING_DETAILS: u16 =
    detail::EXE | detail::EXE_TRUNCATED | detail::CMDLINE | detail::CMDLINE_TRUNCATED;

/// Steps of the walk up from the executable: a directory or a mount point each.
const EXE_WALK_STEPS: usize = EXE_MAX_COMPONENTS + 8;
/// Slots of `names` that hold no name: the walk ended, or crossed a mount point. Kernel
/// addresses are never this small.
const END: u64 = 0;
const MOUNT_STEP: u64 = 1;

impl Scratch {
    /// Bytes of header and strings, and of the stack where there is one: the part that goes
    /// to userspace.
    #[inline(always)]
    pub fn len(&self) -> usize {
        let h = &self.header;
        if h.stack_ips != 0 || h.stack_build_ids != 0 {
            let build_ids = h.stack_build_ids as usize * stack::BUILD_ID_FRAME_BYTES;
            return stack::OFFSET
                + stack::BUILD_IDS_AT
                + masked::<{ stack::BUILD_IDS_BYTES * 2 - 1 }>(build_ids)
                    .min(stack::BUILD_IDS_BYTES);
        }
        let strings = h.path_len as usize + h.exe_len as usize + h.cmdline_len as usize;
        size_of::<RawSeccompEvent>() + masked::<{ TAIL_ROOM - 1 }>(strings)
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
    h.stack_ips = 0;
    h.stack_build_ids = 0;
    h.stack_top_words = 0;
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
    process_strings(scratch, task, offsets);
}

/// The executable and argv after the path: copied from what was kept of the process, or read
/// and kept.
#[inline(always)]
fn process_strings(scratch: &mut Scratch, task: &Current, offsets: &KernelOffsets) {
    let tgid = scratch.header.pid;
    let mm = task.mm_address(offsets).unwrap_or(0);
    let at = masked::<{ PATH_MAX_BYTES - 1 }>(scratch.header.path_len as usize);
    if mm != 0
        && let Some(kept) = PROCESS_STRINGS.get_ptr(tgid)
    {
        // SAFETY: a map value stays valid while the program runs; it is only read here.
        let kept = unsafe { &*kept };
        if kept.mm == mm {
            let len = masked::<{ 2 * CMDLINE_MAX_BYTES - 1 }>(
                kept.exe_len as usize + kept.cmdline_len as usize,
            );
            // SAFETY: `len` bytes from the kept value into the tail after the path, both
            // bounded by the masks.
            let copied = unsafe {
                bpf_probe_read_kernel(
                    scratch.tail.as_mut_ptr().add(at).cast(),
                    len as u32,
                    kept.bytes.as_ptr().cast(),
                )
            };
            if copied == 0 {
                let h = &mut scratch.header;
                h.exe_len = kept.exe_len;
                h.cmdline_len = kept.cmdline_len;
                h.details |= kept.details & STRING_DETAILS;
                return;
            }
        }
    }
    read_exe(scratch, task, offsets);
    read_cmdline(scratch, task, offsets);
    if mm == 0 {
        return;
    }
    let h = &scratch.header;
    let len = masked::<{ 2 * CMDLINE_MAX_BYTES - 1 }>(h.exe_len as usize + h.cmdline_len as usize);
    let staging = &mut scratch.staging;
    staging.mm = mm;
    staging.exe_len = h.exe_len;
    staging.cmdline_len = h.cmdline_len;
    staging.details = h.details & STRING_DETAILS;
    // SAFETY: `len` bytes from the tail after the path into the staging room, both bounded.
    let copied = unsafe {
        bpf_probe_read_kernel(
            staging.bytes.as_mut_ptr().cast(),
            len as u32,
            scratch.tail.as_ptr().add(at).cast(),
        )
    };
    if copied == 0 {
        let _ = PROCESS_STRINGS.insert(tgid, &scratch.staging, 0);
    }
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

/// The task's user stack pointer, from its saved user registers.
#[inline(always)]
pub fn user_sp(task: &Current, offsets: &KernelOffsets) -> Option<u64> {
    if constant(&offsets.regs_size) == 0 {
        return None;
    }
    // SAFETY: as in `read_registers`, for one word.
    unsafe {
        let regs = bpf_task_pt_regs(task.as_ptr() as *mut _) as *const u8;
        kernel::<u64>(regs.wrapping_add(constant(&offsets.regs_sp) as usize))
    }
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
///
/// In two passes, so that the verifier's work grows with the depth, not exponentially: the walk
/// up, whose branches (a directory or a mount point) differ only in kernel pointers, then the
/// copies of the names, which are straight-line.
#[inline(always)]
fn read_exe(scratch: &mut Scratch, task: &Current, offsets: &KernelOffsets) {
    let Some(file) = task.exe_file(offsets) else {
        return;
    };
    let f_path = file.wrapping_add(constant(&offsets.file_f_path) as usize);
    // SAFETY (this function): each read is of one kernel word, checked by the helper.
    let (Some(mut vfsmount), Some(mut dentry)) = (unsafe {
        (
            kernel::<u64>(f_path.wrapping_add(constant(&offsets.path_mnt) as usize)),
            kernel::<u64>(f_path.wrapping_add(constant(&offsets.path_dentry) as usize)),
        )
    }) else {
        return;
    };
    // Each step writes its slot: a name, MOUNT_STEP for a mount point crossed, END once the
    // walk is over. The loop always runs every step, and leaves by one way only: the states
    // of a walk that ended early are then one state for the verifier after it, instead of
    // one per step and reason it could have ended at.
    let mut complete = false;
    let mut done = false;
    for step in 0..EXE_WALK_STEPS {
        scratch.names[step] = END;
        if done {
            continue;
        }
        let (next_dentry, next_vfsmount, found) = walk_step(dentry, vfsmount, offsets);
        match found {
            Step::Name(name) => scratch.names[step] = name,
            Step::Mount => scratch.names[step] = MOUNT_STEP,
            Step::Root => {
                complete = true;
                done = true;
            }
            Step::Unreadable => done = true,
        }
        dentry = next_dentry;
        vfsmount = next_vfsmount;
    }
    let start = scratch.header.path_len as usize;
    let mut used: usize = 0;
    let mut all_copied = true;
    for i in 0..EXE_WALK_STEPS {
        let name = scratch.names[i];
        if name == END {
            break;
        }
        if name == MOUNT_STEP {
            continue;
        }
        // What is left of the section, which is at most EXE_MAX_BYTES - 1 long so that its
        // length fits the mask.
        let room = masked::<{ EXE_MAX_BYTES - 1 }>((EXE_MAX_BYTES - 1).saturating_sub(used));
        if room == 0 {
            all_copied = false;
            break;
        }
        let to = masked::<{ PATH_MAX_BYTES + EXE_MAX_BYTES - 1 }>(start + used);
        // SAFETY: at most `room` bytes at `to`, both masked to stay in the tail.
        let n = unsafe {
            bpf_probe_read_kernel_str(
                scratch.tail.as_mut_ptr().add(to).cast(),
                room as u32,
                name as *const _,
            )
        };
        // A name that filled the room may have been cut: the path is then incomplete.
        if n <= 0 || n as usize >= room {
            all_copied = false;
            break;
        }
        // Below the room, so the mask changes nothing; it gives every path through the loop
        // the same bounds, which lets the verifier merge them instead of following each.
        used = masked::<{ EXE_MAX_BYTES - 1 }>(used + n as usize);
    }
    if used == 0 && !(complete && all_copied) {
        return;
    }
    let h = &mut scratch.header;
    h.exe_len = (used & (EXE_MAX_BYTES - 1)) as u16;
    h.details |= detail::EXE;
    if !complete || !all_copied {
        h.details |= detail::EXE_TRUNCATED;
    }
}

/// What one step up from a dentry found.
enum Step {
    /// The dentry's name: the step went to its parent.
    Name(u64),
    /// A mount point: the step went to the dentry it is mounted on.
    Mount,
    /// The root of the task's mount namespace (or of a detached tree): the path is complete.
    Root,
    Unreadable,
}

/// One step up from `dentry` in `vfsmount`: where it leads, and what it found there.
#[inline(always)]
fn walk_step(dentry: u64, vfsmount: u64, offsets: &KernelOffsets) -> (u64, u64, Step) {
    let at = |base: u64, offset: &u32| (base as usize + constant(offset) as usize) as *const u8;
    let unreadable = (dentry, vfsmount, Step::Unreadable);
    // SAFETY (this function): each read is of one kernel word, checked by the helper.
    let Some(root) = (unsafe { kernel::<u64>(at(vfsmount, &offsets.vfsmount_mnt_root)) }) else {
        return unreadable;
    };
    if dentry == root {
        // The top of this mount: carry on from where it is mounted, unless it is the root of
        // the namespace (its own parent).
        let mount = vfsmount.wrapping_sub(u64::from(constant(&offsets.mount_mnt)));
        let (Some(parent), Some(mountpoint)) = (unsafe {
            (
                kernel::<u64>(at(mount, &offsets.mount_mnt_parent)),
                kernel::<u64>(at(mount, &offsets.mount_mnt_mountpoint)),
            )
        }) else {
            return unreadable;
        };
        if parent == mount || parent == 0 {
            return (dentry, vfsmount, Step::Root);
        }
        let parent_vfsmount = parent.wrapping_add(u64::from(constant(&offsets.mount_mnt)));
        return (mountpoint, parent_vfsmount, Step::Mount);
    }
    let (Some(parent), Some(name)) = (unsafe {
        (
            kernel::<u64>(at(dentry, &offsets.dentry_d_parent)),
            kernel::<u64>(at(dentry, &offsets.dentry_d_name)),
        )
    }) else {
        return unreadable;
    };
    if parent == dentry {
        // A dentry that is its own parent outside a mount root: a detached tree.
        return (dentry, vfsmount, Step::Root);
    }
    (parent, vfsmount, Step::Name(name))
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
        masked::<{ PATH_MAX_BYTES + EXE_MAX_BYTES - 1 }>(h.path_len as usize + h.exe_len as usize);
    let len = masked::<{ 2 * CMDLINE_MAX_BYTES - 1 }>(len);
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

/// `value & MASK`, computed by the program whatever the compiler proves: a mask the compiler
/// knows to change nothing would be dropped, and older verifiers (Linux 6.1's), which cannot
/// prove the same, refuse a helper's size or offset whose bounds they lost. Written as an
/// instruction, not through memory: a value that went through the stack would differ between
/// the paths of a loop and keep the verifier from merging them.
#[inline(always)]
fn masked<const MASK: usize>(value: usize) -> usize {
    let mut value = value;
    // SAFETY: one ALU instruction on a register.
    unsafe {
        core::arch::asm!(
            "{value} &= {mask}",
            value = inout(reg) value,
            mask = const MASK,
            options(pure, nomem, nostack)
        );
    }
    value
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
