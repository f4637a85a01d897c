//! `--webhook`: events POSTed to an HTTP receiver.

use clap::Args;

#[derive(Debug, Args)]
#[command(next_help_heading = "Webhook sink")]
pub struct WebhookArgs {
    /// POST events as JSON to this URL (http or https).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
}
