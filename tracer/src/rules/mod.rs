//! `--rules`: ordered rules that pick, for each event, how much it carries (its level), drop it,
//! or mark it with a rule's name, severity, tags and message. The first rule an event matches
//! decides (as in kube-apiserver's audit policy); an event no rule matches gets the files'
//! `default-level`. Files are in tracer's own format or KubeArmor's `KubeArmorPolicy`
//! (docs/rules.md).
//!
//! [`load`] reads the files with the line and column of every error, [`kubearmor`] turns a
//! policy into rules, [`compiled`] matches an event against them without allocating, and
//! [`level`] trims an event to what its level keeps.

pub mod compiled;
pub mod event_line;
pub mod facts;
pub mod kubearmor;
pub mod level;
pub mod load;
pub mod model;
mod yaml;

pub use compiled::{RuleSet, Verdict};
pub use level::Level;
pub use load::{Loaded, RulesError, Warning, load_files};
pub use model::Rule;

use crate::events::Event;

impl RuleSet {
    /// What the rules make of `event`: `None` when its level is `none` (dropped), else the
    /// event trimmed to its level and marked with the rule it matched.
    pub fn apply(&self, mut event: Event) -> Option<Event> {
        let verdict = self.decide(&event);
        if verdict.level == Level::None {
            return None;
        }
        level::trim(&mut event, verdict.level);
        if let Some(rule) = verdict.rule {
            event.rule = Some(rule.name.clone());
            event.severity = rule.severity;
            event.tags.clone_from(&rule.tags);
            event.message.clone_from(&rule.message);
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests;
