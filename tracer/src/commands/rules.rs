//! `tracer rules check` and `tracer rules test`, and loading `--rules` for a run.

use std::{fmt::Write as _, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use unicode_width::UnicodeWidthStr as _;

use crate::{
    cli::{RulesCheckArgs, RulesCommand, RulesTestArgs},
    output::escape::{Encoding, for_terminal},
    rules::{self, Level, Loaded, RuleSet, event_line, facts::Facts as _},
};

/// What `rules check` exits with when a file is invalid.
const INVALID: u8 = 1;

pub fn run(command: RulesCommand) -> anyhow::Result<ExitCode> {
    match command {
        RulesCommand::Check(args) => Ok(check(&args)),
        RulesCommand::Test(args) => test(&args).map(|()| ExitCode::SUCCESS),
    }
}

/// The rules of `--rules`, with their warnings logged; `None` without the flag.
pub fn load_for_run(paths: &[PathBuf]) -> anyhow::Result<Option<RuleSet>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let loaded = rules::load_files(paths).context("--rules")?;
    for warning in &loaded.warnings {
        tracing::warn!("--rules: {warning}");
    }
    tracing::info!(
        "{} rules from {} files; events no rule matches get level {}",
        loaded.rules.len(),
        paths.len(),
        loaded.default_level
    );
    Ok(Some(RuleSet::new(loaded).context("--rules")?))
}

/// Validates each file alone, then all together (a `default-level` set twice): every error is
/// printed, not only the first.
fn check(args: &RulesCheckArgs) -> ExitCode {
    let mut valid = true;
    for path in &args.files {
        match rules::load_files(std::slice::from_ref(path)) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    eprintln!("tracer: warning: {warning}");
                }
                println!(
                    "{}: {} rules{}",
                    path.display(),
                    loaded.rules.len(),
                    default_note(&loaded)
                );
            }
            Err(error) => {
                valid = false;
                eprintln!("tracer: error: {}", crate::error_chain::Chain(&error));
            }
        }
    }
    if valid
        && args.files.len() > 1
        && let Err(error) = rules::load_files(&args.files)
    {
        valid = false;
        eprintln!("tracer: error: {}", crate::error_chain::Chain(&error));
    }
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

fn default_note(loaded: &Loaded) -> String {
    match &loaded.default_origin {
        Some(_) => format!(", default-level {}", loaded.default_level),
        None => String::new(),
    }
}

fn test(args: &RulesTestArgs) -> anyhow::Result<()> {
    let loaded = rules::load_files(&args.files)?;
    for warning in &loaded.warnings {
        eprintln!("tracer: warning: {warning}");
    }
    let rules = RuleSet::new(loaded)?;
    let events = event_line::read(&args.events)?;
    let escape = |text: &str| for_terminal(text, Encoding::Plain).into_owned();
    let header = [
        "LINE",
        "CONTAINER",
        "SYSCALL",
        "CODE",
        "RULE",
        "AT",
        "LEVEL",
    ]
    .map(str::to_owned);
    let mut rows = Vec::with_capacity(events.len());
    let (mut matched, mut dropped) = (0, 0);
    for (line, event) in &events {
        let verdict = rules.decide(event);
        matched += u64::from(verdict.rule.is_some());
        dropped += u64::from(verdict.level == Level::None);
        let (rule, at) = match verdict.rule {
            Some(rule) => (escape(&rule.name), rule.origin.to_string()),
            None => ("(none)".to_owned(), "default".to_owned()),
        };
        rows.push([
            line.to_string(),
            escape(event.container_name().unwrap_or("-")),
            escape(&event.syscall_text()),
            escape(event.code.as_deref().unwrap_or("-")),
            rule,
            at,
            verdict.level.to_string(),
        ]);
    }
    let mut widths = [0; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.as_str().width());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter().zip(row) {
            let pad = width - cell.as_str().width();
            let _ = write!(text, "{cell}{:pad$}  ", "");
        }
        let _ = writeln!(text, "{}", row[6]);
    }
    print!("{text}");
    eprintln!(
        "tracer: {} events, {matched} matched a rule, {} got the default level {}, {dropped} \
         would be dropped",
        events.len(),
        events.len() as u64 - matched,
        rules.default_level()
    );
    Ok(())
}
