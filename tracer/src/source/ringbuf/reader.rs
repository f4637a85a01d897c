//! Asynchronous reads of the event ring buffer: woken by the kernel through epoll, and every
//! few milliseconds by a timer, because the kernel programs skip the wake-up for logged calls
//! while the buffer has little in it (a wake-up per event was most of what a logged call cost
//! with tracer attached). Other actions wake the reader at once.

use std::{
    io,
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use futures_util::FutureExt as _;
use tokio::{io::unix::AsyncFd, time::sleep_until};

/// How long a logged call's event may wait unannounced in the buffer: the delay a lone logged
/// call can see, and the rate at which an idle reader looks (a few dozen times a second costs
/// nothing measurable).
pub const LOOK_EVERY: Duration = Duration::from_millis(20);

pub struct EventReader {
    ring: AsyncFd<RingBuf<MapData>>,
    /// When to look for unannounced events if no wake-up comes first. Kept across calls, so a
    /// caller that often waits on other things too cannot postpone the look forever.
    next_look: Instant,
}

impl EventReader {
    pub fn new(ring: RingBuf<MapData>) -> io::Result<Self> {
        // SAFETY: the ring buffer owns its map's file descriptor, which stays open and the same
        // for as long as the RingBuf lives, and the AsyncFd owns the RingBuf.
        let ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }?;
        Ok(Self {
            ring,
            next_look: Instant::now() + LOOK_EVERY,
        })
    }

    /// Waits until records may be available (a wake-up, or time to look), without taking any.
    pub async fn ready(&mut self) -> io::Result<()> {
        tokio::select! {
            ready = self.ring.readable_mut() => ready.map(drop),
            () = sleep_until(self.next_look.into()) => Ok(()),
        }
    }

    /// Hands each available record to `each` until the buffer is empty, without waiting.
    /// Returns how many records were read.
    pub async fn read_batch(&mut self, mut each: impl FnMut(&[u8])) -> io::Result<usize> {
        // Readiness is cleared before the buffer is read, so a record written after the read
        // with a wake-up sets it again and is not left waiting for the next look.
        if let Some(guard) = self.ring.readable_mut().now_or_never() {
            guard?.clear_ready();
        }
        self.next_look = Instant::now() + LOOK_EVERY;
        Ok(drain(self.ring.get_mut(), &mut each))
    }

    /// Reads whatever is left without waiting: used once the programs are detached, so events
    /// written just before a stop are not left behind.
    pub fn read_remaining(&mut self, mut each: impl FnMut(&[u8])) -> usize {
        drain(self.ring.get_mut(), &mut each)
    }
}

fn drain(ring: &mut RingBuf<MapData>, each: &mut impl FnMut(&[u8])) -> usize {
    let mut count = 0;
    while let Some(record) = ring.next() {
        each(&record);
        count += 1;
    }
    count
}
