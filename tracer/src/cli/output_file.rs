//! `--output-file` and its rotation: JSON lines written to a file for a log shipper.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
#[command(next_help_heading = "File sink")]
pub struct OutputFileArgs {
    /// Also write every event as a JSON line to this file (besides standard output).
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
}
