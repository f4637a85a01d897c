//! Options for the volume of events: `--dedup`, `--rate-limit` and the live `--summary` table.

use std::time::Duration;

use clap::Args;

use crate::volume::{Rate, RateKeyKind, RateLimitOptions, VolumeOptions};

#[derive(Debug, Args)]
#[command(next_help_heading = "Volume")]
pub struct VolumeArgs {
    /// Show the first call of each container, syscall, code and arch at once, hold back its
    /// repeats for this long (e.g. 1s, 30s, 500ms), then send one summary event counting them.
    /// Kills always go out.
    #[arg(long, value_name = "WINDOW", value_parser = parse_window)]
    pub dedup: Option<Duration>,

    /// Let at most this many calls a second (N/s, N/m or N/h) of each key out; a summary event
    /// counts the ones held back, once a second. Kills always go out.
    #[arg(long, value_name = "N/s")]
    pub rate_limit: Option<Rate>,

    /// With --rate-limit: how many calls a key may send at once after a quiet spell (default:
    /// one second's worth of the rate).
    #[arg(
        long,
        value_name = "N",
        requires = "rate_limit",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub rate_limit_burst: Option<u32>,

    /// With --rate-limit: what shares one rate: each container and syscall, each container,
    /// or each syscall.
    #[arg(
        long,
        value_enum,
        value_name = "KEY",
        requires = "rate_limit",
        default_value_t = RateKeyKind::ContainerSyscall
    )]
    pub rate_limit_key: RateKeyKind,

    /// Instead of one line per event, a table of container, syscall, code, count and last
    /// seen: redrawn every second on a terminal, printed once at stop otherwise.
    #[arg(long, conflicts_with = "output")]
    pub summary: bool,
}

impl VolumeArgs {
    pub fn options(&self) -> VolumeOptions {
        VolumeOptions {
            dedup: self.dedup,
            rate_limit: self.rate_limit.map(|rate| RateLimitOptions {
                rate,
                burst: self.rate_limit_burst.unwrap_or_else(|| {
                    rate.per_second.ceil().clamp(1.0, f64::from(u32::MAX)) as u32
                }),
                key: self.rate_limit_key,
            }),
        }
    }
}

fn parse_window(text: &str) -> Result<Duration, String> {
    let window = super::webhook::parse_duration(text)?;
    if window.is_zero() {
        return Err(format!(
            "{text:?}: a dedup window must be longer than zero (e.g. 1s); leave --dedup out to \
             show every call"
        ));
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Audit, Cli, Command};
    use clap::Parser as _;

    fn parse(args: &[&str]) -> Result<VolumeArgs, String> {
        let mut all = vec!["tracer", "audit", "seccomp"];
        all.extend_from_slice(args);
        let cli = Cli::try_parse_from(all).map_err(|e| e.to_string())?;
        let Command::Audit(Audit::Seccomp(args)) = cli.command else {
            panic!("not audit seccomp");
        };
        Ok(args.volume)
    }

    #[test]
    fn parses_windows_rates_and_keys() {
        let args = parse(&["--dedup", "30s", "--rate-limit", "100/s"]).unwrap();
        let options = args.options();
        assert_eq!(options.dedup, Some(Duration::from_secs(30)));
        let limit = options.rate_limit.unwrap();
        assert_eq!((limit.rate.per_second, limit.burst), (100.0, 100));
        assert_eq!(limit.key, RateKeyKind::ContainerSyscall);
        let args = parse(&[
            "--rate-limit",
            "30/m",
            "--rate-limit-burst",
            "5",
            "--rate-limit-key",
            "container",
        ])
        .unwrap();
        let limit = args.options().rate_limit.unwrap();
        assert_eq!((limit.rate.per_second, limit.burst), (0.5, 5));
        assert_eq!(limit.key, RateKeyKind::Container);
        assert!(!parse(&[]).unwrap().options().any());
    }

    #[test]
    fn bad_values_say_what_to_write() {
        let err = parse(&["--dedup", "0s"]).unwrap_err();
        assert!(err.contains("longer than zero"), "{err}");
        let err = parse(&["--rate-limit", "100"]).unwrap_err();
        assert!(err.contains("such as 100/s"), "{err}");
        let err = parse(&["--rate-limit-burst", "5"]).unwrap_err();
        assert!(err.contains("--rate-limit"), "{err}");
        let err = parse(&["--rate-limit", "1/s", "--rate-limit-burst", "0"]).unwrap_err();
        assert!(err.contains("0"), "{err}");
        let err = parse(&["--summary", "-o", "json"]).unwrap_err();
        assert!(err.contains("cannot be used with"), "{err}");
        assert!(parse(&["--summary"]).unwrap().summary);
    }
}
