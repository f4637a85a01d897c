//! `--all-denials`: calls seccomp refused without auditing them.
//!
//! Where seccomp refuses a call, the kernel's `syscall_trace_enter` returns before
//! `trace_sys_enter`, but `raw_syscalls:sys_exit` still fires on the way out. So a thread that
//! leaves a call it was never seen entering had that call skipped. Only tasks under a seccomp
//! filter pay for the bookkeeping; ptrace (which can skip calls too) and syscall user dispatch
//! (which skips the exit tracepoint as well) are told apart. ERRNO refusals are told by their
//! return value, TRAP refusals by the SIGSYS they leave pending.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{map, raw_tracepoint},
    maps::{HashMap, LruHashMap},
    programs::RawTracePointContext,
};
use tracer_common::{
    IN_SYSCALL_CAPACITY, LOGGED_CALLS_CAPACITY, SIGSYS, call_key, seccomp_mode, seccomp_ret, source,
};

use crate::{MNTNS_DROP, OFFSETS, details, emit, task::Current};

/// Where each thread of a filtered task stands. LRU, so threads that are gone make room on
/// their own; a thread forgotten this way is only seen anew, never reported wrongly.
#[map]
static IN_SYSCALL: LruHashMap<u32, u8> = LruHashMap::with_max_entries(IN_SYSCALL_CAPACITY, 0);

/// (arch, system call) pairs, keyed by `call_key`, whose calls the audit source saw
/// logged: their entries are reported, for userspace to give a later logged call of the same
/// pair its details. Filled by userspace on the audit source only; empty, it costs each call
/// of a filtered task one lookup and reports nothing.
#[map]
static LOGGED_CALLS: HashMap<u64, u8> = HashMap::with_max_entries(LOGGED_CALLS_CAPACITY, 0);

/// Inside a call that went past seccomp.
const ENTERED: u8 = 1;
/// Between calls.
const RETURNED: u8 = 2;
/// Inside a call the audit hook reported: its refusal is not reported again.
const AUDITED: u8 = 3;

/// Largest errno a system call returns (`MAX_ERRNO`).
const MAX_ERRNO: i64 = 4095;

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn denials_enter(ctx: RawTracePointContext) -> i32 {
    let task = Current::new();
    if task.seccomp_mode(&OFFSETS) != Some(seccomp_mode::FILTER) {
        return 0;
    }
    set_state(bpf_get_current_pid_tgid() as u32, ENTERED);
    // `sys_enter(struct pt_regs *regs, long id)`
    let nr = ctx.arg::<u64>(1) as u32;
    let Some(arch) = task.syscall_arch(&OFFSETS) else {
        return 0;
    };
    // SAFETY: the value is a plain integer, copied out at once.
    if unsafe { LOGGED_CALLS.get(call_key(arch, nr)) }.is_none() {
        return 0;
    }
    let mntns = task.mnt_ns_inum(&OFFSETS);
    // SAFETY: as above.
    if let Some(ns) = mntns
        && unsafe { MNTNS_DROP.get(ns) }.is_some()
    {
        return 0;
    }
    // Only may it be a logged call: the filter may have allowed it without logging it, which
    // userspace decides by matching it with an audit record.
    emit(&task, mntns, nr, seccomp_ret::LOG, 0, source::SYSCALL_ENTER);
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn denials_exit(ctx: RawTracePointContext) -> i32 {
    let task = Current::new();
    if task.seccomp_mode(&OFFSETS) != Some(seccomp_mode::FILTER) {
        return 0;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: the value is a plain integer, copied out at once.
    let before = unsafe { IN_SYSCALL.get(tid) }.copied();
    set_state(tid, RETURNED);
    // Entered past seccomp, already reported, or the first exit seen of this thread (a call
    // that began before tracer attached, or a new thread's return from fork).
    if before != Some(RETURNED) {
        return 0;
    }
    if task.ptrace(&OFFSETS) != Some(0) {
        return 0;
    }
    // A TRAP refusal leaves the call's registers as they were (`syscall_rollback`), so its
    // return value says nothing; the SIGSYS it raised waits until the thread is back in user
    // mode. Anything else that skips a call without a tracer returns an errno.
    // No signal, as in the kernel's audit record of a trap (`sig=0`).
    let (action, signal) = if task.sigsys_pending(&OFFSETS) == Some(true) {
        (seccomp_ret::TRAP, 0)
    } else {
        // `sys_exit(struct pt_regs *regs, long ret)`
        let ret: i64 = ctx.arg(1);
        if !(-MAX_ERRNO..0).contains(&ret) {
            return 0;
        }
        (seccomp_ret::ERRNO | (-ret) as u32, 0)
    };
    let Some(nr) = details::syscall_nr(&task, &OFFSETS) else {
        return 0;
    };
    let mntns = task.mnt_ns_inum(&OFFSETS);
    // SAFETY: the value is a plain integer, copied out at once.
    if let Some(ns) = mntns
        && unsafe { MNTNS_DROP.get(ns) }.is_some()
    {
        return 0;
    }
    emit(&task, mntns, nr, action, signal, source::SYSCALL_EXIT);
    0
}

/// Called by the audit hooks: the call in progress is reported, its exit must not be.
#[inline(always)]
pub fn mark_audited() {
    let tid = bpf_get_current_pid_tgid() as u32;
    if let Some(state) = IN_SYSCALL.get_ptr_mut(tid) {
        // SAFETY: the entry belongs to this thread, which is running this program.
        unsafe { *state = AUDITED };
    }
}

#[inline(always)]
fn set_state(tid: u32, state: u8) {
    match IN_SYSCALL.get_ptr_mut(tid) {
        // SAFETY: as in `mark_audited`: only this thread writes its entry.
        Some(slot) => unsafe { *slot = state },
        None => {
            let _ = IN_SYSCALL.insert(tid, state, 0);
        }
    }
}

/// The details of a thread seccomp killed, as it exits: the audit source's record of the kill
/// has no arguments, and the process is gone by the time userspace reads it. Seccomp marks
/// the task dead before killing it (Linux 5.17 and later).
#[inline(always)]
pub fn report_kill(task: &Current) {
    if task.seccomp_mode(&OFFSETS) != Some(seccomp_mode::DEAD) {
        return;
    }
    let Some(nr) = details::syscall_nr(task, &OFFSETS) else {
        return;
    };
    // The action (kill thread or process) is the audit record's to say.
    emit(
        task,
        task.mnt_ns_inum(&OFFSETS),
        nr,
        seccomp_ret::KILL_THREAD,
        SIGSYS,
        source::TASK_EXIT,
    );
}

/// `signal_generate(int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
/// int result)`: a trap's SIGSYS, raised by seccomp in the caller, which still runs the call.
/// Attached only for the audit source with `--stack`, whose record of the trap has no stack.
#[raw_tracepoint(tracepoint = "signal_generate")]
pub fn trap_signal(ctx: RawTracePointContext) -> i32 {
    let sig: i32 = ctx.arg(0);
    if sig != SIGSYS {
        return 0;
    }
    let task = Current::new();
    // Kills mark the task dead first, and are reported as it exits.
    if task.seccomp_mode(&OFFSETS) != Some(seccomp_mode::FILTER) {
        return 0;
    }
    // Sent to the caller itself: a SIGSYS another process sends is not seccomp's.
    let target: u64 = ctx.arg(2);
    if target != task.as_ptr() as u64 {
        return 0;
    }
    let Some(nr) = details::syscall_nr(&task, &OFFSETS) else {
        return 0;
    };
    let mntns = task.mnt_ns_inum(&OFFSETS);
    // SAFETY: the value is a plain integer, copied out at once.
    if let Some(ns) = mntns
        && unsafe { MNTNS_DROP.get(ns) }.is_some()
    {
        return 0;
    }
    emit(&task, mntns, nr, seccomp_ret::TRAP, 0, source::TRAP_SIGNAL);
    0
}
