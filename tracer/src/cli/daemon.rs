//! Options for running unattended: the config file and the metrics endpoint.

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;

#[derive(Debug, Args)]
#[command(next_help_heading = "Running as a node daemon")]
pub struct DaemonArgs {
    /// Read options from this YAML file; flags given on the command line override it.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Serve Prometheus metrics (text format) on this address, at /metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}
