//! The kernel programs' ring buffer and their count of events that found it full.

pub mod lost;
pub mod reader;

pub use lost::LostCounter;
pub use reader::EventReader;

use super::{Losses, RawRecord, SourceError};

pub struct RingBufferSource {
    reader: EventReader,
    lost: LostCounter,
    /// The kernel function the programs are attached to.
    function: String,
}

impl RingBufferSource {
    pub fn new(reader: EventReader, lost: LostCounter, function: String) -> Self {
        Self {
            reader,
            lost,
            function,
        }
    }

    pub fn function(&self) -> &str {
        &self.function
    }

    pub(super) async fn ready(&mut self) -> Result<(), SourceError> {
        self.reader.ready().await.map_err(SourceError::RingBuffer)
    }

    pub(super) async fn read_ready(
        &mut self,
        each: &mut dyn FnMut(RawRecord<'_>),
    ) -> Result<(), SourceError> {
        self.reader
            .read_batch(|bytes| each(RawRecord::Kernel(bytes)))
            .await
            .map(drop)
            .map_err(SourceError::RingBuffer)
    }

    /// Everything left; the programs are detached by then, so nothing is written after it.
    pub(super) fn drain(&mut self, each: &mut dyn FnMut(RawRecord<'_>)) {
        self.reader
            .read_remaining(|bytes| each(RawRecord::Kernel(bytes)));
    }

    pub(super) fn losses(&self) -> Result<Losses, SourceError> {
        Ok(Losses {
            lost: self.lost.total().map_err(SourceError::LostCounter)?,
            counted_but_delivered: 0,
        })
    }
}
