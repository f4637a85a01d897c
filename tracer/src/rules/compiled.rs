//! Rules compiled for matching at full rate: system call names resolved to numbers per
//! architecture once, and for each (architecture, number) the rules that could match it listed
//! in order. An event looks up its list, then checks only those rules' other conditions, on
//! borrowed strings: no allocation per event.

use super::{
    facts::{self, Facts},
    level::Level,
    load::Loaded,
    model::{Conditions, Globs, KNOWN_ARCHES, Rule},
};
use crate::{events::Arch, profile::arch_names};

/// Numbers below this get a slot each; the few above (ARM's private calls) are looked up.
const DENSE: u32 = 1024;
/// x32 numbers carry this bit; the tables index them without it.
const X32_BIT: u32 = 0x4000_0000;

/// The rules of one architecture, by call number.
#[derive(Debug, Default)]
struct ArchIndex {
    /// Rules that may match call `nr`, in order (indices into the rule list).
    dense: Vec<Box<[u16]>>,
    /// Calls numbered from [`DENSE`] on, sorted by number.
    sparse: Vec<(u32, Box<[u16]>)>,
    /// Rules that may match a call no rule names: those without a `syscalls` condition.
    other: Box<[u16]>,
}

impl ArchIndex {
    #[inline]
    fn candidates(&self, nr: u32) -> &[u16] {
        if let Some(list) = self.dense.get(nr as usize) {
            return list;
        }
        if nr >= DENSE
            && let Ok(at) = self.sparse.binary_search_by_key(&nr, |(n, _)| *n)
        {
            return &self.sparse[at].1;
        }
        &self.other
    }
}

/// What the rules decided for an event.
#[derive(Clone, Copy, Debug)]
pub struct Verdict<'a> {
    /// The first rule it matched; `None` for the default level.
    pub rule: Option<&'a Rule>,
    pub level: Level,
}

#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    default_level: Level,
    /// One per [`KNOWN_ARCHES`] entry, then one for calls of an unknown or undetected arch.
    arches: Vec<ArchIndex>,
}

#[derive(Debug, thiserror::Error)]
#[error("{count} rules are more than tracer takes ({max}): merge rules that share a level")]
pub struct TooManyRules {
    count: usize,
    max: usize,
}

impl RuleSet {
    pub fn new(loaded: Loaded) -> Result<Self, TooManyRules> {
        let Loaded {
            rules,
            default_level,
            ..
        } = loaded;
        if rules.len() > usize::from(u16::MAX) {
            return Err(TooManyRules {
                count: rules.len(),
                max: usize::from(u16::MAX),
            });
        }
        let mut arches: Vec<ArchIndex> = KNOWN_ARCHES
            .iter()
            .map(|&arch| index_arch(&rules, Some(arch)))
            .collect();
        arches.push(index_arch(&rules, None));
        Ok(Self {
            rules,
            default_level,
            arches,
        })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn default_level(&self) -> Level {
        self.default_level
    }

    /// The first rule `facts` matches, and the level it gets.
    #[inline]
    pub fn decide<F: Facts>(&self, facts: &F) -> Verdict<'_> {
        let arch = facts.arch();
        let (slot, nr) = match KNOWN_ARCHES.iter().position(|&known| known == arch) {
            Some(slot) if arch == Arch::X32 => (slot, facts.syscall_nr() & !X32_BIT),
            Some(slot) => (slot, facts.syscall_nr()),
            None => (KNOWN_ARCHES.len(), facts.syscall_nr()),
        };
        for &at in self.arches[slot].candidates(nr) {
            let rule = &self.rules[usize::from(at)];
            if matches_rest(&rule.when, facts) {
                return Verdict {
                    rule: Some(rule),
                    level: rule.level,
                };
            }
        }
        Verdict {
            rule: None,
            level: self.default_level,
        }
    }
}

/// The index of `arch`'s calls (`None`: calls of an arch without a table).
fn index_arch(rules: &[Rule], arch: Option<Arch>) -> ArchIndex {
    // Which rules apply in this arch at all, and the numbers each names in it.
    let mut named: Vec<(u16, Option<Vec<u32>>)> = Vec::new();
    for (at, rule) in rules.iter().enumerate() {
        let at = at as u16;
        if let Some(arches) = &rule.when.arches
            && !arch.is_some_and(|arch| arches.contains(&arch))
        {
            continue;
        }
        let numbers = rule.when.syscalls.as_ref().map(|names| {
            names
                .iter()
                .filter_map(|name| arch.and_then(|arch| arch_names::syscall_number(arch, name)))
                .map(|nr| {
                    if arch == Some(Arch::X32) {
                        nr & !X32_BIT
                    } else {
                        nr
                    }
                })
                .collect::<Vec<u32>>()
        });
        named.push((at, numbers));
    }
    let other: Box<[u16]> = named
        .iter()
        .filter(|(_, numbers)| numbers.is_none())
        .map(|(at, _)| *at)
        .collect();
    let list_for = |nr: u32| -> Box<[u16]> {
        named
            .iter()
            .filter(|(_, numbers)| numbers.as_ref().is_none_or(|n| n.contains(&nr)))
            .map(|(at, _)| *at)
            .collect()
    };
    let mut all: Vec<u32> = named
        .iter()
        .flat_map(|(_, numbers)| numbers.iter().flatten().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    let dense_len = all
        .iter()
        .filter(|&&nr| nr < DENSE)
        .max()
        .map_or(0, |&nr| nr + 1);
    let dense = (0..dense_len)
        .map(|nr| {
            if all.binary_search(&nr).is_ok() {
                list_for(nr)
            } else {
                other.clone()
            }
        })
        .collect();
    let sparse = all
        .iter()
        .filter(|&&nr| nr >= DENSE)
        .map(|&nr| (nr, list_for(nr)))
        .collect();
    ArchIndex {
        dense,
        sparse,
        other,
    }
}

/// Every condition but the system call and arch, which the index has already decided.
#[inline]
fn matches_rest<F: Facts>(when: &Conditions, facts: &F) -> bool {
    if let Some(codes) = when.codes
        && !codes.contains(facts.code())
    {
        return false;
    }
    if let Some(uids) = &when.uids
        && !uids.contains(&facts.uid())
    {
        return false;
    }
    if let Some(errnos) = &when.errnos
        && !facts.errno().is_some_and(|errno| errnos.contains(&errno))
    {
        return false;
    }
    if !when.labels.is_empty()
        && !when
            .labels
            .iter()
            .all(|(key, value)| facts.label(key) == Some(value.as_str()))
    {
        return false;
    }
    glob_ok(&when.containers, || facts.container_name())
        && glob_ok(&when.images, || facts.image())
        && glob_ok(&when.namespaces, || facts.label(facts::K8S_NAMESPACE))
        && glob_ok(&when.pods, || facts.label(facts::K8S_POD))
        && glob_ok(&when.exes, || facts.exe())
        && glob_ok(&when.paths, || facts.path())
}

/// Whether `text` matches `globs`, if given: an event without the text matches no glob.
#[inline]
fn glob_ok<'a>(globs: &Option<Globs>, text: impl FnOnce() -> Option<&'a str>) -> bool {
    match globs {
        None => true,
        Some(globs) => text().is_some_and(|text| globs.is_match(text)),
    }
}
