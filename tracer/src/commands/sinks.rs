//! Which sinks a run writes to, from its arguments: standard output unless `-o none`, and every
//! sink asked for besides it.

use crate::{
    cli::SeccompArgs,
    sink::{Writer, stdout::Stdout},
};

pub fn writers(args: &SeccompArgs) -> anyhow::Result<Vec<Box<dyn Writer>>> {
    let mut writers: Vec<Box<dyn Writer>> = Vec::new();
    if let Some(formatter) = args.output.formatter() {
        writers.push(Box::new(Stdout::new(formatter)));
    }
    if writers.is_empty() {
        anyhow::bail!(
            "-o none leaves no sink: add --output-file or --webhook, or choose another -o"
        );
    }
    Ok(writers)
}
