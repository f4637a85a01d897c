use crate::{cli::RecordArgs, profile::RecordedGroup};

pub async fn run(_args: &RecordArgs) -> anyhow::Result<Vec<RecordedGroup>> {
    anyhow::bail!("live recording is not built yet")
}
