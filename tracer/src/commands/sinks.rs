//! Which sinks a run writes to, from its arguments: standard output unless `-o none` (events,
//! or `--summary`'s table instead), and every sink asked for besides it.

use anyhow::Context as _;

use crate::{
    cli::SeccompArgs,
    sink::{
        Writer,
        file::{FileOptions, FileSink},
        live_table::LiveTable,
        stdout::Stdout,
        webhook::Webhook,
    },
};

pub fn writers(args: &SeccompArgs) -> anyhow::Result<Vec<Box<dyn Writer>>> {
    let mut writers: Vec<Box<dyn Writer>> = Vec::new();
    if args.volume.summary {
        writers.push(Box::new(LiveTable::stdout()));
    } else if let Some(formatter) = args.output.formatter() {
        writers.push(Box::new(Stdout::new(formatter)));
    }
    let file = &args.output_file;
    if let Some(path) = &file.output_file {
        let sink = FileSink::open(FileOptions {
            path: path.clone(),
            max_size: file.output_file_max_size,
            max_backups: file.output_file_max_backups,
            max_age: file.output_file_max_age,
            compress: file.output_file_compress,
            mode: file.output_file_mode,
        })
        .context("--output-file")?;
        writers.push(Box::new(sink));
    }
    if let Some(url) = &args.webhook.webhook {
        let webhook = Webhook::new(&args.webhook, url).context("--webhook")?;
        writers.push(Box::new(webhook));
    }
    if writers.is_empty() {
        anyhow::bail!(
            "-o none leaves no sink: add --output-file or --webhook, or choose another -o"
        );
    }
    Ok(writers)
}
