//! A minimal seccomp filter builder: a list of (arch, number) → action rules, everything else
//! allowed.
//!
//! Classic BPF written by hand rather than a libseccomp binding, so the workload links
//! statically and each rule produces exactly one audited action the tests can predict.

use std::io;

/// `AUDIT_ARCH_X86_64`: native calls and x32 calls (told apart by [`X32_SYSCALL_BIT`]).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`: `int $0x80` calls, also from a 64-bit process.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`: native calls on arm64.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_ARM`: calls of arm32 (compat) tasks on arm64.
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
/// `__X32_SYSCALL_BIT`: x32 calls enter through the x86-64 path with this bit in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// System call numbers the scenarios use, per table.
pub mod nr {
    pub mod x86_64 {
        pub const GETPID: u32 = 39;
        pub const MKDIR: u32 = 83;
        pub const GETPPID: u32 = 110;
        pub const GETPGID: u32 = 121;
        pub const GETPRIORITY: u32 = 140;
        pub const OPENAT: u32 = 257;
        pub const MKDIRAT: u32 = 258;
        pub const UNLINKAT: u32 = 263;
        pub const UNSHARE: u32 = 272;
        pub const PRLIMIT64: u32 = 302;
    }
    pub mod i386 {
        pub const GETPID: u32 = 20;
        pub const GETPRIORITY: u32 = 96;
    }
    /// arm64's table (include/uapi/asm-generic/unistd.h): no `mkdir`, only `mkdirat`.
    pub mod aarch64 {
        pub const WRITE: u32 = 64;
        pub const MKDIRAT: u32 = 34;
        pub const UNLINKAT: u32 = 35;
        pub const FCHMODAT: u32 = 53;
        pub const OPENAT: u32 = 56;
        pub const UNSHARE: u32 = 97;
        pub const GETPRIORITY: u32 = 141;
        pub const GETPGID: u32 = 155;
        pub const GETPPID: u32 = 173;
        pub const PRLIMIT64: u32 = 261;
    }
    /// arm32's EABI table (arch/arm/tools/syscall.tbl), which arm64 runs compat tasks with.
    pub mod arm {
        /// `write` in arm64's table.
        pub const GETPPID: u32 = 64;
    }
}

/// The symbolic name of the errnos the scenarios use, as tracer's `errno_name` spells them.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EACCES => "EACCES",
        libc::EXDEV => "EXDEV",
        libc::EINVAL => "EINVAL",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        _ => return None,
    })
}

/// `SECCOMP_RET_*` actions a rule can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    KillProcess,
    KillThread,
    Trap,
    /// Fail the call with this errno.
    Errno(u16),
    Log,
    Allow,
}

impl Action {
    /// The filter's return value: action in the high 16 bits, data in the low 16.
    pub fn ret(self) -> u32 {
        match self {
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(errno) => libc::SECCOMP_RET_ERRNO | u32::from(errno),
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Allow => libc::SECCOMP_RET_ALLOW,
        }
    }

    /// The name tracer's output uses for the action.
    pub fn name(self) -> &'static str {
        match self {
            Action::KillProcess => "kill_process",
            Action::KillThread => "kill_thread",
            Action::Trap => "trap",
            Action::Errno(_) => "errno",
            Action::Log => "log",
            Action::Allow => "allow",
        }
    }
}

/// Names of the action bits of an audited `code`, as tracer's output spells them.
pub fn action_name(code: u32) -> Option<&'static str> {
    Some(match code & libc::SECCOMP_RET_ACTION_FULL {
        libc::SECCOMP_RET_KILL_PROCESS => "kill_process",
        libc::SECCOMP_RET_KILL_THREAD => "kill_thread",
        libc::SECCOMP_RET_TRAP => "trap",
        libc::SECCOMP_RET_ERRNO => "errno",
        libc::SECCOMP_RET_USER_NOTIF => "user_notif",
        libc::SECCOMP_RET_TRACE => "trace",
        libc::SECCOMP_RET_LOG => "log",
        libc::SECCOMP_RET_ALLOW => "allow",
        _ => return None,
    })
}

/// The name tracer's output gives the architecture of a call, from the kernel's `arch=` and
/// syscall number.
pub fn arch_name(audit_arch: u32, syscall_nr: u64) -> String {
    match audit_arch {
        AUDIT_ARCH_X86_64 if syscall_nr & u64::from(X32_SYSCALL_BIT) != 0 => "x32".into(),
        AUDIT_ARCH_X86_64 => "x86_64".into(),
        AUDIT_ARCH_I386 => "i386".into(),
        AUDIT_ARCH_AARCH64 => "aarch64".into(),
        AUDIT_ARCH_ARM => "arm".into(),
        other => format!("{other:#010x}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub arch: u32,
    pub nr: u32,
    pub action: Action,
}

impl Rule {
    pub fn x86_64(nr: u32, action: Action) -> Self {
        Self {
            arch: AUDIT_ARCH_X86_64,
            nr,
            action,
        }
    }

    pub fn aarch64(nr: u32, action: Action) -> Self {
        Self {
            arch: AUDIT_ARCH_AARCH64,
            nr,
            action,
        }
    }

    pub fn arm(nr: u32, action: Action) -> Self {
        Self {
            arch: AUDIT_ARCH_ARM,
            nr,
            action,
        }
    }

    pub fn i386(nr: u32, action: Action) -> Self {
        Self {
            arch: AUDIT_ARCH_I386,
            nr,
            action,
        }
    }
}

// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Each rule is five instructions: load arch, skip the rule unless it matches, load the number,
/// skip the return unless it matches, return the action. Falling off the end allows the call.
pub fn program(rules: &[Rule]) -> Vec<libc::sock_filter> {
    let mut program = Vec::with_capacity(rules.len() * 5 + 1);
    for rule in rules {
        program.push(stmt(BPF_LD_W_ABS, DATA_ARCH));
        program.push(jump(BPF_JEQ_K, rule.arch, 0, 3));
        program.push(stmt(BPF_LD_W_ABS, DATA_NR));
        program.push(jump(BPF_JEQ_K, rule.nr, 0, 1));
        program.push(stmt(BPF_RET_K, rule.action.ret()));
    }
    program.push(stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
    program
}

/// Whether non-allow actions other than log and kill are audited too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audit {
    /// The kernel's default: only log and kill actions reach `audit_seccomp`.
    KillAndLog,
    /// `SECCOMP_FILTER_FLAG_LOG`: trap, errno, trace and user_notif are audited as well.
    EveryAction,
}

/// Installs the filter on the calling thread (and the threads it creates from now on).
pub fn install(rules: &[Rule], audit: Audit) -> io::Result<()> {
    let mut program = program(rules);
    let fprog = libc::sock_fprog {
        len: u16::try_from(program.len()).expect("a filter of fewer than 65536 instructions"),
        filter: program.as_mut_ptr(),
    };
    let flags = match audit {
        Audit::KillAndLog => 0,
        Audit::EveryAction => libc::SECCOMP_FILTER_FLAG_LOG,
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers. Without it an unprivileged process may
    // not install a filter; root does not need it, but it keeps the workload usable as any user.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fprog` points at `program`, which outlives the call; the kernel copies it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_is_five_instructions_and_a_default_allow() {
        let program = program(&[Rule::x86_64(83, Action::Log)]);
        let rendered: Vec<_> = program.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect();
        assert_eq!(
            rendered,
            [
                (0x20, 0, 0, 4),
                (0x15, 0, 3, AUDIT_ARCH_X86_64),
                (0x20, 0, 0, 0),
                (0x15, 0, 1, 83),
                (0x06, 0, 0, 0x7ffc_0000),
                (0x06, 0, 0, 0x7fff_0000),
            ]
        );
    }

    #[test]
    fn errno_data_is_in_the_low_bits() {
        assert_eq!(Action::Errno(1).ret(), 0x0005_0001);
        assert_eq!(action_name(0x0005_0001), Some("errno"));
        assert_eq!(action_name(0), Some("kill_thread"));
        assert_eq!(action_name(0x1234_0000), None);
    }

    #[test]
    fn arm_numbers_are_those_of_their_tables() {
        use syscalls::{aarch64::Sysno as A64, arm::Sysno as Arm};
        let id = |nr: usize| u32::try_from(nr).unwrap();
        assert_eq!(id(A64::write.id() as usize), nr::aarch64::WRITE);
        assert_eq!(id(A64::mkdirat.id() as usize), nr::aarch64::MKDIRAT);
        assert_eq!(id(A64::unshare.id() as usize), nr::aarch64::UNSHARE);
        assert_eq!(id(A64::getpgid.id() as usize), nr::aarch64::GETPGID);
        assert_eq!(id(A64::getppid.id() as usize), nr::aarch64::GETPPID);
        assert_eq!(id(Arm::getppid.id() as usize), nr::arm::GETPPID);
        // The point of the arm scenario: one number, two calls.
        assert_eq!(nr::arm::GETPPID, nr::aarch64::WRITE);
    }

    #[test]
    fn names_arches_as_tracer_does() {
        assert_eq!(arch_name(AUDIT_ARCH_X86_64, 83), "x86_64");
        assert_eq!(arch_name(AUDIT_ARCH_X86_64, 0x4000_0027), "x32");
        assert_eq!(arch_name(AUDIT_ARCH_I386, 20), "i386");
        assert_eq!(arch_name(AUDIT_ARCH_AARCH64, 64), "aarch64");
        assert_eq!(arch_name(AUDIT_ARCH_ARM, 64), "arm");
        assert_eq!(arch_name(0xc000_00f3, 1), "0xc00000f3");
    }
}
