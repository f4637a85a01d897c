use std::{io::IsTerminal as _, process::ExitCode, time::Duration};

use clap::{CommandFactory as _, FromArgMatches as _};
use tracer::cli::{Audit, Cli, Command};
use tracing_subscriber::EnvFilter;

/// What clap exits with on a usage error; a config file's errors are usage errors too.
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = match parse_arguments() {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("tracer: error: {error:#}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    // Colour only for a person at a terminal: escape codes would litter files and journald.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    // One thread is plenty: the work is a wake-up per batch of events.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tracer: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // `profile` commands exit 1 when a check finds something, so their errors exit 2.
    let error_code = match cli.command {
        Command::Profile(_) => tracer::commands::profile::ERROR,
        Command::Audit(_) | Command::Rules(_) | Command::GenerateDocs(_) => 1,
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Audit(Audit::Seccomp(args)) => tracer::commands::audit_seccomp::run(*args)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Profile(command) => tracer::commands::profile::run(command).await,
            Command::Rules(command) => tracer::commands::rules::run(command),
            Command::GenerateDocs(args) => {
                tracer::commands::docs::generate(&args.out).map(|()| ExitCode::SUCCESS)
            }
        }
    });
    // A sink's writer blocked on a reader that stopped reading must not keep tracer alive: what
    // it held is already counted as unwritten.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tracer: error: {error:#}");
            ExitCode::from(error_code)
        }
    }
}

/// The command line, with `--config`'s file read into it: the file's keys go before the command
/// line's flags, and a flag the command line gives leaves the file's key of it out.
fn parse_arguments() -> anyhow::Result<Cli> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let root = Cli::command();
    let matches = root.clone().get_matches_from(&argv);
    let seccomp = matches
        .subcommand_matches("audit")
        .and_then(|audit| audit.subcommand_matches("seccomp"));
    let config = seccomp.and_then(|m| m.get_one::<std::path::PathBuf>("config"));
    let (Some(given), Some(path)) = (seccomp, config) else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    // tracer has no global flags and `audit seccomp` no aliases: its flags start at the fourth.
    let merged = tracer::config::merged_arguments(&root, path, given, &argv[3..])?;
    let matches = root.get_matches_from(argv.iter().take(1).cloned().chain(merged));
    Ok(Cli::from_arg_matches(&matches)?)
}
