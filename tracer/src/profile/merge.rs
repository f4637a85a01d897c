//! One profile that allows what any of several allows.
//!
//! The merged profile has the first input's default action and every input's `SCMP_ACT_ALLOW`
//! rules, with their argument comparisons and conditions, followed by the other rules (their
//! refusals keep their errno: Docker's ENOSYS for `clone3` matters to glibc). Under the
//! [evaluator's precedence](super::evaluate) a rule that refuses by arguments beats an
//! unconditional allow, so such a rule is left out for a system call another input allows
//! unconditionally. The union is exact, and [`merge`] refuses to write it otherwise, when:
//!
//! - every input's default action refuses (a default that allows has no allow list to unite);
//! - the inputs filter the same architectures on this host (a rule names calls of every
//!   architecture in the filter, so one architecture's allow list cannot be kept to it);
//! - no input refuses calls by their arguments that it also allows unconditionally (that
//!   exception cannot be kept once the other inputs' rules sit beside it).

use std::collections::{BTreeMap, BTreeSet};

use crate::events::Arch;

use super::{
    arch_names,
    context::CheckContext,
    evaluate::{CheckError, Checker},
    model::{Action, Profile, Rule},
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("give at least one profile to merge")]
    Nothing,
    #[error(
        "input {input}'s default action {action} lets calls through: merge unites allow lists, \
         so every input's default must refuse (turn audit-mode profiles back first)",
        input = input + 1
    )]
    PermissiveDefault { input: usize, action: Action },
    #[error(
        "the inputs filter different architectures on this host (input 1: {first}; input \
         {other_input}: {other}): list the same architectures in each",
        other_input = input + 1
    )]
    ArchesDiffer {
        input: usize,
        first: String,
        other: String,
    },
    #[error(
        "input {input} refuses calls of {name} (rule #{refusing}) that it would allow by an \
         unconditional rule (rule #{allowing}): the union cannot keep that exception once other \
         inputs' rules sit beside it; remove one of the two rules",
        input = input + 1, refusing = refusing + 1, allowing = allowing + 1
    )]
    ArgumentException {
        input: usize,
        name: String,
        refusing: usize,
        allowing: usize,
    },
}

/// The union of `profiles`' allow lists: it allows a call exactly when one of them does.
pub fn merge(profiles: &[Profile], ctx: &CheckContext) -> Result<Profile, MergeError> {
    let first = profiles.first().ok_or(MergeError::Nothing)?;
    check_mergeable(profiles, ctx)?;
    let unconditional_allows: BTreeSet<&str> = profiles
        .iter()
        .flat_map(|p| &p.syscalls)
        .filter(|r| r.action == Action::Allow && r.comparisons().is_empty())
        .flat_map(Rule::syscall_names)
        .collect();
    let mut merged = first.clone();
    merged.syscalls.clear();
    let all_rules = || profiles.iter().flat_map(|p| &p.syscalls);
    for rule in all_rules().filter(|r| r.action == Action::Allow) {
        push_unique(&mut merged.syscalls, rule.clone());
    }
    for rule in all_rules().filter(|r| r.action != Action::Allow) {
        let mut rule = rule.clone();
        if !rule.comparisons().is_empty() {
            let keep = |name: &String| !unconditional_allows.contains(name.as_str());
            rule.names = Some(
                rule.syscall_names()
                    .map(str::to_owned)
                    .filter(keep)
                    .collect(),
            );
            rule.name = None;
            if rule.syscall_names().next().is_none() {
                continue;
            }
        }
        push_unique(&mut merged.syscalls, rule);
    }
    let mut flags: BTreeSet<String> = BTreeSet::new();
    flags.extend(
        profiles
            .iter()
            .flat_map(|p| p.flags.iter().flatten().cloned()),
    );
    merged.flags = (!flags.is_empty()).then(|| flags.into_iter().collect());
    Ok(merged)
}

fn push_unique(rules: &mut Vec<Rule>, rule: Rule) {
    if !rules.contains(&rule) {
        rules.push(rule);
    }
}

fn check_mergeable(profiles: &[Profile], ctx: &CheckContext) -> Result<(), MergeError> {
    let arches = |p: &Profile| {
        let mut set: BTreeSet<Arch> = super::evaluate::filter_arches(p, ctx.native).collect();
        set.insert(ctx.native);
        set
    };
    let first_arches = arches(&profiles[0]);
    for (input, profile) in profiles.iter().enumerate() {
        if profile.default_action.lets_through() {
            return Err(MergeError::PermissiveDefault {
                input,
                action: profile.default_action,
            });
        }
        let these = arches(profile);
        if these != first_arches {
            return Err(MergeError::ArchesDiffer {
                input,
                first: arch_list(&first_arches),
                other: arch_list(&these),
            });
        }
        check_no_argument_exception(input, profile)?;
    }
    Ok(())
}

/// An input that refuses calls one of its allow rules names, where the refusal wins by the
/// evaluator's precedence: moving every allow rule first would lose it.
fn check_no_argument_exception(input: usize, profile: &Profile) -> Result<(), MergeError> {
    let by_args = |rule: &Rule| !rule.comparisons().is_empty();
    // A refusal by arguments beats an unconditional allow wherever it is.
    let mut refusing_by_args: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, rule) in profile.syscalls.iter().enumerate() {
        if rule.action != Action::Allow && by_args(rule) {
            for name in rule.syscall_names() {
                refusing_by_args.entry(name).or_insert(index);
            }
        }
    }
    // Between rules of the same kind, the earlier one wins.
    let mut earlier: BTreeMap<(&str, bool), usize> = BTreeMap::new();
    for (index, rule) in profile.syscalls.iter().enumerate() {
        for name in rule.syscall_names() {
            if rule.action != Action::Allow {
                earlier.entry((name, by_args(rule))).or_insert(index);
                continue;
            }
            let beaten_by = earlier.get(&(name, by_args(rule))).or_else(|| {
                (!by_args(rule))
                    .then(|| refusing_by_args.get(name))
                    .flatten()
            });
            if let Some(&refusing) = beaten_by {
                return Err(MergeError::ArgumentException {
                    input,
                    name: name.to_owned(),
                    refusing,
                    allowing: index,
                });
            }
        }
    }
    Ok(())
}

fn arch_list(arches: &BTreeSet<Arch>) -> String {
    let names: Vec<&str> = arches
        .iter()
        .map(|a| arch_names::to_scmp(*a).unwrap_or("?"))
        .collect();
    names.join(", ")
}

/// A call another input allows that the first does not allow in any form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lack {
    pub arch: Arch,
    pub syscall: String,
    /// Which input allows it (its position in the list).
    pub allowed_by: usize,
}

/// What `profiles[0]` lacks that the others allow: per architecture and system call, the calls
/// some other input has an allow rule for on this host while the first refuses them whatever
/// their arguments.
pub fn lacks(profiles: &[Profile], ctx: &CheckContext) -> Result<Vec<Lack>, CheckError> {
    let Some((first, others)) = profiles.split_first() else {
        return Ok(Vec::new());
    };
    let base = Checker::new(first, ctx.clone())?;
    let mut found = BTreeSet::new();
    for (at, other) in others.iter().enumerate() {
        let checker = Checker::new(other, ctx.clone())?;
        for (arch, nr, name) in checker.allowed_calls() {
            let known = |l: &Lack| l.arch == arch && l.syscall == name;
            if !base.may_allow(arch, nr) && !found.iter().any(known) {
                found.insert(Lack {
                    arch,
                    syscall: name,
                    allowed_by: at + 1,
                });
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// A recorded profile added to a base (Docker's default, say): the base's rules and the
/// recorded calls, in the base's architectures where they cover the recorded ones, and in both
/// sets otherwise.
pub fn with_base(
    base: &Profile,
    recorded: &Profile,
    ctx: &CheckContext,
) -> Result<Profile, MergeError> {
    let base_arches: BTreeSet<Arch> = super::evaluate::filter_arches(base, ctx.native).collect();
    let recorded_arches: BTreeSet<Arch> =
        super::evaluate::filter_arches(recorded, ctx.native).collect();
    let mut base = base.clone();
    let mut recorded = recorded.clone();
    if recorded_arches.is_subset(&base_arches) {
        recorded.architectures = base.architectures.clone();
        recorded.arch_map = base.arch_map.clone();
    } else {
        let all: Vec<String> = base_arches
            .union(&recorded_arches)
            .filter_map(|a| arch_names::to_scmp(*a))
            .map(str::to_owned)
            .collect();
        for profile in [&mut base, &mut recorded] {
            profile.architectures = Some(all.clone());
            profile.arch_map = None;
        }
    }
    merge(&[base, recorded], ctx)
}
