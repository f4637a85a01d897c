//! How often a lookup may reach a runtime itself while that runtime's watcher waits to
//! reconnect: a container started right after a restart must not go unnamed until the watcher
//! notices, but a runtime that is still down must not be asked once per event.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// At most one direct attempt per interval.
const INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
pub struct DirectAttempts {
    last: Mutex<Option<Instant>>,
}

impl DirectAttempts {
    /// Whether a lookup may try now; if so, the attempt is counted as made.
    pub fn may_try(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_one_attempt_per_interval() {
        let attempts = DirectAttempts::default();
        assert!(attempts.may_try());
        assert!(!attempts.may_try(), "a second attempt at once is refused");
        *attempts.last.lock().unwrap() = Some(Instant::now() - INTERVAL);
        assert!(attempts.may_try(), "one interval later it is allowed again");
    }
}
