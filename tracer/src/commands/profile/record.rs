//! `tracer profile record`: one profile per container, per image or for all, written when
//! recording stops. The calls come from the live recorder or from a file of tracer's events;
//! grouping, the base profile and writing are the same for both.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::{
    cli::RecordArgs,
    output::escape::{Encoding, for_terminal},
    profile::{
        self, CheckContext, Profile, RecordedGroup, events_file, recording,
        write::{self, ProfileFormat},
    },
};

pub async fn run(args: &RecordArgs) -> anyhow::Result<()> {
    // Read the base first: a typo in its path should not cost a recording.
    let base = args.base.as_deref().map(profile::load).transpose()?;
    let groups = match &args.from_events {
        Some(path) => from_events(path)?,
        None => super::record_live::run(args).await?,
    };
    let groups: Vec<RecordedGroup> = groups
        .into_iter()
        .filter(|g| args.containers.names.is_empty() || args.containers.names.contains(&g.name))
        .collect();
    if groups.is_empty() {
        anyhow::bail!(
            "no calls were recorded{}: nothing to write",
            if args.containers.names.is_empty() {
                ""
            } else {
                " for the containers given with -c"
            }
        );
    }
    let ctx = CheckContext::of_this_host();
    for (stem, group) in recording::group(groups, args.merge) {
        let recorded = group.recording.to_profile();
        let profile = match &base {
            Some(base) => profile::merge::with_base(base, &recorded, &ctx).with_context(|| {
                format!("cannot add the calls of {} to the base profile", group.name)
            })?,
            None => recorded,
        };
        let path = write_profile(args, &stem, &group.name, &profile, &ctx)?;
        let calls = args.output_dir.join(format!("{stem}.calls.json"));
        write::write_atomically(&calls, &write::calls_json(&group.recording))?;
        for written in [path, calls] {
            super::print(&format!(
                "{}\n",
                for_terminal(&written.display().to_string(), Encoding::Plain)
            ))?;
        }
    }
    Ok(())
}

fn from_events(path: &Path) -> anyhow::Result<Vec<RecordedGroup>> {
    let events = events_file::read(path)?;
    let (groups, unnamed) = events_file::recordings(&events);
    if unnamed.events > 0 {
        tracing::warn!(
            "{} events have no architecture or no syscall name: no profile can list them",
            unnamed.events
        );
    }
    Ok(groups)
}

fn write_profile(
    args: &RecordArgs,
    stem: &str,
    name: &str,
    profile: &Profile,
    ctx: &CheckContext,
) -> anyhow::Result<PathBuf> {
    let path = args
        .output_dir
        .join(format!("{stem}.{}", args.format.extension()));
    let bytes = match args.format {
        ProfileFormat::Docker => write::docker_json(profile),
        ProfileFormat::Kubernetes => write::kubernetes_yaml(profile, name, ctx, &path)?,
    };
    write::write_atomically(&path, &bytes)?;
    Ok(path)
}
