//! Civil timestamps with a UTC offset, printed as ISO 8601 (`2024-03-31T02:59:59+02:00`).
//!
//! Meters send local wall-clock time with an explicit offset hint (DSMR's `S`/`W` suffix), so
//! no time-zone database is needed: we keep the wall-clock fields and the offset as sent. The
//! receive time of meters that send no clock is taken from the system clock in UTC.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A wall-clock time with its offset from UTC, in whole minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timestamp {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub offset_minutes: i16,
}

impl Timestamp {
    /// A validated timestamp; `None` for impossible dates (month 13, 31 February, hour 25),
    /// which real M-Bus devices do send (`632525252525S`).
    #[inline]
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        offset_minutes: i16,
    ) -> Option<Self> {
        let ok = (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            // 60 allows a leap second; meters do not send it but it is not invalid.
            && second <= 60
            && offset_minutes.abs() <= 18 * 60;
        ok.then_some(Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
            offset_minutes,
        })
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    #[inline]
    pub fn unix_seconds(&self) -> i64 {
        let days = days_from_civil(self.year as i64, self.month as i64, self.day as i64);
        days * 86_400 + self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64
            - self.offset_minutes as i64 * 60
    }

    /// The UTC timestamp for `secs` seconds since the Unix epoch.
    pub fn from_unix_seconds(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        Timestamp {
            year: y.clamp(0, 9999) as u16,
            month: m as u8,
            day: d as u8,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
            offset_minutes: 0,
        }
    }

    /// The current system time in UTC (the receive time for meters without a clock).
    pub fn now_utc() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self::from_unix_seconds(secs)
    }
}

#[inline]
fn is_leap(y: u16) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

#[inline]
fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Howard Hinnant's `days_from_civil` (public-domain algorithm, proleptic Gregorian).
#[inline]
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let off = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            sign,
            off / 60,
            off % 60
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_unix() {
        let t = Timestamp::new(2024, 3, 31, 2, 59, 59, 120).unwrap();
        assert_eq!(t.to_string(), "2024-03-31T02:59:59+02:00");
        let utc = Timestamp::from_unix_seconds(t.unix_seconds());
        assert_eq!(utc.to_string(), "2024-03-31T00:59:59+00:00");
        assert_eq!(
            Timestamp::from_unix_seconds(0).to_string(),
            "1970-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn rejects_impossible_dates() {
        assert!(Timestamp::new(2063, 25, 25, 25, 25, 25, 120).is_none());
        assert!(Timestamp::new(2023, 2, 29, 0, 0, 0, 60).is_none());
        assert!(Timestamp::new(2024, 2, 29, 0, 0, 0, 60).is_some());
        assert!(Timestamp::new(2000, 0, 0, 0, 0, 0, 60).is_none());
    }
}
