//! `tracer profile check PROFILE.json --events EVENTS.jsonl`: which recorded calls the profile
//! would refuse.

use std::process::ExitCode;

use crate::{
    cli::CheckArgs,
    profile::{
        self, Call, CheckContext, Checker, context::capability_name, events_file,
        findings::Findings,
    },
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
    let mut findings = Findings::default();
    for event in &events {
        let call = Call {
            arch: event.arch(),
            syscall: event.syscall_name(),
            nr: event.syscall_nr,
            args: event.args,
        };
        findings.add(event.group_name(), &call, &checker.decide(&call));
    }
    super::print(&findings.render())?;
    eprintln!(
        "tracer: {} of {} recorded calls would be refused, {} undecided",
        findings.refused(),
        events.len(),
        findings.undecided()
    );
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::FOUND)
    })
}
