//! Standard output: events formatted for a person (columns) or a pipeline (JSON lines).

use std::{
    fs::File,
    io::{self, Write as _},
    mem::ManuallyDrop,
    os::fd::FromRawFd as _,
    sync::{Arc, mpsc::Receiver},
};

use tokio::sync::watch;

use super::{Progress, Writer};
use crate::{events::Event, output::Formatter};

/// Formatted bytes gathered from the queue at a time.
const GATHER_BYTES: usize = 256 * 1024;
/// Bytes written per system call, at event boundaries. A pipe takes a write of at most PIPE_BUF
/// (4096) bytes whole or not at all, so when tracer must stop while a reader is stalled, no
/// event is left half written, and the count of written events is exact.
const WRITE_BYTES: usize = 4096;

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
        // Written to directly: std's line buffering would split the writes at newlines.
        // SAFETY: fd 1 stays open for the life of the process, and ManuallyDrop never closes it.
        let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
        let mut failed = false;
        let mut buffer = Vec::with_capacity(GATHER_BYTES);
        // The header goes out at once, so a person sees that tracer is ready.
        self.formatter.header(&mut buffer);
        if write(&mut out, &buffer, &progress, &mut failed).is_err() {
            progress.send_modify(|p| p.finished = true);
            return;
        }
        // Where each formatted event ends in the buffer.
        let mut ends = Vec::new();
        'queue: while let Ok(first) = events.recv() {
            buffer.clear();
            ends.clear();
            self.formatter.event(&first, &mut buffer);
            ends.push(buffer.len());
            while buffer.len() < GATHER_BYTES {
                let Ok(event) = events.try_recv() else { break };
                self.formatter.event(&event, &mut buffer);
                ends.push(buffer.len());
            }
            let mut start = 0;
            let mut done = 0;
            while done < ends.len() {
                // As many whole events as fit in one write, and at least one.
                let fit = ends[done..]
                    .iter()
                    .take_while(|&&end| end - start <= WRITE_BYTES)
                    .count()
                    .max(1);
                let end = ends[done + fit - 1];
                match write(&mut out, &buffer[start..end], &progress, &mut failed) {
                    Ok(true) => progress.send_modify(|p| p.written += fit as u64),
                    Ok(false) => {}
                    Err(ReaderGone) => break 'queue,
                }
                start = end;
                done += fit;
            }
        }
        progress.send_modify(|p| p.finished = true);
    }
}

struct ReaderGone;

/// Writes `bytes`; Ok(false) when they could not be written but later writes may succeed.
fn write(
    out: &mut File,
    bytes: &[u8],
    progress: &watch::Sender<Progress>,
    failed: &mut bool,
) -> Result<bool, ReaderGone> {
    if bytes.is_empty() {
        return Ok(true);
    }
    match out.write_all(bytes) {
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
