//! The keys a config file may set: one per flag of the command, named by its long name and
//! read from clap's definition, so a flag added to the command has its key at once.

use clap::{Arg, ArgAction, Command};

/// How a key's value becomes arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A flag without a value (`--host`): `true` gives it, `false` leaves it out.
    Switch,
    /// A flag whose value may be left out (`--stack[=all]`): `true` gives it alone, `false`
    /// leaves it out, anything else is its value.
    OptionalValue,
    /// One value.
    Value,
    /// Several values (`-c web,db`): a YAML list, or one value.
    List,
}

/// A key, the flag it stands for and how it takes its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The flag's long name, which is the key.
    pub name: String,
    /// clap's id of the argument, to ask where its value came from.
    pub id: String,
    pub kind: Kind,
}

/// Flags that make no sense in the file: a file naming another file, help and version.
const NOT_IN_FILES: [&str; 3] = ["config", "help", "version"];

/// The keys of `command`'s flags, in their order on the command line.
pub fn keys(command: &Command) -> Vec<Key> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_long()?;
            if NOT_IN_FILES.contains(&name) {
                return None;
            }
            Some(Key {
                name: name.to_owned(),
                id: arg.get_id().to_string(),
                kind: kind(arg)?,
            })
        })
        .collect()
}

fn kind(arg: &Arg) -> Option<Kind> {
    let takes = arg.get_num_args();
    match arg.get_action() {
        ArgAction::SetTrue => Some(Kind::Switch),
        ArgAction::Append => Some(Kind::List),
        ArgAction::Set if arg.get_value_delimiter().is_some() => Some(Kind::List),
        ArgAction::Set if takes.is_some_and(|range| range.max_values() > 1) => Some(Kind::List),
        ArgAction::Set if takes.is_some_and(|range| range.min_values() == 0) => {
            Some(Kind::OptionalValue)
        }
        ArgAction::Set => Some(Kind::Value),
        // Counts, SetFalse and help-like actions: none of tracer's flags are such; a flag added
        // with one gets no key until its meaning in a file is decided here.
        _ => None,
    }
}

/// The known key closest to `unknown`, if one is close enough to be a typo of it.
pub fn closest<'a>(unknown: &str, keys: &'a [Key]) -> Option<&'a str> {
    keys.iter()
        .map(|key| (strsim::jaro(unknown, &key.name), key.name.as_str()))
        .filter(|(similarity, _)| *similarity > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::CommandFactory as _;

    fn seccomp_keys() -> Vec<Key> {
        keys(&crate::config::seccomp_command(&Cli::command()))
    }

    fn kind_of(keys: &[Key], name: &str) -> Kind {
        keys.iter()
            .find(|key| key.name == name)
            .unwrap_or_else(|| panic!("no key {name} in {keys:?}"))
            .kind
    }

    #[test]
    fn every_flag_has_its_long_name_as_key() {
        let command = crate::config::seccomp_command(&Cli::command());
        let keys = keys(&command);
        let names: Vec<&str> = keys.iter().map(|key| key.name.as_str()).collect();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            assert_eq!(
                names.contains(&long),
                !NOT_IN_FILES.contains(&long),
                "--{long}: {names:?}"
            );
        }
        for name in ["output", "timeout", "containername", "metrics-addr"] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert!(!names.contains(&"config"));
    }

    #[test]
    fn kinds_follow_the_flags_actions() {
        let keys = seccomp_keys();
        assert_eq!(kind_of(&keys, "host"), Kind::Switch);
        assert_eq!(kind_of(&keys, "all-denials"), Kind::Switch);
        assert_eq!(kind_of(&keys, "stack"), Kind::OptionalValue);
        assert_eq!(kind_of(&keys, "timeout"), Kind::Value);
        assert_eq!(kind_of(&keys, "output"), Kind::Value);
        assert_eq!(kind_of(&keys, "runtimes"), Kind::List);
        assert_eq!(kind_of(&keys, "containername"), Kind::List);
    }

    /// docs/config.md is the reference: a flag added to the command must be added there too.
    #[test]
    fn the_reference_lists_every_key() {
        let reference = include_str!("../../../docs/config.md");
        for key in seccomp_keys() {
            assert!(
                reference.contains(&format!("| `{}` |", key.name)),
                "docs/config.md has no row for the key `{}`",
                key.name
            );
        }
    }

    #[test]
    fn suggests_the_key_a_typo_meant() {
        let keys = seccomp_keys();
        assert_eq!(closest("outptu", &keys), Some("output"));
        assert_eq!(closest("all_denials", &keys), Some("all-denials"));
        assert_eq!(closest("zzzz", &keys), None);
    }
}
