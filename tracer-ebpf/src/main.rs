//! Kernel side of tracer: one event per call to `audit_seccomp`, the function through which the
//! kernel audits a system call that seccomp logged, refused or killed.
//!
//! fentry is preferred (cheapest, typed arguments); kprobe serves kernels without trampolines.
//! Both share [`record`], so the two hooks cannot drift apart.
#![no_std]
#![no_main]
// Inline assembly keeps the masks the verifier needs (details.rs, `masked`).
#![feature(asm_experimental_arch)]

mod denials;
mod details;
mod recorder;
mod stack;
mod task;

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, BPF_RB_RING_SIZE},
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        generated::{bpf_get_current_cgroup_id, bpf_ktime_get_boot_ns},
    },
    macros::{fentry, kprobe, map, raw_tracepoint},
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
    programs::{FEntryContext, ProbeContext, RawTracePointContext},
};
use details::Scratch;
use tracer_common::{
    DEFAULT_RING_BUFFER_BYTES, EXITED_CAPACITY, ExitedTask, KernelOffsets, MNTNS_DROP_CAPACITY,
    PATH_ARGS_CAPACITY, PathArg, Settings, details_level, path_arg_slot, read_error, seccomp_ret,
    source, stack_level,
};

/// Events for userspace. Its size is set by userspace before load (`--ring-buffer-size`).
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(DEFAULT_RING_BUFFER_BYTES, 0);

/// Events that found the ring buffer full, counted per CPU so the count is exact without atomics.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Mount namespaces whose events userspace does not want (the host's without `--host`, other
/// containers' with `-c`): dropped here, before they cost a ring buffer slot.
#[map]
pub(crate) static MNTNS_DROP: HashMap<u32, u8> = HashMap::with_max_entries(MNTNS_DROP_CAPACITY, 0);

/// Processes that exited recently, by process id: attached only where events come from the
/// kernel's audit records, which may be read after the process is gone.
#[map]
static EXITED: LruHashMap<u32, ExitedTask> = LruHashMap::with_max_entries(EXITED_CAPACITY, 0);

/// Filled in by userspace from the running kernel's BTF before load.
#[unsafe(no_mangle)]
// SAFETY: KernelOffsets is plain integers; all zeroes claim no architecture and no registers.
pub(crate) static OFFSETS: KernelOffsets = unsafe { core::mem::zeroed() };

/// Filled in by userspace before load.
#[unsafe(no_mangle)]
static SETTINGS: Settings = Settings {
    details: details_level::ALL,
    all_denials: 0,
    stack: stack_level::NONE,
};

/// Which argument of which call is a path; filled in by userspace before attaching.
#[map]
static PATH_ARGS: Array<PathArg> = Array::with_max_entries(PATH_ARGS_CAPACITY, 0);

/// Where an event is put together before it is copied out: too large for the stack, and only
/// its used part goes to the ring buffer.
#[map]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

// `void audit_seccomp(unsigned long syscall, long signr, int code)`
#[fentry(function = "audit_seccomp")]
pub fn seccomp_fentry(ctx: FEntryContext) -> u32 {
    let syscall: u64 = ctx.arg(0);
    let signr: i64 = ctx.arg(1);
    let code: u32 = ctx.arg(2);
    record(syscall, signr, code, source::FENTRY);
    0
}

#[kprobe]
pub fn seccomp_kprobe(ctx: ProbeContext) -> u32 {
    let (Some(syscall), Some(signr), Some(code)) =
        (ctx.arg::<u64>(0), ctx.arg::<i64>(1), ctx.arg::<u32>(2))
    else {
        aya_log_ebpf::warn!(&ctx, "audit_seccomp: arguments unreadable");
        return 0;
    };
    record(syscall, signr, code, source::KPROBE);
    0
}

/// `sched_process_exit` runs before the task drops its namespaces, so its mount namespace can
/// still be read here. A raw tracepoint needs neither tracefs nor BTF of the event.
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn task_exit(_ctx: RawTracePointContext) -> i32 {
    let task = task::Current::new();
    denials::report_kill(&task);
    let pid_tgid = bpf_get_current_pid_tgid();
    // Only the whole process's end matters: its threads share its namespaces.
    if pid_tgid >> 32 != pid_tgid & 0xffff_ffff {
        return 0;
    }
    let Some(mntns_id) = task.mnt_ns_inum(&OFFSETS) else {
        return 0;
    };
    let exited = ExitedTask {
        // SAFETY: both helpers take no arguments and cannot fail.
        exited_boot_ns: unsafe { bpf_ktime_get_boot_ns() },
        cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        mntns_id,
        ppid: task.parent_tgid(&OFFSETS).unwrap_or(0),
    };
    let _ = EXITED.insert((pid_tgid >> 32) as u32, exited, 0);
    0
}

#[inline(always)]
fn record(syscall: u64, signr: i64, code: u32, source: u32) {
    let task = task::Current::new();
    let mntns = task.mnt_ns_inum(&OFFSETS);
    // SAFETY: the value is a plain integer, copied out at once.
    if let Some(ns) = mntns
        && unsafe { MNTNS_DROP.get(ns) }.is_some()
    {
        return;
    }
    if task::constant(&SETTINGS.all_denials) != 0 {
        denials::mark_audited();
    }
    // x32 numbers carry bit 30 and still fit; every table's numbers are far below 2^32.
    emit(&task, mntns, syscall as u32, code, signr as i32, source);
}

/// Puts an event together in the scratch room and copies what it uses to the ring buffer.
#[inline(always)]
pub(crate) fn emit(
    task: &task::Current,
    mntns: Option<u32>,
    syscall_nr: u32,
    code: u32,
    signal: i32,
    source: u32,
) {
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else {
        count_lost();
        return;
    };
    // SAFETY: a per-CPU slot is only touched by programs on this CPU, and tracing programs do
    // not nest on one CPU.
    let scratch = unsafe { &mut *scratch };
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    let mut read_errors = 0;
    let ppid = task.parent_tgid(&OFFSETS).unwrap_or_else(|| {
        read_errors |= read_error::PPID;
        0
    });
    let mntns_id = mntns.unwrap_or_else(|| {
        read_errors |= read_error::MNTNS;
        0
    });
    // No guess at the native arch: a compat call decoded with the native table would name
    // the wrong system call.
    let arch = task.syscall_arch(&OFFSETS).unwrap_or_else(|| {
        read_errors |= read_error::ARCH;
        0
    });
    let comm = bpf_get_current_comm().unwrap_or_else(|_| {
        read_errors |= read_error::COMM;
        [0; 16]
    });
    let h = &mut scratch.header;
    // SAFETY: both helpers take no arguments and cannot fail.
    h.boot_ns = unsafe { bpf_ktime_get_boot_ns() };
    h.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    h.pid = (pid_tgid >> 32) as u32;
    h.tid = pid_tgid as u32;
    h.ppid = ppid;
    h.uid = uid_gid as u32;
    h.gid = (uid_gid >> 32) as u32;
    h.mntns_id = mntns_id;
    h.syscall_nr = syscall_nr;
    h.arch = arch;
    h.code = code;
    h.signal = signal;
    h.source = source;
    h.read_errors = read_errors;
    h.comm = comm;
    // SAFETY: the value is plain data, copied out at once.
    let compat = arch != 0 && arch == task::constant(&OFFSETS.compat_arch);
    let path_arg = path_arg_slot(compat, syscall_nr)
        .and_then(|slot| PATH_ARGS.get(slot))
        .copied()
        .filter(|arg| arg.present != 0);
    details::fill(
        scratch,
        task,
        &OFFSETS,
        task::constant(&SETTINGS.details),
        path_arg,
    );
    if stack::wanted(task::constant(&SETTINGS.stack), code) {
        stack::capture(scratch, task);
    }
    let len = scratch.len();
    // SAFETY: `len` bytes from the start of the scratch room: the header and the strings
    // written after it, bounded by the room's size.
    let used =
        unsafe { core::slice::from_raw_parts((scratch as *const Scratch).cast::<u8>(), len) };
    if EVENTS.output::<[u8]>(used, wake_up(code)).is_err() {
        count_lost();
    }
}

/// A flood of logged calls wakes the reader once this share of the buffer waits.
const WAKE_UP_SHARE: u64 = 8;

/// Whether to wake the reader for this event. Logged calls come in floods, and waking the reader
/// for each was most of what a logged call costs with tracer attached (measured under qemu):
/// they wake it only once an eighth of the buffer waits, and the reader looks on its own every
/// few milliseconds for the rest. Every other action is rare and wanted at once: the kernel's
/// default wakes the reader when it has caught up.
#[inline(always)]
fn wake_up(code: u32) -> u64 {
    if code & seccomp_ret::ACTION_MASK != seccomp_ret::LOG {
        return 0;
    }
    let waiting = EVENTS.query(u64::from(BPF_RB_AVAIL_DATA));
    let size = EVENTS.query(u64::from(BPF_RB_RING_SIZE));
    if waiting >= size / WAKE_UP_SHARE {
        u64::from(BPF_RB_FORCE_WAKEUP)
    } else {
        u64::from(BPF_RB_NO_WAKEUP)
    }
}

#[inline(always)]
fn count_lost() {
    if let Some(counter) = LOST.get_ptr_mut(0) {
        // SAFETY: a per-CPU slot is only touched by programs on this CPU, and tracing programs
        // do not nest on one CPU (the kernel's recursion guard), so a plain add is exact.
        unsafe { *counter += 1 };
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
