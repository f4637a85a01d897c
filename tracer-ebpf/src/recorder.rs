//! `tracer profile record`: counts every system call per mount namespace and arch, in the kernel.
//!
//! A profile needs which calls a workload makes, not each call: so nothing goes to userspace
//! per call, and userspace reads the counts once, when the recording stops.

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_NOEXIST},
    helpers::{bpf_get_current_pid_tgid, generated::bpf_ktime_get_boot_ns},
    macros::{map, raw_tracepoint},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::RawTracePointContext,
};
use tracer_common::{FirstCall, RecordKey, RecordedCalls, recorder, seccomp_mode};

use crate::{MNTNS_DROP, OFFSETS, task::Current};

/// The counts. Not preallocated: each entry is 16 KiB, and only namespaces that make calls
/// need one.
#[map]
static RECORDED_CALLS: HashMap<RecordKey, RecordedCalls> =
    HashMap::with_max_entries(recorder::CAPACITY, BPF_F_NO_PREALLOC);

/// A zeroed entry to insert from: an entry is too large for the program's stack.
#[map]
static EMPTY_RECORD: Array<RecordedCalls> = Array::with_max_entries(1, 0);

/// A key's first call, for userspace to name its container while the caller runs. Room for
/// thousands: userspace reads them within milliseconds.
#[map]
static FIRST_CALLS: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);

/// Calls not counted because the map was full, per CPU.
#[map]
static RECORDER_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

// `sys_enter(struct pt_regs *regs, long id)`: after seccomp allowed or logged the call, so a
// call the running profile refuses is not counted (record under a profile that logs).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn record_syscall(ctx: RawTracePointContext) -> i32 {
    let task = Current::new();
    let Some(mntns_id) = task.mnt_ns_inum(&OFFSETS) else {
        return 0;
    };
    // The host's namespace, put there by userspace.
    // SAFETY: the value is a plain integer, copied out at once.
    if unsafe { MNTNS_DROP.get(mntns_id) }.is_some() {
        return 0;
    }
    let mut nr = ctx.arg::<u64>(1) as u32;
    let mut flags = 0;
    if task.seccomp_mode(&OFFSETS) == Some(seccomp_mode::FILTER) {
        flags |= recorder::CONFINED;
    }
    if nr & recorder::X32_SYSCALL_BIT != 0 {
        flags |= recorder::X32;
        nr &= !recorder::X32_SYSCALL_BIT;
    }
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let key = RecordKey {
        mntns_id,
        arch: task.syscall_arch(&OFFSETS).unwrap_or(0),
        flags,
        _padding: 0,
    };
    let Some(calls) = entry(&key, tgid) else {
        count_lost();
        return 0;
    };
    // SAFETY: `calls` points into a map value that stays valid while the program runs; the
    // counters are updated atomically, the rest is written whole (a race only picks one
    // caller's value).
    unsafe {
        // Written only when it changes: a store on every call would bounce the cache line
        // between the CPUs a container's threads run on.
        if (*calls).last_tgid != tgid {
            (*calls).last_tgid = tgid;
        }
        let slot = nr as usize;
        if slot >= recorder::SLOTS {
            add_one(&raw mut (*calls).beyond_table);
            return 0;
        }
        // The mask proves the index in range to the verifier.
        let slot = slot & (recorder::SLOTS - 1);
        if (*calls).first_seen_boot_ns[slot] == 0 {
            (*calls).first_seen_boot_ns[slot] = bpf_ktime_get_boot_ns();
        }
        add_one(&raw mut (*calls).counts[slot]);
    }
    0
}

/// The key's entry, created zeroed on its first call.
#[inline(always)]
fn entry(key: &RecordKey, tgid: u32) -> Option<*mut RecordedCalls> {
    if let Some(calls) = RECORDED_CALLS.get_ptr_mut(key) {
        return Some(calls);
    }
    let empty = EMPTY_RECORD.get(0)?;
    // Another CPU may have created it meanwhile: either way it exists afterwards, unless full,
    // and only the CPU that created it reports it.
    if RECORDED_CALLS
        .insert(key, empty, u64::from(BPF_NOEXIST))
        .is_ok()
    {
        let first = FirstCall {
            mntns_id: key.mntns_id,
            tgid,
        };
        // A full buffer loses only the early naming: userspace also looks at every key later.
        let _ = FIRST_CALLS.output::<FirstCall>(&first, 0);
    }
    RECORDED_CALLS.get_ptr_mut(key)
}

#[inline(always)]
fn count_lost() {
    if let Some(lost) = RECORDER_LOST.get_ptr_mut(0) {
        // SAFETY: this CPU's slot, which only this CPU writes.
        unsafe { *lost += 1 };
    }
}

/// Adds one to a counter other CPUs may add to at the same time. BPF's atomic add, written as
/// the instruction: Rust offers no atomic read-modify-write on the BPF target.
#[inline(always)]
unsafe fn add_one(counter: *mut u64) {
    // SAFETY: the caller passes a pointer into a map value.
    unsafe {
        core::arch::asm!(
            "lock *(u64 *)({counter} + 0) += {one}",
            counter = in(reg) counter,
            one = in(reg) 1u64,
            options(nostack)
        );
    }
}
