//! Asynchronous reads of the event ring buffer: woken by the kernel through epoll, never by a
//! timer, so events reach userspace as soon as they are written and an idle tracer costs nothing.

use std::io;

use aya::maps::{MapData, RingBuf};
use tokio::io::unix::AsyncFd;

pub struct EventReader {
    ring: AsyncFd<RingBuf<MapData>>,
}

impl EventReader {
    pub fn new(ring: RingBuf<MapData>) -> io::Result<Self> {
        // SAFETY: the ring buffer owns its map's file descriptor, which stays open and the same
        // for as long as the RingBuf lives, and the AsyncFd owns the RingBuf.
        let ring = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }?;
        Ok(Self { ring })
    }

    /// Waits until records are available, without taking any.
    pub async fn ready(&mut self) -> io::Result<()> {
        self.ring.readable_mut().await.map(drop)
    }

    /// Waits until records are available, then hands each to `each` until the buffer is empty.
    /// Returns how many records were read.
    pub async fn read_batch(&mut self, mut each: impl FnMut(&[u8])) -> io::Result<usize> {
        let mut guard = self.ring.readable_mut().await?;
        let count = drain(guard.get_inner_mut(), &mut each);
        guard.clear_ready();
        Ok(count)
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
