//! `--summary`: standard output shows a table of the calls instead of one line per event, the
//! `top` of seccomp. On a terminal it is redrawn in place about once a second, on the
//! terminal's alternate screen, cut to its width and height, most frequent first; at stop the
//! alternate screen is left and the whole table printed once, where it stays. When standard
//! output is not a terminal (a pipe, a file), only that final table is printed.
//!
//! Plain ANSI escapes (alternate screen, cursor home, erase) and one `TIOCGWINSZ` ioctl for the
//! size: every terminal emulator in use takes them, and a terminal library would add a
//! dependency tree for five escape sequences.

use std::{
    collections::VecDeque,
    fs::File,
    io::{IsTerminal as _, Write as _},
    mem::ManuallyDrop,
    os::fd::{AsRawFd as _, FromRawFd as _},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{Progress, Writer, queue::Received, queue::Receiver};
use crate::{events::Event, output::table::CallTable};

/// How often the live table is redrawn.
pub const REDRAW_EVERY: Duration = Duration::from_secs(1);

/// Enter the alternate screen and hide the cursor; leave it and show the cursor.
const ENTER: &str = "\x1b[?1049h\x1b[?25l";
const LEAVE: &str = "\x1b[?25h\x1b[?1049l";
/// Cursor to the top left; erase the rest of a line; erase below the cursor.
const HOME: &str = "\x1b[H";
const ERASE_LINE: &str = "\x1b[K";
const ERASE_BELOW: &str = "\x1b[J";

pub struct LiveTable {
    out: ManuallyDrop<File>,
    terminal: bool,
}

impl LiveTable {
    /// On standard output; live when it is a terminal.
    pub fn stdout() -> Self {
        // SAFETY: fd 1 stays open for the life of the process, and ManuallyDrop never closes it.
        let out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
        let terminal = out.is_terminal();
        Self { out, terminal }
    }

    /// The terminal's rows and columns, where it says.
    fn size(&self) -> Option<(usize, usize)> {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize into the struct it is given.
        let done = unsafe { libc::ioctl(self.out.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
        (done == 0 && size.ws_row > 0 && size.ws_col > 0)
            .then(|| (usize::from(size.ws_row), usize::from(size.ws_col)))
    }

    fn draw(&mut self, table: &CallTable, started: Instant) -> std::io::Result<()> {
        let (rows, columns) = self.size().unwrap_or((24, 80));
        // The title line and the table's header take two rows; the last row stays empty, so
        // the terminal never scrolls.
        let lines = table.render(Some(rows.saturating_sub(3).max(1)), Some(columns));
        let mut screen = String::from(HOME);
        let title = format!(
            "tracer: {} calls in {} s (Ctrl-C stops)",
            table.total(),
            started.elapsed().as_secs()
        );
        for line in std::iter::once(&title).chain(&lines) {
            screen.push_str(line);
            screen.push_str(ERASE_LINE);
            screen.push('\n');
        }
        screen.push_str(ERASE_BELOW);
        self.out.write_all(screen.as_bytes())
    }

    fn final_table(&mut self, table: &CallTable) -> std::io::Result<()> {
        let mut text = String::new();
        if self.terminal {
            text.push_str(LEAVE);
        }
        for line in table.render(None, None) {
            text.push_str(&line);
            text.push('\n');
        }
        self.out.write_all(text.as_bytes())
    }
}

impl Writer for LiveTable {
    fn name(&self) -> &'static str {
        "stdout"
    }

    fn run(
        mut self: Box<Self>,
        mut events: Receiver<Arc<Event>>,
        progress: watch::Sender<Progress>,
    ) {
        let started = Instant::now();
        let mut table = CallTable::default();
        let mut batch = VecDeque::new();
        let mut failed = false;
        if self.terminal {
            failed = self.out.write_all(ENTER.as_bytes()).is_err();
        }
        let mut next_draw = Instant::now();
        loop {
            if self.terminal && !failed && Instant::now() >= next_draw {
                failed = self.draw(&table, started).is_err();
                next_draw = Instant::now() + REDRAW_EVERY;
            }
            let until = if self.terminal {
                next_draw
            } else {
                Instant::now() + Duration::from_secs(3600)
            };
            match events.recv_until(&mut batch, until) {
                Received::Closed => break,
                Received::Nothing => {}
                Received::Items => {
                    let taken = batch.len() as u64;
                    for event in batch.drain(..) {
                        table.add(&event);
                    }
                    progress.send_modify(|p| p.written += taken);
                }
            }
        }
        if let Err(error) = self.final_table(&table) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                progress.send_modify(|p| p.reader_gone = true);
            } else {
                tracing::warn!("cannot print the summary table on stdout: {error}");
            }
        }
        progress.send_modify(|p| p.finished = true);
    }
}
