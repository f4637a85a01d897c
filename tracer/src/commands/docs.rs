//! `tracer generate-docs`: man pages and shell completions from the CLI definition, for the
//! Debian package. The packaging build runs the binary it packs, so the pages describe exactly
//! the options that binary has.

use std::{fs, path::Path};

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes `OUT/man1/tracer*.1` (one page per visible subcommand) and
/// `OUT/completions/{tracer.bash,_tracer,tracer.fish}`.
pub fn generate(out: &Path) -> Result<()> {
    let man = out.join("man1");
    fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    clap_mangen::generate_to(Cli::command(), &man)
        .with_context(|| format!("cannot write the man pages into {}", man.display()))?;

    let completions = out.join("completions");
    fs::create_dir_all(&completions)
        .with_context(|| format!("cannot create {}", completions.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "tracer", &completions)
            .with_context(|| {
                format!(
                    "cannot write the {shell} completions into {}",
                    completions.display()
                )
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_page_per_subcommand_and_each_shells_completions() {
        let out = std::env::temp_dir().join(format!("tracer-docs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&out);
        generate(&out).unwrap();
        let page = fs::read_to_string(out.join("man1/tracer-audit-seccomp.1")).unwrap();
        assert!(page.contains("\\-\\-probe"), "{page}");
        assert!(out.join("man1/tracer.1").is_file());
        assert!(out.join("man1/tracer-profile-record.1").is_file());
        // The packaging command is no user's business.
        assert!(!out.join("man1/tracer-generate-docs.1").exists());
        for file in ["tracer.bash", "_tracer", "tracer.fish"] {
            let text = fs::read_to_string(out.join("completions").join(file)).unwrap();
            assert!(text.contains("seccomp"), "{file}: {text}");
        }
        fs::remove_dir_all(&out).unwrap();
    }
}
