//! The caller's user stack, for the question after "which call": which code made it.
//!
//! A process seccomp killed is gone by the time userspace reads its event, so the stack is
//! taken here twice: as instruction pointers, and as the build id and file offset of each
//! frame, which name the code without the process's memory map. The walk follows frame
//! pointers, as the kernel's own user stack walk does.

use aya_ebpf::{
    bindings::{BPF_F_USER_BUILD_ID, BPF_F_USER_STACK},
    helpers::generated::{bpf_get_task_stack, bpf_probe_read_user},
};
use tracer_common::{seccomp_ret, stack, stack_level};

use crate::{
    OFFSETS,
    details::{self, Scratch},
    task::Current,
};

/// Whether an event of `code` carries a stack at `level`.
#[inline(always)]
pub fn wanted(level: u32, code: u32) -> bool {
    match level {
        stack_level::ALL => true,
        stack_level::FAULTS => matches!(
            code & seccomp_ret::ACTION_MASK,
            seccomp_ret::KILL_THREAD | seccomp_ret::KILL_PROCESS | seccomp_ret::TRAP
        ),
        _ => false,
    }
}

/// Reads the stack into the scratch room and says in the header how many frames it has.
#[inline(always)]
pub fn capture(scratch: &mut Scratch, current: &Current) {
    let task = current.as_ptr() as *mut _;
    // SAFETY: the task is the running one, from `bpf_get_current_task_btf`; each buffer is the
    // size passed with it.
    let (ips, build_ids) = unsafe {
        (
            bpf_get_task_stack(
                task,
                scratch.stack_ips.as_mut_ptr().cast(),
                stack::IPS_BYTES as u32,
                u64::from(BPF_F_USER_STACK),
            ),
            bpf_get_task_stack(
                task,
                scratch.stack_build_ids.as_mut_ptr().cast(),
                stack::BUILD_IDS_BYTES as u32,
                u64::from(BPF_F_USER_STACK | BPF_F_USER_BUILD_ID),
            ),
        )
    };
    let h = &mut scratch.header;
    h.stack_ips = frames(ips, 8);
    h.stack_build_ids = frames(build_ids, stack::BUILD_ID_FRAME_BYTES as i64);
    h.stack_top_words = 0;
    let Some(sp) = details::user_sp(current, &OFFSETS) else {
        return;
    };
    scratch.stack_top[0] = sp;
    // SAFETY: reads TOP_WORDS words of the caller's memory into the room after the pointer; a
    // fault is reported, not used.
    let read = unsafe {
        bpf_probe_read_user(
            scratch.stack_top[1..].as_mut_ptr().cast(),
            (stack::TOP_WORDS * 8) as u32,
            sp as *const _,
        )
    };
    if read == 0 {
        scratch.header.stack_top_words = stack::TOP_WORDS as u8;
    }
}

/// Frames in `bytes` written by the helper; 0 for an error.
#[inline(always)]
fn frames(bytes: i64, frame_bytes: i64) -> u8 {
    if bytes <= 0 {
        return 0;
    }
    (bytes / frame_bytes).min(stack::MAX_FRAMES as i64) as u8
}
