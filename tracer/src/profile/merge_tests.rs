//! The merged profile allows a call exactly when one of its inputs does, by the evaluator.

use proptest::prelude::*;

use crate::events::Arch;

use super::{
    Call, CheckContext, Checker, arch_names,
    merge::{MergeError, merge},
    model::{Action, ArgCmp, Op, Profile, Rule},
};

const NAMES: [&str; 4] = ["read", "write", "personality", "socket"];

fn ctx() -> CheckContext {
    CheckContext {
        native: Arch::X86_64,
        kernel: Some("6.1".parse().unwrap()),
        ..CheckContext::of_this_host()
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::NotEqual),
        Just(Op::Less),
        Just(Op::LessOrEqual),
        Just(Op::Equal),
        Just(Op::GreaterOrEqual),
        Just(Op::Greater),
        Just(Op::MaskedEqual),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    let cmp = (0u32..2, 0u64..4, 0u64..4, op()).prop_map(|(index, value, two, op)| ArgCmp {
        index,
        value,
        value_two: Some(two),
        op,
    });
    (
        proptest::sample::subsequence(NAMES.to_vec(), 1..=2),
        prop_oneof![3 => Just(Action::Allow), 1 => Just(Action::Errno), 1 => Just(Action::KillProcess)],
        proptest::collection::vec(cmp, 0..=2),
    )
        .prop_map(|(names, action, args)| Rule {
            names: Some(names.into_iter().map(str::to_owned).collect()),
            action,
            args: Some(args),
            ..Rule::default()
        })
}

fn profile() -> impl Strategy<Value = Profile> {
    proptest::collection::vec(rule(), 0..5).prop_map(|syscalls| Profile {
        default_action: Action::Errno,
        architectures: Some(vec!["SCMP_ARCH_X86_64".into()]),
        syscalls,
        ..Profile::default()
    })
}

fn lets_through(checker: &Checker, name: &str, arg0: u64, arg1: u64) -> bool {
    let call = Call {
        arch: Arch::X86_64,
        syscall: Some(name),
        nr: arch_names::syscall_number(Arch::X86_64, name).unwrap(),
        args: Some([arg0, arg1, 0, 0, 0, 0]),
    };
    matches!(
        checker.decide(&call),
        super::Verdict::Allowed | super::Verdict::Logged
    )
}

proptest! {
    #[test]
    fn merged_allows_exactly_what_an_input_allows(
        inputs in proptest::collection::vec(profile(), 1..4),
        calls in proptest::collection::vec((0usize..4, 0u64..5, 0u64..5), 1..40),
    ) {
        let merged = match merge(&inputs, &ctx()) {
            Ok(merged) => merged,
            // An exception the union cannot keep: refused, never written wrong.
            Err(MergeError::ArgumentException { .. }) => return Ok(()),
            Err(other) => panic!("{other}"),
        };
        let merged = Checker::new(&merged, ctx()).unwrap();
        let inputs: Vec<Checker> = inputs.iter().map(|p| Checker::new(p, ctx()).unwrap()).collect();
        for (name, arg0, arg1) in calls {
            let name = NAMES[name];
            let any = inputs.iter().any(|c| lets_through(c, name, arg0, arg1));
            prop_assert_eq!(lets_through(&merged, name, arg0, arg1), any, "{}({}, {})", name, arg0, arg1);
        }
    }
}

#[test]
fn moby_default_merges_with_a_recorded_profile() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/profiles/moby-default.json");
    let moby = super::load(&path).unwrap();
    let mut recording = super::Recording::default();
    recording.add(Arch::X86_64, "mount", 3, None);
    let merged = super::merge::with_base(&moby, &recording.to_profile(), &ctx()).unwrap();
    assert_eq!(merged.arch_map, moby.arch_map);
    let checker = Checker::new(&merged, ctx()).unwrap();
    assert!(lets_through(&checker, "mount", 0, 0));
    assert!(lets_through(&checker, "read", 0, 0));
    let lacks = super::merge::lacks(&[moby, merged], &ctx()).unwrap();
    let names: Vec<&str> = lacks.iter().map(|l| l.syscall.as_str()).collect();
    assert!(names.contains(&"mount"), "{names:?}");
    assert!(!names.contains(&"read"), "{names:?}");
}
