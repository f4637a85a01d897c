//! What the kernel says a process has used: CPU time and memory, from /proc.

use std::{fs, io, time::Duration};

/// User plus system CPU time a process has used so far.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (utime, stime) = parse_cpu_ticks(&stat)
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/stat has no CPU times: {stat}")))?;
    // SAFETY: sysconf with a valid name has no side effects.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos(
        (utime + stime) * 1_000_000_000 / ticks_per_second,
    ))
}

/// utime and stime, the 14th and 15th fields; the command in parentheses may hold spaces.
fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace().skip(11);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// Resident memory now and at its peak, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub rss: u64,
    pub peak_rss: u64,
}

pub fn memory(pid: u32) -> io::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_memory(&status)
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/status has no VmRSS or VmHWM")))
}

fn parse_memory(status: &str) -> Option<Memory> {
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    Some(Memory {
        rss: kib("VmRSS:")? * 1024,
        peak_rss: kib("VmHWM:")? * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_after_a_command_with_spaces() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some((7, 3)));
    }

    #[test]
    fn memory_from_status() {
        let status = "Name:\ttracer\nVmHWM:\t   45056 kB\nVmRSS:\t   33792 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss: 33_792 * 1024,
                peak_rss: 45_056 * 1024
            })
        );
    }

    #[test]
    fn this_process_has_used_memory() {
        let memory = memory(std::process::id()).unwrap();
        assert!(memory.rss > 0 && memory.peak_rss >= memory.rss);
    }
}
