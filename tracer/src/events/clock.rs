//! Turns the kernel's boot-time timestamps into wall-clock time.

use chrono::{DateTime, Utc};
use nix::time::{ClockId, clock_gettime};

/// Offset between `CLOCK_REALTIME` and `CLOCK_BOOTTIME`.
///
/// Events carry boot time because it never jumps; the offset is re-read on every batch so a
/// wall-clock step (NTP, an operator) shows up in the next events rather than never.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    realtime_minus_boottime_ns: i128,
}

impl WallClock {
    pub fn now() -> Self {
        let realtime = read_ns(ClockId::CLOCK_REALTIME);
        let boottime = read_ns(ClockId::CLOCK_BOOTTIME);
        Self {
            realtime_minus_boottime_ns: realtime - boottime,
        }
    }

    /// A fixed offset, for decoding recorded events reproducibly.
    pub fn with_offset_ns(realtime_minus_boottime_ns: i128) -> Self {
        Self {
            realtime_minus_boottime_ns,
        }
    }

    pub fn to_wall(self, boot_ns: u64) -> DateTime<Utc> {
        let wall = self.realtime_minus_boottime_ns + i128::from(boot_ns);
        let wall = i64::try_from(wall).unwrap_or(i64::MAX);
        DateTime::from_timestamp_nanos(wall)
    }
}

fn read_ns(clock: ClockId) -> i128 {
    // Both clocks exist on every kernel that can run our programs (boot time since 2.6.39).
    let ts = clock_gettime(clock).expect("CLOCK_REALTIME and CLOCK_BOOTTIME are always available");
    i128::from(ts.tv_sec()) * 1_000_000_000 + i128::from(ts.tv_nsec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_offset_to_boot_time() {
        let clock = WallClock::with_offset_ns(1_700_000_000_000_000_000);
        let wall = clock.to_wall(1_500);
        assert_eq!(
            wall.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "2023-11-14T22:13:20.000001500Z"
        );
    }

    #[test]
    fn now_is_close_to_the_system_clock() {
        let boot = read_ns(ClockId::CLOCK_BOOTTIME) as u64;
        let decoded = WallClock::now().to_wall(boot);
        let drift = (Utc::now() - decoded).num_milliseconds().abs();
        assert!(drift < 1_000, "decoded time is {drift} ms away from now");
    }
}
