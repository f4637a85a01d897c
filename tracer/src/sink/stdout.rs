//! Standard output, written asynchronously so a slow reader never stalls signal handling.

use std::io;

use tokio::io::AsyncWriteExt as _;

pub struct Stdout {
    out: tokio::io::Stdout,
}

/// A closed pipe (`tracer ... | head`) is a normal way for the reader to say "enough".
#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Written,
    ReaderGone,
}

impl Stdout {
    pub fn new() -> Self {
        Self {
            out: tokio::io::stdout(),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<WriteOutcome> {
        if bytes.is_empty() {
            return Ok(WriteOutcome::Written);
        }
        let written = async {
            self.out.write_all(bytes).await?;
            self.out.flush().await
        };
        match written.await {
            Ok(()) => Ok(WriteOutcome::Written),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(WriteOutcome::ReaderGone),
            Err(error) => Err(error),
        }
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Self::new()
    }
}
