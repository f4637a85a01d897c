//! `--output-file` and its rotation: JSON lines written to a file for a log shipper.

use std::{path::PathBuf, time::Duration};

use clap::Args;

#[derive(Debug, Args)]
#[command(next_help_heading = "File sink")]
pub struct OutputFileArgs {
    /// Also write every event as a JSON line (as -o json prints it) to this file, besides
    /// standard output. SIGHUP reopens it (for logrotate).
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,

    /// Rotate the file before it grows past this size (e.g. 100M, 512K); 0 never rotates.
    #[arg(
        long,
        value_name = "BYTES",
        default_value = "100M",
        value_parser = super::parse_size,
        requires = "output_file"
    )]
    pub output_file_max_size: u64,

    /// Rotated files to keep, the newest; 0 keeps any number.
    #[arg(
        long,
        value_name = "COUNT",
        default_value_t = 5,
        requires = "output_file"
    )]
    pub output_file_max_backups: usize,

    /// Delete rotated files older than this (e.g. 7d, 24h, 30m, or seconds).
    #[arg(long, value_name = "AGE", value_parser = parse_age, requires = "output_file")]
    pub output_file_max_age: Option<Duration>,

    /// Gzip rotated files (in the background; PATH.<time>.gz).
    #[arg(long, requires = "output_file")]
    pub output_file_compress: bool,

    /// Permissions of the file and its rotated copies, in octal, kept whatever the umask.
    #[arg(
        long,
        value_name = "OCTAL",
        default_value = "0600",
        value_parser = parse_mode,
        requires = "output_file"
    )]
    pub output_file_mode: u32,
}

/// An age with a unit: 7d, 24h, 30m, 90s, or a number of seconds.
fn parse_age(text: &str) -> Result<Duration, String> {
    let unit_seconds = match text.chars().last() {
        Some('d') => Some(86_400.0),
        Some('h') => Some(3_600.0),
        Some('m') => Some(60.0),
        Some('s') => Some(1.0),
        _ => None,
    };
    let (number, unit_seconds) = match unit_seconds {
        Some(unit) => (&text[..text.len() - 1], unit),
        None => (text, 1.0),
    };
    let seconds = super::parse_seconds(number)
        .map_err(|_| format!("{text:?} is not an age: use e.g. 7d, 24h, 30m or 90s"))?;
    Duration::try_from_secs_f64(seconds.as_secs_f64() * unit_seconds)
        .map_err(|_| format!("{text:?} is too long an age"))
}

/// File permission bits in octal: 0640, 640.
fn parse_mode(text: &str) -> Result<u32, String> {
    let mode = u32::from_str_radix(text, 8)
        .map_err(|_| format!("{text:?} is not an octal mode: use e.g. 0640"))?;
    if mode > 0o777 {
        return Err(format!(
            "{text:?}: a log file's mode takes read, write and execute bits only (at most 0777)"
        ));
    }
    if mode & 0o200 == 0 {
        return Err(format!(
            "{text:?} leaves the owner unable to write: tracer reopens the file on SIGHUP, so \
             give the owner write permission (e.g. 0640)"
        ));
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Audit, Cli, Command};
    use clap::Parser as _;

    fn parse(args: &[&str]) -> Result<OutputFileArgs, String> {
        let mut all = vec!["tracer", "audit", "seccomp"];
        all.extend_from_slice(args);
        let cli = Cli::try_parse_from(all).map_err(|e| e.to_string())?;
        let Command::Audit(Audit::Seccomp(args)) = cli.command else {
            panic!("not audit seccomp");
        };
        Ok(args.output_file)
    }

    #[test]
    fn defaults_and_every_option() {
        let args = parse(&["--output-file", "/var/log/e.jsonl"]).unwrap();
        assert_eq!(args.output_file_max_size, 100 << 20);
        assert_eq!(args.output_file_max_backups, 5);
        assert_eq!(args.output_file_max_age, None);
        assert!(!args.output_file_compress);
        assert_eq!(args.output_file_mode, 0o600);
        let args = parse(&[
            "--output-file",
            "e.jsonl",
            "--output-file-max-size",
            "512K",
            "--output-file-max-backups",
            "0",
            "--output-file-max-age",
            "7d",
            "--output-file-compress",
            "--output-file-mode",
            "0640",
        ])
        .unwrap();
        assert_eq!(args.output_file_max_size, 512 << 10);
        assert_eq!(args.output_file_max_backups, 0);
        assert_eq!(
            args.output_file_max_age,
            Some(Duration::from_secs(7 * 86_400))
        );
        assert!(args.output_file_compress);
        assert_eq!(args.output_file_mode, 0o640);
    }

    #[test]
    fn rotation_options_need_the_file() {
        let err = parse(&["--output-file-max-size", "1M"]).unwrap_err();
        assert!(err.contains("--output-file <PATH>"), "{err}");
    }

    #[test]
    fn ages_take_units() {
        assert_eq!(parse_age("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_age("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("1.5d"), Ok(Duration::from_secs(129_600)));
        assert!(parse_age("7w").unwrap_err().contains("7d, 24h"));
        assert!(parse_age("d").is_err());
    }

    #[test]
    fn modes_are_octal_and_writable() {
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert!(parse_mode("0980").unwrap_err().contains("octal"));
        assert!(parse_mode("4755").unwrap_err().contains("at most 0777"));
        assert!(parse_mode("0440").unwrap_err().contains("write"));
    }
}
