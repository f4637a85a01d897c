//! `--config FILE`: a YAML file whose keys are the long names of `tracer audit seccomp`'s flags
//! (docs/config.md). The file becomes the flags' own arguments, placed before the command
//! line's, so clap parses and checks both alike; a flag given on the command line replaces the
//! file's key of that flag whole (a list included), and a key the file leaves out keeps the
//! flag's default.

pub mod file;
pub mod keys;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use clap::{ArgMatches, Command, parser::ValueSource};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} line {line} column {column}: {problem}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
        problem: Problem,
    },
    #[error(
        "config file {} line {line} column {column} is not valid YAML: {reason}",
        path.display()
    )]
    Yaml {
        path: PathBuf,
        line: usize,
        column: usize,
        /// The YAML parser's reason, which carries no source error of its own.
        reason: String,
    },
}

/// What is wrong with a key or its value.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum Problem {
    #[error(
        "unknown key `{key}`{}: keys are the long names of `tracer audit seccomp`'s flags \
         ({})",
        suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(),
        known.join(", ")
    )]
    UnknownKey {
        key: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    #[error(
        "the file must be a mapping of flag names to values, such as `output: json` on a line \
         of its own"
    )]
    NotAMapping,
    #[error("the file holds more than one YAML document: remove the `---` and what follows")]
    SecondDocument,
    #[error("`{key}` {reason}")]
    BadValue { key: String, reason: String },
}

/// `audit seccomp` in tracer's command tree: the command whose flags are the keys.
pub fn seccomp_command(root: &Command) -> Command {
    root.find_subcommand("audit")
        .and_then(|audit| audit.find_subcommand("seccomp"))
        .expect("tracer has `audit seccomp`")
        .clone()
}

/// The arguments of `tracer audit seccomp` with the file's settings placed before the command
/// line's own (`command_line`: everything after `seccomp`), leaving out every key whose flag
/// the command line gives (`given`: the command line's matches of `audit seccomp`).
pub fn merged_arguments(
    root: &Command,
    path: &Path,
    given: &ArgMatches,
    command_line: &[OsString],
) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let settings = file::parse(path, &text, &seccomp_command(root))?;
    let from_file = settings
        .into_iter()
        .filter(|setting| given.value_source(&setting.key.id) != Some(ValueSource::CommandLine))
        .flat_map(|setting| setting.args)
        .map(OsString::from);
    Ok(["audit", "seccomp"]
        .into_iter()
        .map(OsString::from)
        .chain(from_file)
        .chain(command_line.iter().cloned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Audit, Cli, Command as Sub, SeccompArgs};
    use clap::{CommandFactory as _, FromArgMatches as _};
    use std::{io::Write as _, time::Duration};

    /// Parses `tracer audit seccomp ARGS` with a config file holding `yaml`, as main does.
    fn with_file(yaml: &str, args: &[&str]) -> SeccompArgs {
        let mut file = tempfile_in_target();
        file.1.write_all(yaml.as_bytes()).unwrap();
        let root = Cli::command();
        let argv: Vec<OsString> = ["tracer", "audit", "seccomp"]
            .iter()
            .chain(args)
            .map(OsString::from)
            .collect();
        let matches = root.clone().try_get_matches_from(&argv).unwrap();
        let given = matches
            .subcommand_matches("audit")
            .and_then(|m| m.subcommand_matches("seccomp"))
            .unwrap();
        let merged = merged_arguments(&root, &file.0, given, &argv[3..]).unwrap();
        let _ = std::fs::remove_file(&file.0);
        let matches = root
            .try_get_matches_from(std::iter::once(OsString::from("tracer")).chain(merged))
            .unwrap();
        match Cli::from_arg_matches(&matches).unwrap().command {
            Sub::Audit(Audit::Seccomp(args)) => *args,
            _ => unreachable!(),
        }
    }

    fn tempfile_in_target() -> (PathBuf, std::fs::File) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tracer-config-{}-{n}.yaml", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }

    #[test]
    fn the_file_sets_what_the_command_line_does_not() {
        let args = with_file("output: json\ntimeout: 3\nhost: true\n", &[]);
        assert_eq!(args.output, crate::output::OutputFormat::Json);
        assert_eq!(args.timeout, Some(Duration::from_secs(3)));
        assert!(args.host);
    }

    #[test]
    fn the_command_line_overrides_the_file_key_by_key() {
        let yaml = "output: json\ntimeout: 3\ncontainername: [web, db]\nhost: true\n";
        let args = with_file(yaml, &["--timeout", "7", "-c", "api"]);
        assert_eq!(args.timeout, Some(Duration::from_secs(7)));
        // A list given on the command line replaces the file's whole, not adds to it.
        assert_eq!(args.containers.names, ["api"]);
        assert_eq!(args.output, crate::output::OutputFormat::Json);
        assert!(args.host);
        let args = with_file(yaml, &["-o", "columns"]);
        assert_eq!(args.output, "columns".parse().unwrap());
        assert_eq!(args.containers.names, ["web", "db"]);
    }

    #[test]
    fn a_switch_the_file_leaves_off_can_be_turned_on() {
        let args = with_file("host: false\n", &["--host"]);
        assert!(args.host);
        let args = with_file("host: false\n", &[]);
        assert!(!args.host);
    }
}
