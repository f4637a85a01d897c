//! The audit event source: records from netlink, parsed into events, with the kernel's own count
//! of records it could not deliver reported as lost.

use std::sync::Arc;

use super::{
    event::to_event,
    netlink::{self, AuditRecords, Batch, NetlinkError},
    record::{self, AUDIT_SECCOMP},
};
use crate::{
    events::{Event, clock::WallClock},
    probe::exits::ExitedTasks,
};

pub struct AuditSource {
    records: AuditRecords,
    exits: Option<ExitedTasks>,
    node: Arc<str>,
    /// The kernel's lost counter when we started; `None` when it cannot be read.
    lost_at_start: Option<u32>,
    lost_reported: u64,
    /// Times the socket's buffer overflowed: each lost at least one record.
    overflows: u64,
}

#[derive(Debug, Default)]
pub struct AuditBatch {
    pub events: Vec<Event>,
    pub undecodable: u64,
}

impl AuditSource {
    pub fn new(records: AuditRecords, exits: Option<ExitedTasks>, node: Arc<str>) -> Self {
        let lost_at_start = match netlink::status() {
            Ok(status) => Some(status.lost),
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
            lost_at_start,
            lost_reported: 0,
            overflows: 0,
        }
    }

    pub async fn read_batch(&mut self) -> Result<AuditBatch, NetlinkError> {
        let batch = self.records.next_batch(AUDIT_SECCOMP).await?;
        Ok(self.convert(batch))
    }

    pub fn read_remaining(&mut self) -> AuditBatch {
        match self.records.read_now(AUDIT_SECCOMP) {
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
            match record::parse(&text) {
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
    /// to every audit record, not only seccomp's) plus one per socket overflow, a lower bound.
    pub fn total_lost(&self) -> u64 {
        let kernel = match (self.lost_at_start, netlink::status()) {
            (Some(start), Ok(status)) => u64::from(status.lost.wrapping_sub(start)),
            _ => 0,
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
