//! Standard output: events formatted for a person (columns) or a pipeline (JSON lines).

use std::{
    io::{self, Write as _},
    sync::{Arc, mpsc::Receiver},
};

use tokio::sync::watch;

use super::{Progress, Writer};
use crate::{events::Event, output::Formatter};

/// Formatted bytes gathered before one write, so a burst costs few system calls.
const WRITE_BYTES: usize = 256 * 1024;

pub struct Stdout {
    formatter: Box<dyn Formatter>,
}

impl Stdout {
    pub fn new(formatter: Box<dyn Formatter>) -> Self {
        Self { formatter }
    }
}

impl Writer for Stdout {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn run(mut self: Box<Self>, events: Receiver<Arc<Event>>, progress: watch::Sender<Progress>) {
        let mut out = io::stdout().lock();
        let mut buffer = Vec::with_capacity(WRITE_BYTES);
        // The header goes out at once, so a person sees that tracer is ready.
        self.formatter.header(&mut buffer);
        let mut failed = false;
        if write(&mut out, &buffer, &progress, &mut failed).is_err() {
            progress.send_modify(|p| p.finished = true);
            return;
        }
        while let Ok(first) = events.recv() {
            buffer.clear();
            self.formatter.event(&first, &mut buffer);
            let mut count = 1;
            while buffer.len() < WRITE_BYTES {
                let Ok(event) = events.try_recv() else { break };
                self.formatter.event(&event, &mut buffer);
                count += 1;
            }
            match write(&mut out, &buffer, &progress, &mut failed) {
                Ok(true) => progress.send_modify(|p| p.written += count),
                Ok(false) => {}
                Err(ReaderGone) => break,
            }
        }
        progress.send_modify(|p| p.finished = true);
    }
}

struct ReaderGone;

/// Writes `bytes`; Ok(false) when they could not be written but later writes may succeed.
fn write(
    out: &mut io::StdoutLock<'_>,
    bytes: &[u8],
    progress: &watch::Sender<Progress>,
    failed: &mut bool,
) -> Result<bool, ReaderGone> {
    if bytes.is_empty() {
        return Ok(true);
    }
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        // A closed pipe (`tracer ... | head`) is a normal way for the reader to say "enough".
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
            progress.send_modify(|p| p.reader_gone = true);
            Err(ReaderGone)
        }
        Err(error) => {
            if !*failed {
                tracing::warn!(
                    "cannot write events to stdout ({error}): they are counted as unwritten"
                );
                *failed = true;
            }
            Ok(false)
        }
    }
}
