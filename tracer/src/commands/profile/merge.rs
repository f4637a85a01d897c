//! `tracer profile merge A.json B.json ... [--check]`.

use std::{fmt::Write as _, process::ExitCode};

use crate::{
    cli::MergeArgs,
    output::escape::{Encoding, for_terminal},
    profile::{self, CheckContext},
};

pub fn run(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let profiles = args
        .profiles
        .iter()
        .map(|path| profile::load(path))
        .collect::<Result<Vec<_>, _>>()?;
    let ctx = CheckContext::of_this_host();
    if !args.check {
        let merged = profile::merge::merge(&profiles, &ctx)?;
        super::print(&String::from_utf8_lossy(&profile::write::docker_json(
            &merged,
        )))?;
        return Ok(ExitCode::SUCCESS);
    }
    let lacks = profile::merge::lacks(&profiles, &ctx)?;
    let first = args.profiles[0].display().to_string();
    let mut text = String::new();
    for lack in &lacks {
        let by = args.profiles[lack.allowed_by].display().to_string();
        // Writing into a String cannot fail.
        let _ = writeln!(
            text,
            "{} lacks {} {} (allowed by {})",
            for_terminal(&first, Encoding::Plain),
            lack.arch,
            for_terminal(&lack.syscall, Encoding::Plain),
            for_terminal(&by, Encoding::Plain),
        );
    }
    super::print(&text)?;
    Ok(if lacks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::FOUND)
    })
}
