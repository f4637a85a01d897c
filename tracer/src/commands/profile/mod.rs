//! `tracer profile`: one file per subcommand. Exit codes: 0 when all is well, 1 when a check
//! found something (`check`, `merge --check`), 2 when the command could not run.

pub mod audit_mode;
pub mod check;
pub mod merge;
pub mod record;
pub mod record_live;

use std::process::ExitCode;

use crate::cli::ProfileCommand;

/// What a check found.
pub const FOUND: u8 = 1;
/// The command could not run: a file was unreadable or malformed.
pub const ERROR: u8 = 2;

pub async fn run(command: ProfileCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProfileCommand::Record(args) => record::run(&args).await.map(|()| ExitCode::SUCCESS),
        ProfileCommand::AuditMode(args) => audit_mode::run(&args).map(|()| ExitCode::SUCCESS),
        ProfileCommand::Merge(args) => merge::run(&args),
        ProfileCommand::Check(args) => check::run(&args),
    }
}

/// Writes `text` to stdout, ending quietly when the reader has gone (`| head`).
fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
