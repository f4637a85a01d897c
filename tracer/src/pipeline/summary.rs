//! The counts a run reports when it ends.

use std::fmt;

use crate::{events::summary::Reason, filter::profile_check::CheckOutcome};

/// What happened to the events of a run, counted the same way for every source.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records the source handed over, decodable or not.
    pub delivered: u64,
    /// Events that never reached tracer (see the source's warnings for why).
    pub lost: u64,
    /// Events that passed the filter and went to the sinks.
    pub shown: u64,
    /// Records that could not be decoded.
    pub undecodable: u64,
    /// Events a sink could not write.
    pub unwritten: u64,
    /// Events kept on disk for the next run to send (`--webhook-spool`).
    pub spooled: u64,
    /// API requests made to each runtime asked (`docker`, `podman`, `containerd`).
    pub runtime_api_calls: Vec<(&'static str, u64)>,
    /// Audit records the kernel counted as lost although tracer received them.
    pub counted_but_delivered: u64,
    /// Stacks that went out as the kernel read them, not symbolized in time.
    pub unsymbolized: u64,
    /// Events a rule's level `none` dropped (`--rules`).
    pub dropped_by_rules: u64,
    /// What `--check` found.
    pub check: Option<CheckOutcome>,
    /// Calls `--dedup` held back, and `--rate-limit`; summary events counted them.
    pub held_by_dedup: u64,
    pub held_by_rate_limit: u64,
    /// Summary events sent.
    pub summaries: u64,
}

impl Summary {
    pub fn held_back(&mut self, reason: Reason) {
        match reason {
            Reason::Dedup => self.held_by_dedup += 1,
            Reason::RateLimit => self.held_by_rate_limit += 1,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events delivered, {} lost, {} shown",
            self.delivered, self.lost, self.shown
        )?;
        if self.undecodable > 0 {
            write!(f, ", {} undecodable", self.undecodable)?;
        }
        if self.unwritten > 0 {
            write!(f, ", {} unwritten", self.unwritten)?;
        }
        if self.spooled > 0 {
            write!(f, ", {} spooled for the next run", self.spooled)?;
        }
        for (runtime, calls) in &self.runtime_api_calls {
            let runtime = if *runtime == "docker" {
                "Docker"
            } else {
                runtime
            };
            write!(f, ", {calls} {runtime} API calls")?;
        }
        if self.counted_but_delivered > 0 {
            write!(
                f,
                ", {} counted lost by the kernel but delivered",
                self.counted_but_delivered
            )?;
        }
        if self.unsymbolized > 0 {
            write!(f, ", {} stacks not symbolized in time", self.unsymbolized)?;
        }
        if self.held_by_dedup > 0 {
            write!(f, ", {} held back by --dedup", self.held_by_dedup)?;
        }
        if self.held_by_rate_limit > 0 {
            write!(f, ", {} held back by --rate-limit", self.held_by_rate_limit)?;
        }
        if self.summaries > 0 {
            write!(f, ", {} summaries", self.summaries)?;
        }
        if self.dropped_by_rules > 0 {
            write!(f, ", {} dropped by rules", self.dropped_by_rules)?;
        }
        if let Some(check) = &self.check {
            write!(
                f,
                ", {} the profile would refuse, {} undecided",
                check.refused, check.undecided
            )?;
        }
        if self.lost > 0 || self.unwritten > 0 {
            write!(f, " (see the warnings above for why)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_only_the_counts_that_matter() {
        let quiet = Summary {
            delivered: 3,
            shown: 2,
            ..Summary::default()
        };
        assert_eq!(quiet.to_string(), "3 events delivered, 0 lost, 2 shown");
        let everything = Summary {
            delivered: 10,
            lost: 2,
            shown: 8,
            undecodable: 1,
            unwritten: 4,
            spooled: 6,
            runtime_api_calls: vec![("docker", 5), ("containerd", 9)],
            counted_but_delivered: 7,
            unsymbolized: 3,
            dropped_by_rules: 9,
            check: Some(CheckOutcome {
                refused: 2,
                undecided: 1,
                ..CheckOutcome::default()
            }),
            held_by_dedup: 9,
            held_by_rate_limit: 4,
            summaries: 2,
        };
        assert_eq!(
            everything.to_string(),
            "10 events delivered, 2 lost, 8 shown, 1 undecodable, 4 unwritten, 6 spooled for the next run, \
             5 Docker API calls, 9 containerd API calls, 7 counted lost by the kernel but delivered, 3 stacks not symbolized in time, \
             9 held back by --dedup, 4 held back by --rate-limit, 2 summaries, 9 dropped by rules, 2 the profile would refuse, 1 undecided (see the warnings above for why)"
        );
    }
}
