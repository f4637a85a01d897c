//! How the fields whose Rust types are not their JSON form are written (docs/events.md).

use chrono::{DateTime, Datelike as _, SecondsFormat, Timelike as _, Utc};
use serde::Serializer;

/// RFC 3339 in UTC with nanoseconds: `2026-11-23T22:41:07.123456789Z`.
pub fn timestamp<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(Rfc3339::of(time).as_str())
}

/// A timestamp's text, formatted without allocating for the years 0 to 9999.
pub enum Rfc3339 {
    Short([u8; 30]),
    Long(String),
}

impl Rfc3339 {
    pub fn of(time: &DateTime<Utc>) -> Self {
        let (year, nanos) = (time.year(), time.nanosecond());
        // Outside four-digit years, or in a leap second, chrono knows best.
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return Self::Long(time.to_rfc3339_opts(SecondsFormat::Nanos, true));
        }
        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        let mut digits = |at: usize, len: usize, mut value: u32| {
            for place in (at..at + len).rev() {
                text[place] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        digits(0, 4, year as u32);
        digits(5, 2, time.month());
        digits(8, 2, time.day());
        digits(11, 2, time.hour());
        digits(14, 2, time.minute());
        digits(17, 2, time.second());
        digits(20, 9, nanos);
        Self::Short(text)
    }

    pub fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and separators are ever written into it.
            Self::Short(text) => std::str::from_utf8(text).expect("ASCII"),
            Self::Long(text) => text,
        }
    }
}

/// The signal's name (`SIGSYS`), its number where it has none, or null.
pub fn signal_name<S: Serializer>(signal: &Option<i32>, serializer: S) -> Result<S::Ok, S::Error> {
    match signal.map(|signo| (signo, known_signal(signo))) {
        Some((_, Some(name))) => serializer.serialize_str(name),
        Some((signo, None)) => serializer.collect_str(&signo),
        None => serializer.serialize_none(),
    }
}

/// The name of a signal this system knows.
pub fn known_signal(signo: i32) -> Option<&'static str> {
    nix::sys::signal::Signal::try_from(signo)
        .ok()
        .map(|signal| signal.as_str())
}

pub fn signal(signo: i32) -> String {
    known_signal(signo).map_or_else(|| signo.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_chrono_writes_them() {
        for nanos in [
            0,
            5,
            1_700_000_000_123_456_789,
            -1,
            -86_400_000_000_001,
            i64::MAX,
        ] {
            let time = DateTime::from_timestamp_nanos(nanos);
            assert_eq!(
                Rfc3339::of(&time).as_str(),
                time.to_rfc3339_opts(SecondsFormat::Nanos, true),
                "{nanos}"
            );
        }
    }
}
