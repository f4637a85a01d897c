pub async fn run(
    _args: &crate::cli::RecordArgs,
) -> anyhow::Result<Vec<crate::profile::RecordedGroup>> {
    anyhow::bail!("live recording is not built yet")
}
