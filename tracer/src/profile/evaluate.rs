//! What a profile does with a system call, as Docker and runc would install it.
//!
//! [`Checker::new`] does what Docker does before it hands a profile to runc: it keeps the rules
//! whose `includes`/`excludes` hold for the container's capabilities, the host's architecture
//! (compared in Docker's naming, `amd64`, with the host's, not the call's) and the host's
//! kernel, and picks the architectures (`architectures`, or the `archMap` entry of the host's
//! architecture with its sub-architectures). [`Checker::decide`] then does what the filter
//! runc installs would do:
//!
//! 1. A call of an architecture not in the filter meets libseccomp's bad-architecture action,
//!    which runc leaves at its default: the thread is killed. The host's architecture is
//!    always in the filter.
//! 2. Where the default action refuses (not allow or log) and `defaultErrnoRet` is not ENOSYS,
//!    runc puts a stub before the filter that answers ENOSYS to any call numbered above the
//!    highest call the profile names in that architecture (a call newer than the profile).
//! 3. The rules naming the call (by its number in the call's architecture; names that
//!    architecture lacks are ignored, as runc ignores them) decide, in this precedence:
//!    the first rule in file order with argument comparisons that all hold, then the first
//!    rule without comparisons, then the default action. A rule that compares the same
//!    argument twice matches when either comparison holds: runc installs each such comparison
//!    as a rule of its own.
//!
//! A call whose arguments were not read, named by rules with comparisons, is
//! [`Undecided`](Verdict::Undecided) unless every way those rules could go ends in the same
//! action.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
};

use crate::events::Arch;

use super::{
    arch_names,
    context::{BadKernelVersion, CheckContext, KernelVersion},
    model::{Action, ArgCmp, Filter, Profile, Rule},
};

/// One system call to decide on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Call<'a> {
    pub arch: Arch,
    /// The name, where the architecture's table has one (for messages only: rules are matched
    /// by number).
    pub syscall: Option<&'a str>,
    pub nr: u32,
    /// The six argument registers; `None` where they were not read.
    pub args: Option<[u64; 6]>,
}

/// What the filter does with a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Allowed, and logged by the kernel (`SCMP_ACT_LOG`).
    Logged,
    Refused {
        action: Action,
        /// The errno the caller gets, for `errno` and `trace` actions.
        errno: Option<u32>,
        cause: Cause,
    },
    Undecided {
        reason: String,
    },
}

/// What refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The rule at this index of the profile's `syscalls`.
    Rule(usize),
    DefaultAction,
    /// The call's architecture is not in the filter.
    BadArch,
    /// runc's ENOSYS stub: the call is numbered above every call the profile names.
    NewerThanProfile,
}

impl Verdict {
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Allowed => f.write_str("allowed"),
            Self::Logged => f.write_str("logged"),
            Self::Refused {
                action,
                errno,
                cause,
            } => {
                write!(f, "{action}")?;
                if let Some(errno) = errno {
                    let name = i32::try_from(*errno)
                        .ok()
                        .and_then(crate::events::errno::name);
                    match name {
                        Some(name) => write!(f, " ({name})")?,
                        None => write!(f, " (errno {errno})")?,
                    }
                }
                match cause {
                    Cause::Rule(index) => write!(f, " by rule #{}", index + 1),
                    Cause::DefaultAction => f.write_str(" by the default action"),
                    Cause::BadArch => f.write_str(": its architecture is not in the profile"),
                    Cause::NewerThanProfile => {
                        f.write_str(": newer than every call the profile names (runc's stub)")
                    }
                }
            }
            Self::Undecided { reason } => write!(f, "undecided: {reason}"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    #[error(
        "rule #{rule} depends on the kernel version (minKernel {min_kernel}), and this \
         kernel's could not be read: give it with --kernel X.Y",
        rule = index + 1
    )]
    UnknownKernel { index: usize, min_kernel: String },
    #[error("rule #{rule} has a bad minKernel", rule = index + 1)]
    BadMinKernel {
        index: usize,
        #[source]
        source: BadKernelVersion,
    },
}

/// A rule that applies on this host.
#[derive(Clone, Debug)]
struct Active {
    index: usize,
    names: Vec<String>,
    action: Action,
    errno: Option<u32>,
    comparisons: Vec<ArgCmp>,
    /// Two comparisons of one argument: runc makes each a rule of its own.
    any_comparison: bool,
}

impl Active {
    fn matches(&self, args: &[u64; 6]) -> bool {
        let holds = |cmp: &ArgCmp| cmp.holds(args[cmp.index as usize]);
        if self.any_comparison {
            self.comparisons.iter().any(holds)
        } else {
            self.comparisons.iter().all(holds)
        }
    }
}

/// A profile ready to decide on calls, for one host and container.
#[derive(Clone, Debug)]
pub struct Checker {
    arches: BTreeSet<Arch>,
    default: (Action, Option<u32>),
    rules: Vec<Active>,
    /// The rules naming each (architecture, number), in file order.
    by_call: HashMap<(Arch, u32), Vec<usize>>,
    /// The highest number named per architecture, where runc's ENOSYS stub applies.
    stub_limits: HashMap<Arch, u32>,
}

impl Checker {
    pub fn new(profile: &Profile, ctx: CheckContext) -> Result<Self, CheckError> {
        let mut arches: BTreeSet<Arch> = filter_arches(profile, ctx.native).collect();
        arches.insert(ctx.native);
        let default_errno = profile
            .default_errno_ret
            .or_else(|| profile.default_action.default_errno());
        let mut checker = Self {
            arches,
            default: (profile.default_action, default_errno),
            rules: Vec::new(),
            by_call: HashMap::new(),
            stub_limits: HashMap::new(),
        };
        for (index, rule) in profile.syscalls.iter().enumerate() {
            if !applies(rule, index, &ctx)? {
                continue;
            }
            checker.add(index, rule);
        }
        let stub = !profile.default_action.lets_through()
            && profile.default_errno_ret != Some(libc::ENOSYS as u32);
        if !stub {
            checker.stub_limits.clear();
        }
        Ok(checker)
    }

    fn add(&mut self, index: usize, rule: &Rule) {
        let comparisons = rule.comparisons().to_vec();
        let mut seen = BTreeSet::new();
        let any_comparison = !comparisons.iter().all(|cmp| seen.insert(cmp.index));
        let at = self.rules.len();
        self.rules.push(Active {
            index,
            names: rule.syscall_names().map(str::to_owned).collect(),
            action: rule.action,
            errno: rule.errno_ret.or_else(|| rule.action.default_errno()),
            comparisons,
            any_comparison,
        });
        for &arch in &self.arches {
            for name in rule.syscall_names() {
                let Some(nr) = arch_names::syscall_number(arch, name) else {
                    continue;
                };
                self.by_call.entry((arch, nr)).or_default().push(at);
                let limit = self.stub_limits.entry(arch).or_insert(nr);
                *limit = (*limit).max(nr);
            }
        }
    }

    /// Whether some call of this number and architecture could get through, whatever its
    /// arguments.
    pub fn may_allow(&self, arch: Arch, nr: u32) -> bool {
        if !self.arches.contains(&arch) {
            return false;
        }
        match self.by_call.get(&(arch, nr)) {
            Some(rules) => {
                self.default.0.lets_through()
                    || rules.iter().any(|&at| self.rules[at].action.lets_through())
            }
            None => self.default.0.lets_through(),
        }
    }

    /// The calls an applicable allow rule names, per architecture of the filter: (arch,
    /// number, name).
    pub fn allowed_calls(&self) -> Vec<(Arch, u32, String)> {
        let mut calls = Vec::new();
        for rule in self.rules.iter().filter(|r| r.action.lets_through()) {
            for &arch in &self.arches {
                for name in &rule.names {
                    if let Some(nr) = arch_names::syscall_number(arch, name) {
                        calls.push((arch, nr, name.clone()));
                    }
                }
            }
        }
        calls
    }

    /// The architectures the filter accepts calls of.
    pub fn architectures(&self) -> &BTreeSet<Arch> {
        &self.arches
    }

    pub fn decide(&self, call: &Call) -> Verdict {
        if call.arch == Arch::Undetected {
            return Verdict::Undecided {
                reason: "the event does not say which architecture's table the call used".into(),
            };
        }
        if !self.arches.contains(&call.arch) {
            return Verdict::Refused {
                action: Action::KillThread,
                errno: None,
                cause: Cause::BadArch,
            };
        }
        if self
            .stub_limits
            .get(&call.arch)
            .is_some_and(|&limit| call.nr > limit)
        {
            return Verdict::Refused {
                action: Action::Errno,
                errno: Some(libc::ENOSYS as u32),
                cause: Cause::NewerThanProfile,
            };
        }
        let naming: Vec<&Active> = self
            .by_call
            .get(&(call.arch, call.nr))
            .into_iter()
            .flatten()
            .map(|&at| &self.rules[at])
            .collect();
        let (conditional, unconditional): (Vec<&Active>, Vec<&Active>) = naming
            .into_iter()
            .partition(|rule| !rule.comparisons.is_empty());
        let fallback = unconditional.first().map_or(
            (self.default.0, self.default.1, Cause::DefaultAction),
            |rule| (rule.action, rule.errno, Cause::Rule(rule.index)),
        );
        let Some(args) = call.args else {
            let mut outcomes: BTreeSet<(&str, Option<u32>)> = conditional
                .iter()
                .map(|rule| (rule.action.as_str(), rule.errno))
                .collect();
            outcomes.insert((fallback.0.as_str(), fallback.1));
            if outcomes.len() > 1 {
                return Verdict::Undecided {
                    reason: undecided_reason(call, &conditional),
                };
            }
            return verdict(fallback);
        };
        match conditional.iter().find(|rule| rule.matches(&args)) {
            Some(rule) => verdict((rule.action, rule.errno, Cause::Rule(rule.index))),
            None => verdict(fallback),
        }
    }
}

fn verdict((action, errno, cause): (Action, Option<u32>, Cause)) -> Verdict {
    match action {
        Action::Allow => Verdict::Allowed,
        Action::Log => Verdict::Logged,
        _ => Verdict::Refused {
            action,
            errno: action.default_errno().and(errno),
            cause,
        },
    }
}

fn undecided_reason(call: &Call, conditional: &[&Active]) -> String {
    let rules: Vec<String> = conditional
        .iter()
        .map(|rule| format!("#{}", rule.index + 1))
        .collect();
    format!(
        "the profile decides {} by its arguments (rule {}), and the event has none",
        call.syscall
            .map_or_else(|| call.nr.to_string(), str::to_owned),
        rules.join(", ")
    )
}

/// The architectures a profile lists for a host, as Docker picks them.
pub(super) fn filter_arches(profile: &Profile, native: Arch) -> impl Iterator<Item = Arch> + '_ {
    let native_name = arch_names::to_scmp(native);
    let listed = profile.architectures.iter().flatten();
    let mapped = profile
        .arch_map
        .iter()
        .flatten()
        .filter(move |entry| Some(entry.architecture.as_str()) == native_name)
        .take(1)
        .flat_map(|entry| {
            std::iter::once(&entry.architecture).chain(entry.sub_architectures.iter().flatten())
        });
    listed
        .chain(mapped)
        .filter_map(|name| arch_names::from_scmp(name))
}

/// Whether Docker keeps a rule for this container on this host.
pub(super) fn applies(rule: &Rule, index: usize, ctx: &CheckContext) -> Result<bool, CheckError> {
    let host_arch = arch_names::docker_name(ctx.native);
    let arch_listed =
        |filter: &Filter| host_arch.is_some_and(|name| filter.arches.iter().any(|a| a == name));
    let kernel_reaches = |filter: &Filter| -> Result<Option<bool>, CheckError> {
        let Some(min) = &filter.min_kernel else {
            return Ok(None);
        };
        let min_version: KernelVersion = min
            .parse()
            .map_err(|source| CheckError::BadMinKernel { index, source })?;
        let kernel = ctx.kernel.ok_or_else(|| CheckError::UnknownKernel {
            index,
            min_kernel: min.clone(),
        })?;
        Ok(Some(kernel >= min_version))
    };
    if let Some(excludes) = &rule.excludes {
        if !excludes.arches.is_empty() && arch_listed(excludes) {
            return Ok(false);
        }
        if excludes.caps.iter().any(|cap| ctx.caps.contains(cap)) {
            return Ok(false);
        }
        if kernel_reaches(excludes)? == Some(true) {
            return Ok(false);
        }
    }
    if let Some(includes) = &rule.includes {
        if !includes.arches.is_empty() && !arch_listed(includes) {
            return Ok(false);
        }
        if !includes.caps.iter().all(|cap| ctx.caps.contains(cap)) {
            return Ok(false);
        }
        if kernel_reaches(includes)? == Some(false) {
            return Ok(false);
        }
    }
    Ok(true)
}
