//! `--webhook`: events POSTed to an HTTP receiver.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
#[command(next_help_heading = "Webhook sink")]
pub struct WebhookArgs {
    /// POST events as JSON lines (application/x-ndjson) to this URL (http or https).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,

    /// batch: send in the background and count what a full buffer cannot take; blocking: wait
    /// for room in the buffer instead, giving a batch up after 5 failed sends; blocking-strict:
    /// also never give a batch up.
    #[arg(long, value_enum, default_value_t = WebhookMode::Batch, requires = "webhook")]
    pub webhook_mode: WebhookMode,

    /// Events sent in one request at most.
    #[arg(long, value_name = "EVENTS", default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..), requires = "webhook")]
    pub webhook_batch_max_size: u32,

    /// How long an event waits for its batch to fill before the batch goes out (e.g. 5s, 200ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration, requires = "webhook")]
    pub webhook_batch_max_wait: Duration,

    /// Events waiting to be sent, at most; in batch mode, events past it are counted as
    /// unwritten, in the blocking modes tracer waits for room.
    #[arg(long, value_name = "EVENTS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..), requires = "webhook")]
    pub webhook_buffer_size: u32,

    /// Wait before the first retry of a failed send; each next wait doubles, up to 30s, with
    /// ±20% jitter.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration, requires = "webhook")]
    pub webhook_initial_backoff: Duration,

    /// Compress each request body with gzip (Content-Encoding: gzip).
    #[arg(long, requires = "webhook")]
    pub webhook_gzip: bool,

    /// PEM certificates to trust for an https receiver, instead of the built-in web roots.
    #[arg(long, value_name = "PATH", requires = "webhook")]
    pub webhook_ca_file: Option<PathBuf>,

    /// PEM certificate (chain) presented to the receiver; needs --webhook-client-key.
    #[arg(long, value_name = "PATH", requires_all = ["webhook", "webhook_client_key"])]
    pub webhook_client_cert: Option<PathBuf>,

    /// PEM private key of --webhook-client-cert.
    #[arg(long, value_name = "PATH", requires_all = ["webhook", "webhook_client_cert"])]
    pub webhook_client_key: Option<PathBuf>,

    /// A file holding a bearer token, sent as `Authorization: Bearer TOKEN`.
    #[arg(long, value_name = "PATH", requires = "webhook")]
    pub webhook_token_file: Option<PathBuf>,

    /// Keep batches that cannot be sent in this directory, and send them when the receiver is
    /// back, in this run or the next.
    #[arg(long, value_name = "DIR", requires = "webhook")]
    pub webhook_spool: Option<PathBuf>,

    /// The spool's size at most (e.g. 100M); batches that do not fit are counted as unwritten.
    #[arg(long, value_name = "BYTES", default_value = "100M", value_parser = super::parse_size, requires = "webhook_spool")]
    pub webhook_spool_max_size: u64,
}

/// Values of `--webhook-mode`, as kube-apiserver's audit webhook names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WebhookMode {
    Batch,
    Blocking,
    BlockingStrict,
}

/// A duration: `5s`, `200ms`, `1m`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 5s, 200ms)"))?;
    Duration::try_from_secs_f64(number * scale)
        .map_err(|_| format!("{text:?} is not a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Audit, Cli, Command};
    use clap::Parser as _;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn defaults_follow_kube_apiservers_audit_webhook() {
        let cli =
            Cli::try_parse_from(["tracer", "audit", "seccomp", "--webhook", "http://x/"]).unwrap();
        let Command::Audit(Audit::Seccomp(args)) = cli.command else {
            panic!("not audit seccomp");
        };
        let w = args.webhook;
        assert_eq!(w.webhook_mode, WebhookMode::Batch);
        assert_eq!(w.webhook_batch_max_size, 400);
        assert_eq!(w.webhook_batch_max_wait, Duration::from_secs(5));
        assert_eq!(w.webhook_buffer_size, 10_000);
        assert_eq!(w.webhook_initial_backoff, Duration::from_secs(1));
        assert_eq!(w.webhook_spool_max_size, 100 << 20);
    }

    #[test]
    fn webhook_options_need_a_webhook() {
        let err = Cli::try_parse_from(["tracer", "audit", "seccomp", "--webhook-gzip"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--webhook <URL>"), "{err}");
        let err = Cli::try_parse_from([
            "tracer",
            "audit",
            "seccomp",
            "--webhook",
            "http://x/",
            "--webhook-client-cert",
            "c.pem",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("--webhook-client-key"), "{err}");
    }
}
