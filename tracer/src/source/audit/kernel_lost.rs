//! The part of the kernel's lost-record counter that tracer really missed.

use super::status::AuditStatus;

#[derive(Debug)]
pub struct KernelLost {
    /// The counter at the last look.
    last: u32,
    /// Growth over the intervals in which it meant records the multicast group missed.
    missed: u64,
    /// Growth over the intervals in which the kernel also counted records it had delivered.
    counted_but_delivered: u64,
    over_counting: bool,
    /// Whether the kernel was booted with `audit=1`: only then does it over-count.
    booted_with_audit: bool,
}

impl KernelLost {
    pub fn new(status: &AuditStatus, booted_with_audit: bool) -> Self {
        let mut lost = Self {
            last: status.lost,
            missed: 0,
            counted_but_delivered: 0,
            over_counting: false,
            booted_with_audit,
        };
        lost.note_over_counting(status);
        lost
    }

    pub fn update(&mut self, status: &AuditStatus) {
        let grown = u64::from(status.lost.wrapping_sub(self.last));
        // An interval that ends in the over-counting state is set apart whole: the counter
        // cannot tell which of its records were delivered.
        if self.over_counts(status) {
            self.counted_but_delivered += grown;
        } else {
            self.missed += grown;
        }
        self.last = status.lost;
        self.note_over_counting(status);
    }

    pub fn missed(&self) -> u64 {
        self.missed
    }

    pub fn counted_but_delivered(&self) -> u64 {
        self.counted_but_delivered
    }

    fn over_counts(&self, status: &AuditStatus) -> bool {
        self.booted_with_audit && status.lost_counts_delivered()
    }

    fn note_over_counting(&mut self, status: &AuditStatus) {
        let now = self.over_counts(status);
        if now && !self.over_counting {
            tracing::info!(
                "auditing is enabled with no audit daemon: the kernel then counts records it \
                 delivered to tracer as lost; that count is reported apart, not as lost"
            );
        }
        self.over_counting = now;
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
    fn sets_apart_growth_the_kernel_counted_for_delivered_records() {
        let mut lost = KernelLost::new(&status(0, 0, 10), true);
        lost.update(&status(0, 0, 13));
        assert_eq!((lost.missed(), lost.counted_but_delivered()), (3, 0));
        // Enabled with no daemon: everything past the hold queue counts as lost.
        lost.update(&status(1, 0, 500));
        assert_eq!((lost.missed(), lost.counted_but_delivered()), (3, 487));
        lost.update(&status(1, 812, 504));
        assert_eq!((lost.missed(), lost.counted_but_delivered()), (7, 487));
    }

    #[test]
    fn counts_everything_as_lost_on_a_kernel_booted_without_audit() {
        // Enabled later (auditctl -e 1) with no daemon: the kernel drops what no daemon takes
        // without counting it, so what it does count was really lost.
        let mut lost = KernelLost::new(&status(1, 0, 10), false);
        lost.update(&status(1, 0, 25));
        assert_eq!((lost.missed(), lost.counted_but_delivered()), (15, 0));
    }
}
