//! The kernel's own account of a BPF program's cost: how often it ran and for how long
//! (`bpf_prog_info.run_cnt` and `run_time_ns`), kept only while statistics are enabled.

use std::{io, os::fd::OwnedFd};

use aya::{
    programs::loaded_programs,
    sys::{Stats, enable_stats},
};

/// Statistics stay on while this lives; the kernel stops counting once it is dropped.
pub struct Enabled(#[allow(dead_code)] OwnedFd);

/// Turns the counting on. It is left off otherwise because it adds two clock reads to every
/// program run, which would weigh on the timed calls it is not meant to measure.
pub fn enable() -> io::Result<Enabled> {
    enable_stats(Stats::RunTime)
        .map(Enabled)
        .map_err(|error| io::Error::other(format!("cannot enable BPF statistics: {error}")))
}

/// Runs and run time of a program, summed over every loaded program of that name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub runs: u64,
    pub run_time_ns: u64,
}

impl Counts {
    /// Nanoseconds per run between two readings; NaN when the program did not run.
    pub fn ns_per_run_since(self, before: Counts) -> f64 {
        let runs = self.runs.saturating_sub(before.runs);
        if runs == 0 {
            return f64::NAN;
        }
        self.run_time_ns.saturating_sub(before.run_time_ns) as f64 / runs as f64
    }

    pub fn runs_since(self, before: Counts) -> u64 {
        self.runs.saturating_sub(before.runs)
    }
}

/// The counts of the loaded programs named `name` (the kernel keeps 15 bytes of a name).
pub fn of(name: &str) -> io::Result<Counts> {
    let mut counts = Counts::default();
    let mut found = false;
    for info in loaded_programs() {
        let info =
            info.map_err(|error| io::Error::other(format!("cannot list BPF programs: {error}")))?;
        if info.name_as_str() == Some(kernel_name(name)) {
            found = true;
            counts.runs += info.run_count();
            counts.run_time_ns += info.run_time().as_nanos() as u64;
        }
    }
    if !found {
        return Err(io::Error::other(format!("no BPF program {name} is loaded")));
    }
    Ok(counts)
}

/// A program's name as the kernel keeps it (`BPF_OBJ_NAME_LEN` is 16, with the NUL).
fn kernel_name(name: &str) -> &str {
    &name[..name.len().min(15)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_run_cost_between_readings() {
        let before = Counts {
            runs: 10,
            run_time_ns: 1_000,
        };
        let after = Counts {
            runs: 20,
            run_time_ns: 6_000,
        };
        assert_eq!(after.ns_per_run_since(before), 500.0);
        assert!(before.ns_per_run_since(before).is_nan());
        assert_eq!(kernel_name("a_very_long_program_name"), "a_very_long_pro");
    }
}
