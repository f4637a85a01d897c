//! Counting the audit records that never reached tracer's socket, from their serial numbers.
//!
//! The kernel stamps every audit record with a serial number (`audit(TIME:SERIAL)`) from one
//! counter, and copies every record it keeps to the multicast group. When the socket's buffer
//! overflows, the kernel drops records silently but for one ENOBUFS; the serial numbers of the
//! records that come after the drop say exactly how many went missing. Records of one event share
//! a number, and records stamped on different CPUs may arrive slightly out of order, so a late
//! arrival is taken back out of the count.

use std::collections::VecDeque;

/// How many separate runs of missing numbers are remembered for late arrivals to cancel.
const REMEMBERED_GAPS: usize = 256;

#[derive(Debug, Default)]
pub struct SerialGaps {
    newest: Option<u32>,
    /// Runs of numbers not seen yet, oldest first, as inclusive ranges.
    gaps: VecDeque<(u32, u32)>,
    missed: u64,
}

impl SerialGaps {
    pub fn saw(&mut self, serial: u32) {
        let Some(newest) = self.newest else {
            self.newest = Some(serial);
            return;
        };
        let ahead = serial.wrapping_sub(newest);
        if ahead == 0 {
            return;
        }
        // The counter wraps: half of its range ahead is newer, the other half older.
        if ahead < 1 << 31 {
            if ahead > 1 {
                self.missed += u64::from(ahead - 1);
                if self.gaps.len() == REMEMBERED_GAPS {
                    self.gaps.pop_front();
                }
                self.gaps
                    .push_back((newest.wrapping_add(1), serial.wrapping_sub(1)));
            }
            self.newest = Some(serial);
        } else {
            self.arrived_late(serial);
        }
    }

    /// Records missed so far.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    fn arrived_late(&mut self, serial: u32) {
        let Some(at) = self
            .gaps
            .iter()
            .position(|&(first, last)| serial.wrapping_sub(first) <= last.wrapping_sub(first))
        else {
            return;
        };
        let (first, last) = self.gaps[at];
        self.missed -= 1;
        let before = (serial != first).then(|| (first, serial.wrapping_sub(1)));
        let after = (serial != last).then(|| (serial.wrapping_add(1), last));
        match (before, after) {
            (Some(before), Some(after)) => {
                self.gaps[at] = before;
                self.gaps.insert(at + 1, after);
            }
            (Some(only), None) | (None, Some(only)) => self.gaps[at] = only,
            (None, None) => {
                self.gaps.remove(at);
            }
        }
    }
}

/// The serial number of a record, from the `audit(SECONDS.MILLIS:SERIAL): ` that starts it.
pub fn serial_of(payload: &[u8]) -> Option<u32> {
    let rest = payload.strip_prefix(b"audit(")?;
    let close = rest.iter().position(|&b| b == b')')?;
    let header = &rest[..close];
    let colon = header.iter().rposition(|&b| b == b':')?;
    std::str::from_utf8(&header[colon + 1..]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missed_after(serials: &[u32]) -> u64 {
        let mut gaps = SerialGaps::default();
        for &serial in serials {
            gaps.saw(serial);
        }
        gaps.missed()
    }

    #[test]
    fn counts_the_numbers_between_two_records() {
        assert_eq!(missed_after(&[10, 11, 12]), 0);
        assert_eq!(missed_after(&[10, 11, 20, 21]), 8);
        assert_eq!(
            missed_after(&[5, 5, 6, 6, 9]),
            2,
            "records of one event share a number"
        );
    }

    #[test]
    fn takes_late_arrivals_back_out() {
        assert_eq!(missed_after(&[1, 3, 2]), 0);
        assert_eq!(missed_after(&[1, 6, 3, 4]), 2);
        assert_eq!(missed_after(&[1, 6, 3, 3, 2, 4, 5]), 0);
        // An old record that was never counted missing changes nothing.
        assert_eq!(missed_after(&[100, 101, 50]), 0);
    }

    #[test]
    fn follows_the_counter_across_its_wrap() {
        assert_eq!(missed_after(&[u32::MAX - 1, 1]), 2);
        assert_eq!(missed_after(&[u32::MAX - 1, 1, u32::MAX, 0]), 0);
    }

    #[test]
    fn reads_the_serial_from_the_header() {
        assert_eq!(serial_of(b"audit(1700000000.123:4567): pid=1"), Some(4567));
        assert_eq!(serial_of(b"audit(1700000000.123:): pid=1"), None);
        assert_eq!(serial_of(b"pid=1"), None);
        assert_eq!(serial_of(b"audit(1.2:99"), None);
    }
}
