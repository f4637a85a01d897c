//! `tracer profile check PROFILE.json --events EVENTS.jsonl`: which recorded calls the profile
//! would refuse.

use std::{collections::BTreeMap, fmt::Write as _, process::ExitCode};

use crate::{
    cli::CheckArgs,
    output::escape::{Encoding, for_terminal},
    profile::{self, Call, CheckContext, Checker, Verdict, context::capability_name, events_file},
};

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let profile = profile::load(&args.profile)?;
    let events = events_file::read(&args.events)?;
    let mut ctx = CheckContext::of_this_host();
    if let Some(caps) = &args.caps {
        ctx.caps = caps
            .iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| capability_name(c))
            .collect();
    }
    if args.kernel.is_some() {
        ctx.kernel = args.kernel;
    }
    let checker = Checker::new(&profile, ctx)?;

    // (container, arch, syscall, verdict) -> calls
    let mut refused: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    let mut undecided: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    for event in &events {
        let call = Call {
            arch: event.arch(),
            syscall: event.syscall_name(),
            nr: event.syscall_nr,
            args: event.args,
        };
        let verdict = checker.decide(&call);
        let target = match &verdict {
            Verdict::Allowed | Verdict::Logged => continue,
            Verdict::Refused { .. } => &mut refused,
            Verdict::Undecided { .. } => &mut undecided,
        };
        let syscall = call
            .syscall
            .map_or_else(|| call.nr.to_string(), str::to_owned);
        let arch = event.arch.clone().unwrap_or_else(|| "-".into());
        let what = match verdict {
            Verdict::Undecided { reason } => reason,
            refused => refused.to_string(),
        };
        let key = (event.group_name().to_owned(), arch, syscall, what);
        *target.entry(key).or_default() += 1;
    }

    let mut text = String::new();
    if !refused.is_empty() {
        text.push_str(&table("ACTION", &refused));
    }
    if !undecided.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(
            "Undecided, counted as refused: the profile decides these calls by their arguments, \
             and the events do not have them (run tracer with its kernel programs, not only \
             the audit source, to record them):\n",
        );
        text.push_str(&table("WHY", &undecided));
    }
    super::print(&text)?;
    let count = |m: &BTreeMap<_, u64>| m.values().sum::<u64>();
    eprintln!(
        "tracer: {} of {} recorded calls would be refused, {} undecided",
        count(&refused),
        events.len(),
        count(&undecided)
    );
    Ok(if refused.is_empty() && undecided.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::FOUND)
    })
}

fn table(last: &str, rows: &BTreeMap<(String, String, String, String), u64>) -> String {
    let escape = |s: &str| for_terminal(s, Encoding::Plain).into_owned();
    let rows: Vec<[String; 5]> = rows
        .iter()
        .map(|((container, arch, syscall, verdict), count)| {
            [
                escape(container),
                escape(arch),
                escape(syscall),
                count.to_string(),
                verdict.clone(),
            ]
        })
        .collect();
    let header = ["CONTAINER", "ARCH", "SYSCALL", "COUNT", last].map(str::to_owned);
    let mut widths = [0; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(unicode_width::UnicodeWidthStr::width(cell.as_str()));
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter().zip(row) {
            let pad = width - unicode_width::UnicodeWidthStr::width(cell.as_str());
            let _ = write!(text, "{cell}{:pad$}  ", "");
        }
        let _ = writeln!(text, "{}", row[4]);
    }
    text
}
