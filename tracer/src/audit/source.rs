//! The audit event source: records from netlink, parsed into events, with the kernel's own count
//! of records it could not deliver reported as lost.

use std::{cell::Cell, sync::Arc};

use super::{
    event::to_event,
    netlink::{AuditRecords, Batch, NetlinkError},
    record::SeccompRecord,
    status::{self, AuditStatus},
};
use crate::{
    events::{Event, clock::WallClock},
    probe::exits::ExitedTasks,
};

pub struct AuditSource {
    records: AuditRecords,
    exits: Option<ExitedTasks>,
    node: Arc<str>,
    /// `None` when the kernel's status cannot be read.
    kernel_lost: Option<KernelLost>,
    lost_reported: u64,
    /// Times the socket's buffer overflowed: each lost at least one record.
    overflows: u64,
}

#[derive(Debug, Default)]
pub struct AuditBatch {
    pub events: Vec<Event>,
    pub undecodable: u64,
}

/// The part of the kernel's lost counter's growth that tracer missed. Cells, because the
/// pipeline asks for the total through a shared reference.
struct KernelLost {
    /// The counter at the last look.
    last: Cell<u32>,
    /// Growth over the intervals in which it meant records the multicast group missed.
    counted: Cell<u64>,
    /// Whether the last look found a counter that also counts delivered records.
    over_counting: Cell<bool>,
}

impl KernelLost {
    fn new(status: &AuditStatus) -> Self {
        let lost = Self {
            last: Cell::new(status.lost),
            counted: Cell::new(0),
            over_counting: Cell::new(false),
        };
        lost.note_over_counting(status);
        lost
    }

    fn update(&self, status: &AuditStatus) {
        let grown = status.lost.wrapping_sub(self.last.get());
        // An interval that ends in the over-counting state is left out whole: the counter
        // cannot tell which of its records were delivered.
        if !status.lost_counts_delivered() {
            self.counted.set(self.counted.get() + u64::from(grown));
        }
        self.last.set(status.lost);
        self.note_over_counting(status);
    }

    fn note_over_counting(&self, status: &AuditStatus) {
        let now = status.lost_counts_delivered();
        if now && !self.over_counting.get() {
            tracing::info!(
                "the kernel's count of lost audit records is not used while auditing is enabled \
                 with no audit daemon: the kernel then counts records tracer received as lost; \
                 overflows of tracer's own socket are still counted"
            );
        }
        self.over_counting.set(now);
    }
}

impl AuditSource {
    pub fn new(records: AuditRecords, exits: Option<ExitedTasks>, node: Arc<str>) -> Self {
        let kernel_lost = match status::read() {
            Ok(status) => Some(KernelLost::new(&status)),
            Err(error) => {
                tracing::warn!(
                    "records the kernel drops cannot be counted: {}",
                    crate::probe::Chain(&error)
                );
                None
            }
        };
        Self {
            records,
            exits,
            node,
            kernel_lost,
            lost_reported: 0,
            overflows: 0,
        }
    }

    pub async fn read_batch(&mut self) -> Result<AuditBatch, NetlinkError> {
        let batch = self.records.next_batch().await?;
        Ok(self.convert(batch))
    }

    pub fn read_remaining(&mut self) -> AuditBatch {
        match self.records.read_now() {
            Ok(batch) => self.convert(batch),
            Err(error) => {
                tracing::warn!(
                    "reading the last audit records: {}",
                    crate::probe::Chain(&error)
                );
                AuditBatch::default()
            }
        }
    }

    fn convert(&mut self, batch: Batch) -> AuditBatch {
        if batch.overflows > 0 {
            self.overflows += batch.overflows;
            tracing::warn!(
                "audit records lost: the socket's receive buffer overflowed {} times",
                batch.overflows
            );
        }
        let clock = WallClock::now();
        let mut out = AuditBatch::default();
        for text in batch.records {
            match SeccompRecord::parse(&text) {
                Ok(record) => {
                    out.events
                        .push(to_event(record, &self.node, self.exits.as_ref(), clock))
                }
                Err(error) => {
                    out.undecodable += 1;
                    tracing::warn!(
                        "skipping an unreadable seccomp audit record ({error}): {text:?}"
                    );
                }
            }
        }
        out
    }

    /// Records lost since the start: the kernel's count (rate and backlog limits, which apply
    /// to every audit record, not only seccomp's) plus one per socket overflow, which is a
    /// lower bound of what each overflow dropped.
    pub fn total_lost(&self) -> u64 {
        let kernel = match &self.kernel_lost {
            Some(lost) => {
                if let Ok(status) = status::read() {
                    lost.update(&status);
                }
                lost.counted.get()
            }
            None => 0,
        };
        kernel + self.overflows
    }

    pub fn report_new_losses(&mut self) {
        let total = self.total_lost();
        if total > self.lost_reported {
            tracing::warn!(
                "{} audit records lost: the kernel's audit backlog or rate limit was exceeded \
                 (see auditctl -s)",
                total - self.lost_reported
            );
            self.lost_reported = total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(enabled: u32, auditd: u32, lost: u32) -> AuditStatus {
        let words = [0, enabled, 1, auditd, 0, 64, lost, 0];
        AuditStatus::from_bytes(&words.map(u32::to_ne_bytes).concat()).unwrap()
    }

    #[test]
    fn leaves_out_growth_the_kernel_counted_for_delivered_records() {
        let lost = KernelLost::new(&status(0, 0, 10));
        lost.update(&status(0, 0, 13));
        assert_eq!(lost.counted.get(), 3);
        // Enabled with no daemon: everything past the hold queue counts as lost.
        lost.update(&status(1, 0, 500));
        assert_eq!(lost.counted.get(), 3);
        lost.update(&status(1, 812, 504));
        assert_eq!(lost.counted.get(), 7);
    }
}
