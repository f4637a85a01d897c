//! Waits between retries of a failed send: exponential from the initial backoff, capped, with
//! jitter so that many tracers whose receiver comes back do not all retry at once.

use std::time::Duration;

/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Each wait is the nominal one ± this fraction.
const JITTER: f64 = 0.2;

pub struct Backoff {
    initial: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration) -> Self {
        Self {
            initial,
            next: initial,
        }
    }

    /// The wait before the next try; each call doubles the one after, up to [`MAX_BACKOFF`].
    pub fn next_wait(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF.max(self.initial));
        nominal.mul_f64(1.0 + JITTER * (2.0 * fastrand::f64() - 1.0))
    }

    /// A send succeeded: the next failure starts over from the initial wait.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_starts_over() {
        let mut backoff = Backoff::new(Duration::from_secs(1));
        let waits: Vec<_> = (0..8).map(|_| backoff.next_wait()).collect();
        for (i, wait) in waits.iter().enumerate() {
            let nominal = Duration::from_secs(1 << i).min(MAX_BACKOFF);
            assert!(
                *wait >= nominal.mul_f64(0.8) && *wait <= nominal.mul_f64(1.2),
                "wait {i} is {wait:?}, nominal {nominal:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_wait() <= Duration::from_millis(1200));
    }
}
