//! Standard output (or any file): events formatted for a person (columns) or a pipeline (JSON
//! lines).

use std::{
    collections::VecDeque,
    fs::File,
    io::{self, Write as _},
    mem::ManuallyDrop,
    os::fd::FromRawFd as _,
    sync::Arc,
};

use tokio::sync::watch;

use super::{Progress, Writer, queue::Receiver};
use crate::{events::Event, output::Formatter};

/// Formatted bytes gathered from the queue at a time.
const GATHER_BYTES: usize = 256 * 1024;
/// Bytes written per system call, at event boundaries. A pipe takes a write of at most PIPE_BUF
/// (4096) bytes whole or not at all, so when tracer must stop while a reader is stalled, no
/// event is left half written, and the count of written events is exact.
const WRITE_BYTES: usize = 4096;

pub struct Stdout {
    formatter: Box<dyn Formatter>,
    /// Never closed when it is fd 1, which stays open for the life of the process.
    out: ManuallyDrop<File>,
    owned: bool,
}

impl Stdout {
    pub fn new(formatter: Box<dyn Formatter>) -> Self {
        // Written to directly: std's line buffering would split the writes at newlines.
        // SAFETY: fd 1 stays open for the life of the process, and ManuallyDrop never closes it.
        let out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
        Self {
            formatter,
            out,
            owned: false,
        }
    }

    /// Writes to `file` instead of standard output, and closes it when done.
    pub fn to_file(formatter: Box<dyn Formatter>, file: File) -> Self {
        Self {
            formatter,
            out: ManuallyDrop::new(file),
            owned: true,
        }
    }
}

impl Drop for Stdout {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: taken once, here, and never used again.
            drop(unsafe { ManuallyDrop::take(&mut self.out) });
        }
    }
}

impl Writer for Stdout {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn run(
        mut self: Box<Self>,
        mut events: Receiver<Arc<Event>>,
        progress: watch::Sender<Progress>,
    ) {
        let mut failed = false;
        let mut buffer = Vec::with_capacity(GATHER_BYTES);
        // The header goes out at once, so a person sees that tracer is ready.
        self.formatter.header(&mut buffer);
        if write(&mut self.out, &buffer, &progress, &mut failed).is_err() {
            progress.send_modify(|p| p.finished = true);
            return;
        }
        // Where each formatted event ends in the buffer.
        let mut ends = Vec::new();
        let mut batch = VecDeque::new();
        'queue: while events.recv_batch(&mut batch) {
            while !batch.is_empty() {
                buffer.clear();
                ends.clear();
                while buffer.len() < GATHER_BYTES {
                    let Some(event) = batch.pop_front() else {
                        break;
                    };
                    self.formatter.event(&event, &mut buffer);
                    ends.push(buffer.len());
                }
                if self
                    .write_events(&buffer, &ends, &progress, &mut failed, &events)
                    .is_err()
                {
                    break 'queue;
                }
            }
        }
        progress.send_modify(|p| p.finished = true);
    }
}

impl Stdout {
    /// Writes the formatted events of `buffer`, which end at `ends`, in writes of whole events.
    fn write_events(
        &mut self,
        buffer: &[u8],
        ends: &[usize],
        progress: &watch::Sender<Progress>,
        failed: &mut bool,
        events: &Receiver<Arc<Event>>,
    ) -> Result<(), Stopped> {
        let mut start = 0;
        let mut done = 0;
        while done < ends.len() {
            if events.abandoned() {
                // Counted as unwritten already: writing it now would make the count wrong.
                return Err(Stopped);
            }
            // As many whole events as fit in one write, and at least one.
            let fit = ends[done..]
                .iter()
                .take_while(|&&end| end - start <= WRITE_BYTES)
                .count()
                .max(1);
            let end = ends[done + fit - 1];
            if write(&mut self.out, &buffer[start..end], progress, failed)? {
                progress.send_modify(|p| p.written += fit as u64);
            }
            start = end;
            done += fit;
        }
        Ok(())
    }
}

/// Why the writer writes nothing more: its reader is gone, or [`Receiver::abandoned`].
struct Stopped;

/// Writes `bytes`; Ok(false) when they could not be written but later writes may succeed.
fn write(
    out: &mut File,
    bytes: &[u8],
    progress: &watch::Sender<Progress>,
    failed: &mut bool,
) -> Result<bool, Stopped> {
    if bytes.is_empty() {
        return Ok(true);
    }
    match out.write_all(bytes) {
        Ok(()) => Ok(true),
        // A closed pipe (`tracer ... | head`) is a normal way for the reader to say "enough".
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
            progress.send_modify(|p| p.reader_gone = true);
            Err(Stopped)
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

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead as _, BufReader},
        time::Duration,
    };

    use super::*;
    use crate::{output::json::Json, sink::Sinks, test_support::sample_event};

    /// A reader slower than the events: what the summary calls unwritten must never reach it
    /// after the count, so written + unwritten is exactly what was sent, and the reader gets
    /// exactly the written ones.
    #[tokio::test]
    async fn a_slow_reader_gets_exactly_what_is_counted_written() {
        let (reader, writer) = std::io::pipe().unwrap();
        let slow_reader = std::thread::spawn(move || {
            let mut lines = 0u64;
            for line in BufReader::with_capacity(4096, reader).lines() {
                line.unwrap();
                lines += 1;
                if lines.is_multiple_of(20) {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            lines
        });
        let stdout = Stdout::to_file(
            Box::new(Json::new(false)),
            File::from(std::os::fd::OwnedFd::from(writer)),
        );
        let mut sinks = Sinks::start(vec![Box::new(stdout)]).unwrap();
        let sent = 5_000;
        let event = Arc::new(sample_event());
        for _ in 0..sent {
            sinks.send(&event);
        }
        let written_before_close = sinks.written();
        let totals = sinks.close(Duration::from_millis(50)).await;
        let read = slow_reader.join().unwrap();
        assert!(
            totals.unwritten > 0 && written_before_close < sent,
            "the reader was meant to be too slow for the deadline (unwritten {})",
            totals.unwritten
        );
        assert_eq!(
            read + totals.unwritten,
            sent,
            "read {read}, unwritten {}",
            totals.unwritten
        );
    }
}
