//! Reading a config file: a YAML mapping of flag names to values, turned into the flags' own
//! arguments. Each key is checked against the command's flags, and each value by clap's own
//! parser of that flag, with the node's place in the file, so an error points at the line and
//! column at fault. (serde_yaml_ng locates only its own errors: one raised while a nested value
//! is deserialized is placed at the start of the document.)

use std::path::Path;

use clap::Command;
use saphyr::{LoadableYamlNode as _, MarkedYaml, Scalar, YamlData};

use super::{
    ConfigError, Problem,
    keys::{self, Key, Kind},
};

/// The arguments one key of the file stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub key: Key,
    /// `--name=value` arguments (the `=` form, so a value that starts with `-` stays a value).
    pub args: Vec<String>,
}

/// Reads `text`, the contents of the config file at `path`, for `command` (the subcommand whose
/// flags are the keys).
pub fn parse(path: &Path, text: &str, command: &Command) -> Result<Vec<Setting>, ConfigError> {
    let located = |span: &saphyr_parser::Span, problem| ConfigError::At {
        path: path.to_owned(),
        line: span.start.line(),
        column: span.start.col() + 1,
        problem,
    };
    let documents = MarkedYaml::load_from_str(text).map_err(|error| ConfigError::Yaml {
        path: path.to_owned(),
        line: error.marker().line(),
        column: error.marker().col() + 1,
        reason: error.info().to_owned(),
    })?;
    let mut documents = documents.into_iter();
    let Some(document) = documents.next() else {
        // An empty file, or one of comments only, sets nothing.
        return Ok(Vec::new());
    };
    if let Some(extra) = documents.next() {
        return Err(located(&extra.span, Problem::SecondDocument));
    }
    let mapping = match &document.data {
        YamlData::Mapping(mapping) => mapping,
        YamlData::Value(Scalar::Null) => return Ok(Vec::new()),
        _ => return Err(located(&document.span, Problem::NotAMapping)),
    };
    let keys = keys::keys(command);
    let mut settings = Vec::new();
    for (name, value) in mapping {
        let Some(name_text) = name.data.as_str() else {
            return Err(located(&name.span, Problem::NotAMapping));
        };
        let Some(key) = keys.iter().find(|key| key.name == name_text) else {
            return Err(located(
                &name.span,
                Problem::UnknownKey {
                    key: name_text.to_owned(),
                    suggestion: keys::closest(name_text, &keys).map(str::to_owned),
                    known: keys.iter().map(|key| key.name.clone()).collect(),
                },
            ));
        };
        let args = arguments(key, value)
            .and_then(|args| check(command, key, &args).map(|()| args))
            .map_err(|reason| {
                located(
                    &value.span,
                    Problem::BadValue {
                        key: key.name.clone(),
                        reason,
                    },
                )
            })?;
        settings.push(Setting {
            key: key.clone(),
            args,
        });
    }
    Ok(settings)
}

/// The flag's arguments for `value`, or why it does not fit the flag.
fn arguments(key: &Key, value: &MarkedYaml) -> Result<Vec<String>, String> {
    let flag = |value: &str| format!("--{}={value}", key.name);
    match (key.kind, &value.data) {
        // Nothing set: the flag's default.
        (_, YamlData::Value(Scalar::Null)) => Ok(Vec::new()),
        (Kind::Switch | Kind::OptionalValue, YamlData::Value(Scalar::Boolean(true))) => {
            Ok(vec![format!("--{}", key.name)])
        }
        (Kind::Switch | Kind::OptionalValue, YamlData::Value(Scalar::Boolean(false))) => {
            Ok(Vec::new())
        }
        (Kind::Switch, _) => Err(format!(
            "is a flag without a value: write `{0}: true` or `{0}: false`",
            key.name
        )),
        (Kind::List, YamlData::Sequence(items)) => items
            .iter()
            .map(|item| {
                scalar(item)
                    .map(|text| flag(&text))
                    .ok_or_else(|| "takes a list of values, not of lists or mappings".to_owned())
            })
            .collect(),
        (_, _) => scalar(value).map(|text| vec![flag(&text)]).ok_or_else(|| {
            format!(
                "takes one value, such as `{}: VALUE`, not a list or mapping",
                key.name
            )
        }),
    }
}

/// A scalar's text as it would be written on the command line.
fn scalar(node: &MarkedYaml) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(text)) => Some(text.to_string()),
        YamlData::Value(Scalar::Integer(n)) => Some(n.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Representation(text, ..) => Some(text.to_string()),
        _ => None,
    }
}

/// Lets the flag's own parser judge `args`, as it would on the command line.
fn check(command: &Command, key: &Key, args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        return Ok(());
    }
    let name = command.get_name().to_owned();
    command
        .clone()
        .try_get_matches_from(std::iter::once(name).chain(args.iter().cloned()))
        .map(drop)
        .or_else(|error| match error.kind() {
            // About the key's company, not its value (`output-file-mode` needs `output-file`):
            // judged once the whole file and command line are parsed together.
            clap::error::ErrorKind::MissingRequiredArgument
            | clap::error::ErrorKind::ArgumentConflict => Ok(()),
            _ => Err(clap_reason(&error, key)),
        })
}

/// clap's message up to its first blank line (what follows is usage and `--help`), on one line,
/// without its `error: ` prefix.
fn clap_reason(error: &clap::Error, key: &Key) -> String {
    let rendered = error.render().to_string();
    let reason = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let reason = reason.strip_prefix("error: ").unwrap_or(&reason).trim();
    if reason.is_empty() {
        format!("is not a valid value of --{}", key.name)
    } else {
        reason.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::CommandFactory as _;

    fn parse_text(text: &str) -> Result<Vec<Setting>, ConfigError> {
        let command = crate::config::seccomp_command(&Cli::command());
        parse(Path::new("tracer.yaml"), text, &command)
    }

    fn args(text: &str) -> Vec<String> {
        parse_text(text)
            .unwrap_or_else(|error| panic!("{error:?}"))
            .into_iter()
            .flat_map(|setting| setting.args)
            .collect()
    }

    fn located(text: &str) -> (usize, usize, String) {
        match parse_text(text) {
            Err(ConfigError::At {
                line,
                column,
                problem,
                ..
            }) => (line, column, problem.to_string()),
            other => panic!("expected a located problem, got {other:?}"),
        }
    }

    #[test]
    fn turns_keys_into_their_flags() {
        let text = "\
# a node's settings
output: json
timeout: 2.5
host: true
all-denials: false
runtimes: [docker]
containername:
  - web
  - db
stack: all
output-file: /var/log/tracer.jsonl
ring-buffer-size: 4096
";
        assert_eq!(
            args(text),
            [
                "--output=json",
                "--timeout=2.5",
                "--host",
                "--runtimes=docker",
                "--containername=web",
                "--containername=db",
                "--stack=all",
                "--output-file=/var/log/tracer.jsonl",
                "--ring-buffer-size=4096",
            ]
        );
        assert_eq!(
            args("stack: true\ncontainername: web,db\n"),
            ["--stack", "--containername=web,db"]
        );
        assert_eq!(
            args("rules: [/etc/tracer/levels.yaml, policy.yaml]\n"),
            ["--rules=/etc/tracer/levels.yaml", "--rules=policy.yaml"]
        );
        assert!(args("").is_empty());
        assert!(args("# nothing set\n").is_empty());
        assert!(args("timeout: ~\n").is_empty());
    }

    #[test]
    fn an_unknown_key_is_located_and_the_close_one_suggested() {
        let (line, column, message) = located(
            "output: json\n\n  outptu: json\n"
                .replace("  ", "")
                .as_str(),
        );
        assert_eq!((line, column), (3, 1), "{message}");
        assert!(message.contains("unknown key `outptu`"), "{message}");
        assert!(message.contains("did you mean `output`"), "{message}");
        let (line, column, message) = located("host: true\ntimeout: 3\nfrobnicate: 1\n");
        assert_eq!((line, column), (3, 1), "{message}");
        assert!(message.contains("all-denials"), "lists the keys: {message}");
        let (_, _, message) = located("config: other.yaml\n");
        assert!(message.contains("unknown key `config`"), "{message}");
    }

    #[test]
    fn a_key_that_needs_another_is_judged_with_the_whole_file() {
        let args = args("output-file: /var/log/t.jsonl\noutput-file-mode: \"0640\"\n");
        assert_eq!(
            args,
            ["--output-file=/var/log/t.jsonl", "--output-file-mode=0640"]
        );
    }

    #[test]
    fn a_wrong_value_names_its_key_and_line() {
        let (line, column, message) = located("output: json\ntimeout: soon\n");
        assert_eq!((line, column), (2, 10), "{message}");
        assert!(message.contains("`timeout`"), "{message}");
        assert!(message.contains("not a number of seconds"), "{message}");
        let (line, _, message) = located("host: yes please\n");
        assert_eq!(line, 1);
        assert!(message.contains("host: true"), "{message}");
        let (line, _, message) = located("\n\nruntimes: [crio]\n");
        assert_eq!(line, 3);
        assert!(message.contains("crio"), "{message}");
        assert!(
            message.contains("[possible values: auto, docker, containerd, podman]"),
            "{message}"
        );
        let (line, _, message) = located("timeout: [1, 2]\n");
        assert_eq!(line, 1);
        assert!(message.contains("takes one value"), "{message}");
    }

    #[test]
    fn bad_yaml_is_located() {
        match parse_text("output: json\n  timeout: [\n") {
            Err(ConfigError::Yaml { line, .. }) => assert!(line >= 2),
            other => panic!("{other:?}"),
        }
        let (line, column, message) = located("- output\n- json\n");
        assert_eq!((line, column), (1, 1));
        assert!(message.contains("mapping of flag names"), "{message}");
    }
}
