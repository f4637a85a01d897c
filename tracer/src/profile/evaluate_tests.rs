//! The evaluator on Docker's default profile and its fixtures, with calls whose fate is known.

use std::path::Path;

use crate::events::Arch;

use super::{
    Action, Call, Cause, CheckContext, Checker, Verdict, arch_names, context::capability_name,
    load, model::Profile,
};

fn profile(name: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/profiles")
        .join(name);
    load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn amd64(kernel: &str, extra_caps: &[&str]) -> CheckContext {
    let mut ctx = CheckContext {
        native: Arch::X86_64,
        kernel: Some(kernel.parse().unwrap()),
        ..CheckContext::of_this_host()
    };
    ctx.caps
        .extend(extra_caps.iter().map(|c| capability_name(c)));
    ctx
}

fn decide(checker: &Checker, arch: Arch, name: &str, args: Option<[u64; 6]>) -> Verdict {
    let nr = arch_names::syscall_number(arch, name).unwrap_or_else(|| panic!("{name}"));
    checker.decide(&Call {
        arch,
        syscall: Some(name),
        nr,
        args,
    })
}

fn arg0(value: u64) -> Option<[u64; 6]> {
    Some([value, 0, 0, 0, 0, 0])
}

fn refused_with(verdict: &Verdict) -> Option<(Action, Option<u32>)> {
    match verdict {
        Verdict::Refused { action, errno, .. } => Some((*action, *errno)),
        _ => None,
    }
}

#[test]
fn moby_default_allows_the_common_calls() {
    let checker = Checker::new(&profile("moby-default.json"), amd64("6.1", &[])).unwrap();
    assert_eq!(
        decide(&checker, Arch::X86_64, "read", None),
        Verdict::Allowed
    );
    assert_eq!(decide(&checker, Arch::I386, "read", None), Verdict::Allowed);
    assert_eq!(decide(&checker, Arch::X32, "read", None), Verdict::Allowed);
    let mount = decide(&checker, Arch::X86_64, "mount", None);
    assert_eq!(
        refused_with(&mount),
        Some((Action::Errno, Some(1))),
        "{mount}"
    );
}

#[test]
fn calls_of_other_architectures_meet_the_bad_arch_action() {
    let checker = Checker::new(&profile("moby-default.json"), amd64("6.1", &[])).unwrap();
    let verdict = decide(&checker, Arch::Aarch64, "read", None);
    assert!(
        matches!(
            verdict,
            Verdict::Refused {
                action: Action::KillThread,
                cause: Cause::BadArch,
                ..
            }
        ),
        "{verdict}"
    );
    let verdict = checker.decide(&Call {
        arch: Arch::Undetected,
        syscall: None,
        nr: 0,
        args: None,
    });
    assert!(matches!(verdict, Verdict::Undecided { .. }), "{verdict}");
}

#[test]
fn personality_is_decided_by_its_argument() {
    let checker = Checker::new(&profile("moby-default.json"), amd64("6.1", &[])).unwrap();
    assert_eq!(
        decide(&checker, Arch::X86_64, "personality", arg0(0)),
        Verdict::Allowed
    );
    assert_eq!(
        decide(&checker, Arch::X86_64, "personality", arg0(0xffff_ffff)),
        Verdict::Allowed
    );
    let other = decide(&checker, Arch::X86_64, "personality", arg0(0x0040_0000));
    assert_eq!(
        refused_with(&other),
        Some((Action::Errno, Some(1))),
        "{other}"
    );
    let unknown = decide(&checker, Arch::X86_64, "personality", None);
    let Verdict::Undecided { reason } = unknown else {
        panic!("{unknown}")
    };
    assert!(reason.contains("personality"), "{reason}");
}

#[test]
fn clone_of_a_user_namespace_needs_cap_sys_admin() {
    const CLONE_NEWUSER: u64 = 0x1000_0000;
    const SIGCHLD: u64 = 17;
    let plain = Checker::new(&profile("moby-default.json"), amd64("6.1", &[])).unwrap();
    assert_eq!(
        decide(&plain, Arch::X86_64, "clone", arg0(SIGCHLD)),
        Verdict::Allowed
    );
    let userns = decide(&plain, Arch::X86_64, "clone", arg0(CLONE_NEWUSER | SIGCHLD));
    assert_eq!(
        refused_with(&userns),
        Some((Action::Errno, Some(1))),
        "{userns}"
    );
    let clone3 = decide(&plain, Arch::X86_64, "clone3", None);
    assert_eq!(
        refused_with(&clone3),
        Some((Action::Errno, Some(38))),
        "{clone3}"
    );

    let admin = Checker::new(&profile("moby-default.json"), amd64("6.1", &["sys_admin"])).unwrap();
    assert_eq!(
        decide(&admin, Arch::X86_64, "clone", arg0(CLONE_NEWUSER | SIGCHLD)),
        Verdict::Allowed
    );
    assert_eq!(
        decide(&admin, Arch::X86_64, "clone3", None),
        Verdict::Allowed
    );
}

#[test]
fn includes_and_excludes_follow_the_capabilities() {
    let fixture = profile("moby-conditional_include.json");
    let plain = Checker::new(&fixture, amd64("6.1", &[])).unwrap();
    assert!(decide(&plain, Arch::X86_64, "syslog", None).is_refused());
    assert_eq!(
        decide(&plain, Arch::X86_64, "ptrace", None),
        Verdict::Allowed
    );
    assert_eq!(
        decide(&plain, Arch::X86_64, "chmod", None),
        Verdict::Allowed
    );
    let more = Checker::new(&fixture, amd64("6.1", &["CAP_SYSLOG", "CAP_SYS_ADMIN"])).unwrap();
    assert_eq!(
        decide(&more, Arch::X86_64, "syslog", None),
        Verdict::Allowed
    );
    assert!(decide(&more, Arch::X86_64, "ptrace", None).is_refused());
}

#[test]
fn min_kernel_rules_apply_from_their_version() {
    let moby = profile("moby-default.json");
    let old = Checker::new(&moby, amd64("4.4", &[])).unwrap();
    assert!(decide(&old, Arch::X86_64, "ptrace", None).is_refused());
    let new = Checker::new(&moby, amd64("4.8.0-1-amd64", &[])).unwrap();
    assert_eq!(decide(&new, Arch::X86_64, "ptrace", None), Verdict::Allowed);
    let unknown = CheckContext {
        kernel: None,
        ..amd64("4.8", &[])
    };
    assert!(Checker::new(&moby, unknown).is_err());
}

#[test]
fn includes_arches_name_the_host_not_the_call() {
    let checker = Checker::new(&profile("moby-default.json"), amd64("6.1", &[])).unwrap();
    assert_eq!(
        decide(&checker, Arch::X86_64, "arch_prctl", None),
        Verdict::Allowed
    );
    assert_eq!(
        decide(&checker, Arch::I386, "modify_ldt", None),
        Verdict::Allowed
    );
    let arm = CheckContext {
        native: Arch::Aarch64,
        ..amd64("6.1", &[])
    };
    let checker = Checker::new(&profile("moby-default.json"), arm).unwrap();
    assert!(decide(&checker, Arch::X86_64, "read", None).is_refused());
    assert_eq!(
        decide(&checker, Arch::Arm, "arm_fadvise64_64", None),
        Verdict::Allowed
    );
}

#[test]
fn the_old_format_and_rule_errno_are_read() {
    let example = profile("moby-example.json");
    let checker = Checker::new(&example, amd64("6.1", &[])).unwrap();
    let syslog = decide(&checker, Arch::X86_64, "syslog", None);
    assert_eq!(
        refused_with(&syslog),
        Some((Action::Errno, Some(12345))),
        "{syslog}"
    );
    assert_eq!(
        decide(&checker, Arch::X86_64, "open", None),
        Verdict::Allowed
    );
}

#[test]
fn calls_newer_than_the_profile_get_enosys() {
    let checker = Checker::new(&profile("moby-example.json"), amd64("6.1", &[])).unwrap();
    // moby-example names calls up to syslog (103 on x86_64): runc's stub answers setuid (105).
    let verdict = decide(&checker, Arch::X86_64, "setuid", None);
    assert!(
        matches!(
            verdict,
            Verdict::Refused {
                errno: Some(38),
                cause: Cause::NewerThanProfile,
                ..
            }
        ),
        "{verdict}"
    );
}
