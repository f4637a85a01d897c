//! A token bucket: `rate` tokens a second, at most `burst` kept; each call takes one.
//!
//! Kept as the time the bucket is next full of all but what it lacks (the generic cell rate
//! algorithm's "theoretical arrival time"), in whole nanoseconds: no floating-point sum drifts
//! over a long run, and a bucket is one `Instant`.

use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// The time one token takes to come back.
    interval: Duration,
    /// How far ahead of now the bucket may be spent: the burst, less the call at hand.
    tolerance: Duration,
    /// When the bucket would be full again, were nothing more taken.
    full_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        let interval = Duration::try_from_secs_f64(1.0 / rate)
            .unwrap_or(Duration::MAX / 4)
            .max(Duration::from_nanos(1));
        Self {
            interval,
            tolerance: interval.saturating_mul(burst.max(1) - 1),
            full_at: now,
        }
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let full_at = self.full_at.max(now);
        if full_at.saturating_duration_since(now) > self.tolerance {
            return false;
        }
        self.full_at = full_at + self.interval;
        true
    }

    /// Whether it is full by `now`: a bucket that is full can be forgotten and made anew.
    pub fn is_full(&self, now: Instant) -> bool {
        self.full_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn taken(bucket: &mut TokenBucket, at: Instant, tries: u32) -> u32 {
        (0..tries).filter(|_| bucket.take(at)).count() as u32
    }

    #[test]
    fn lets_a_burst_through_then_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 5, t0);
        assert_eq!(taken(&mut bucket, t0, 100), 5, "the burst");
        assert_eq!(taken(&mut bucket, t0 + Duration::from_millis(50), 100), 0);
        // 10 a second: one per 100 ms.
        assert_eq!(taken(&mut bucket, t0 + Duration::from_millis(100), 100), 1);
        assert_eq!(taken(&mut bucket, t0 + Duration::from_millis(350), 100), 2);
        // Idle long enough, it holds no more than the burst.
        assert_eq!(taken(&mut bucket, t0 + Duration::from_secs(60), 100), 5);
        assert!(!bucket.is_full(t0 + Duration::from_secs(60)));
        assert!(bucket.is_full(t0 + Duration::from_secs(61)));
    }

    #[test]
    fn a_steady_stream_passes_at_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 1, t0);
        // 1,000 calls a second for 10 s: 100 a second pass, plus the first.
        let passed = (0..10_000)
            .filter(|i| bucket.take(t0 + Duration::from_millis(*i)))
            .count();
        assert!((1000..=1001).contains(&passed), "{passed}");
    }

    #[test]
    fn a_clock_read_out_of_order_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut bucket = TokenBucket::new(1.0, 1, t0);
        assert!(bucket.take(t0));
        assert!(!bucket.take(t0 - Duration::from_millis(500)));
        assert!(!bucket.take(t0 + Duration::from_millis(999)));
        assert!(bucket.take(t0 + Duration::from_secs(1)));
    }
}
