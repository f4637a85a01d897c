//! A profile that logs what another refuses: run a workload under it, and the kernel's log
//! (and tracer) shows every call the original would have refused, while the workload goes on.

use super::model::{Action, Profile};

/// The actions that stop a call, which audit mode turns into `SCMP_ACT_LOG`. `trace` and
/// `notify` hand the call to another process, which decides: they are kept.
fn refuses(action: Action) -> bool {
    matches!(
        action,
        Action::Errno | Action::Kill | Action::KillThread | Action::KillProcess | Action::Trap
    )
}

/// The same profile with its default action and every refusing rule logging instead; the
/// errno they would have returned goes with them. Architectures, argument comparisons,
/// conditions, flags and unknown fields stay as they were, so a call meets the same rule it
/// would have met.
pub fn audit_mode(profile: &Profile) -> Profile {
    let mut out = profile.clone();
    if refuses(out.default_action) {
        out.default_action = Action::Log;
        out.default_errno_ret = None;
    }
    for rule in &mut out.syscalls {
        if refuses(rule.action) {
            rule.action = Action::Log;
            rule.errno_ret = None;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn moby_default_keeps_its_allow_list_and_logs_the_rest() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/profiles/moby-default.json");
        let original = super::super::load(&path).unwrap();
        let audit = audit_mode(&original);
        assert_eq!(audit.default_action, Action::Log);
        assert_eq!(audit.default_errno_ret, None);
        assert_eq!(audit.arch_map, original.arch_map);
        assert_eq!(audit.syscalls.len(), original.syscalls.len());
        for (before, after) in original.syscalls.iter().zip(&audit.syscalls) {
            if before.action == Action::Allow {
                assert_eq!(before, after);
            } else {
                assert_eq!(after.action, Action::Log, "{before:?}");
                assert_eq!(after.errno_ret, None);
                assert_eq!(
                    (&after.args, &after.includes, &after.excludes),
                    (&before.args, &before.includes, &before.excludes)
                );
            }
        }
        let json = serde_json::to_value(&audit).unwrap();
        assert!(json.get("defaultErrnoRet").is_none());
    }
}
