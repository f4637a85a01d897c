//! The audit source: records from netlink, with what never arrived counted from two sides: the
//! socket's drop counter (its buffer was full) and the kernel's own counter (its backlog or rate
//! limit).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{task::JoinHandle, time::Instant};

use super::{
    kernel_lost::KernelLost,
    netlink::{AuditRecords, NetlinkError},
    status,
};
use crate::source::{Losses, RawRecord, SourceError};

/// Records handed over per read while running, so a flood never holds up signals or output.
const BATCH: usize = 4096;
/// How often the kernel's lost counter is read.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// At stop, the kernel's audit thread may still be copying records of calls made just before;
/// the socket is read until it has been quiet this long...
const DRAIN_QUIET: Duration = Duration::from_millis(50);
/// ...or, under a steady stream of new records, for this long at most.
const DRAIN_LIMIT: Duration = Duration::from_millis(500);
/// The final status read waits no longer than this for the kernel's answer.
const FINAL_STATUS_WAIT: Duration = Duration::from_millis(500);

type SharedKernelLost = Arc<Mutex<KernelLost>>;

pub struct AuditSource {
    records: AuditRecords,
    /// `None` when the kernel's status cannot be read.
    kernel: Option<SharedKernelLost>,
    status_reader: Option<JoinHandle<()>>,
    /// The socket's drop count at the last look.
    socket_dropped: u64,
    drop_count_warned: bool,
}

impl AuditSource {
    /// Subscribes to the records and starts reading the kernel's lost counter once a second,
    /// off the async thread. Must be called within a tokio runtime.
    pub fn subscribe(receive_buffer_bytes: usize) -> Result<Self, NetlinkError> {
        let records = AuditRecords::subscribe(receive_buffer_bytes)?;
        let kernel = match status::read() {
            Ok(status) => Some(Arc::new(Mutex::new(KernelLost::new(
                &status,
                status::booted_with_audit(),
            )))),
            Err(error) => {
                tracing::warn!(
                    "records the kernel drops cannot be counted: {}",
                    crate::error_chain::Chain(&error)
                );
                None
            }
        };
        let status_reader = kernel
            .as_ref()
            .map(|kernel| tokio::spawn(read_status_every_interval(Arc::clone(kernel))));
        Ok(Self {
            records,
            kernel,
            status_reader,
            socket_dropped: 0,
            drop_count_warned: false,
        })
    }

    pub(crate) async fn ready(&mut self) -> Result<(), SourceError> {
        self.records.ready().await.map_err(SourceError::Audit)
    }

    pub(crate) async fn read_ready(
        &mut self,
        each: &mut dyn FnMut(RawRecord<'_>),
    ) -> Result<(), SourceError> {
        self.records
            .read_queued(BATCH, &mut |text| each(RawRecord::Audit(text)))
            .await
            .map(drop)
            .map_err(SourceError::Audit)
    }

    pub(crate) async fn drain(
        &mut self,
        each: &mut dyn FnMut(RawRecord<'_>),
    ) -> Result<(), SourceError> {
        let limit = Instant::now() + DRAIN_LIMIT;
        loop {
            self.records
                .read_all_queued(&mut |text| each(RawRecord::Audit(text)))
                .map_err(SourceError::Audit)?;
            let quiet_until = (Instant::now() + DRAIN_QUIET).min(limit);
            match tokio::time::timeout_at(quiet_until, self.records.ready()).await {
                Ok(ready) => ready.map_err(SourceError::Audit)?,
                Err(_quiet) => return Ok(()),
            }
            if Instant::now() >= limit {
                return self
                    .records
                    .read_all_queued(&mut |text| each(RawRecord::Audit(text)))
                    .map_err(SourceError::Audit);
            }
        }
    }

    pub(crate) fn losses(&mut self) -> Losses {
        let (kernel_missed, counted_but_delivered) = match &self.kernel {
            Some(kernel) => {
                let kernel = lock(kernel);
                (kernel.missed(), kernel.counted_but_delivered())
            }
            None => (0, 0),
        };
        match self.records.dropped() {
            Ok(dropped) => self.socket_dropped = dropped,
            Err(error) if !self.drop_count_warned => {
                tracing::warn!("{}", crate::error_chain::Chain(&error));
                self.drop_count_warned = true;
            }
            Err(_) => {}
        }
        Losses {
            lost: kernel_missed + self.socket_dropped,
            counted_but_delivered,
        }
    }

    pub(crate) async fn final_losses(&mut self) -> Losses {
        if let Some(reader) = self.status_reader.take() {
            reader.abort();
        }
        if let Some(kernel) = &self.kernel {
            let read = tokio::task::spawn_blocking(status::read);
            match tokio::time::timeout(FINAL_STATUS_WAIT, read).await {
                Ok(Ok(Ok(status))) => lock(kernel).update(&status),
                Ok(Ok(Err(error))) => tracing::warn!(
                    "reading the kernel's lost-record count at stop: {}",
                    crate::error_chain::Chain(&error)
                ),
                Ok(Err(_)) | Err(_) => {
                    tracing::warn!("the kernel did not report its lost-record count at stop")
                }
            }
        }
        self.losses()
    }
}

impl Drop for AuditSource {
    fn drop(&mut self) {
        if let Some(reader) = &self.status_reader {
            reader.abort();
        }
    }
}

/// Reads the status on the blocking pool: the kernel answers on a socket of its own, and a
/// stuck answer must not stall the async thread.
async fn read_status_every_interval(kernel: SharedKernelLost) {
    let mut interval = tokio::time::interval(STATUS_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match tokio::task::spawn_blocking(status::read).await {
            Ok(Ok(status)) => lock(&kernel).update(&status),
            Ok(Err(error)) => tracing::debug!(
                "reading the kernel's audit status: {}",
                crate::error_chain::Chain(&error)
            ),
            Err(_) => return,
        }
    }
}

fn lock(kernel: &SharedKernelLost) -> std::sync::MutexGuard<'_, KernelLost> {
    kernel.lock().unwrap_or_else(|e| e.into_inner())
}
