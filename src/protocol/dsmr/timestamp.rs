//! P1 timestamps: `YYMMDDhhmmssX`.
//!
//! DSMR 5.0.2 §6.4 (and e-MUCS, Smarty): local time, `X` = `S` for summer time (UTC+2, CEST) or
//! `W` for winter time (UTC+1, CET). DSMR 2.2/3.0 M-Bus profile timestamps (`0-n:24.3.0`) have no
//! `X`: those meters are Dutch only (DSMR 2.2 §5 / 3.0 §6), so the offset follows the EU summer
//! time rule (Directive 2000/84/EC: last Sunday of March 01:00 UTC to last Sunday of October
//! 01:00 UTC), which needs no time-zone database.

use super::scan::{first_non_digit, load8};
use crate::time::Timestamp;

/// Why a P1 timestamp was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    Format,
    Impossible,
    /// A device that has no clock value sends a fixed marker instead: all zeros,
    /// `632525252525S` (Luxembourg spec example, unconnected M-Bus channel), `700101010000W`
    /// (Unix epoch in CET: corpus `ndokter_dsmr_parser/05_iskra_am550…` channel 1) and
    /// `000101000000W` (2000-01-01: esphome test "can parse a 0 value without a unit").
    Placeholder,
}

impl TimeError {
    /// The message (the `Display` text), as a static string.
    pub fn message(&self) -> &'static str {
        match self {
            TimeError::Format => "not a YYMMDDhhmmss[S|W] timestamp",
            TimeError::Impossible => "impossible date or time",
            TimeError::Placeholder => "placeholder time (the device has no valid clock)",
        }
    }
}

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for TimeError {}

/// CEST, the `S` suffix.
const SUMMER: i16 = 120;
/// CET, the `W` suffix.
const WINTER: i16 = 60;

/// The fields of `YYMMDDhhmmss[S|W]` as read, not yet checked as a date: year, month, day,
/// hour, minute, second, the offset of the suffix (`None` without one), and whether all twelve
/// digits are zero.
type Fields = (u16, u8, u8, u8, u8, u8, Option<i16>, bool);

#[inline(always)]
fn fields(s: &[u8]) -> Result<Fields, TimeError> {
    let (digits, suffix) = s.split_first_chunk::<12>().ok_or(TimeError::Format)?;
    // Two words: digits 0-7, and 8-11 padded with '0's.
    let lo = load8(digits, 0);
    let hi = load8(digits, 8) | 0x3030_3030 << 32;
    if first_non_digit(lo) < 8 || first_non_digit(hi) < 8 {
        return Err(TimeError::Format);
    }
    // Each byte pair (tens, units) to its value, in the even bytes.
    let pairs = |w: u64| (w & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(10 << 8 | 1) >> 8;
    let (p, q) = (pairs(lo), pairs(hi));
    let at = |w: u64, k: u32| (w >> (16 * k)) as u8;
    let (yy, mo, d, h, mi, se) = (at(p, 0), at(p, 1), at(p, 2), at(p, 3), at(q, 0), at(q, 1));
    let all_zero = (lo | (hi & 0xFFFF_FFFF)) & 0x0F0F_0F0F_0F0F_0F0F == 0;
    let offset = match suffix {
        [] => None,
        [b'S' | b's'] => Some(SUMMER),
        [b'W' | b'w'] => Some(WINTER),
        _ => return Err(TimeError::Format),
    };
    Ok((2000 + u16::from(yy), mo, d, h, mi, se, offset, all_zero))
}

/// Parse `YYMMDDhhmmss` with an optional `S`/`W` suffix (either case).
pub fn parse(s: &[u8]) -> Result<Timestamp, TimeError> {
    let (year, mo, d, h, mi, se, offset, all_zero) = fields(s)?;
    if all_zero {
        return Err(TimeError::Placeholder);
    }
    let offset = match offset {
        Some(o) => o,
        None => eu_offset(year, mo, d, h).ok_or(TimeError::Impossible)?,
    };
    let t = Timestamp::new(year, mo, d, h, mi, se, offset).ok_or(TimeError::Impossible)?;
    // Two-digit years: `70` can only be the epoch marker (1970), `00-01-01` the zero-date marker.
    let yy = year - 2000;
    if (yy == 70 || yy == 0) && mo == 1 && d == 1 {
        return Err(TimeError::Placeholder);
    }
    Ok(t)
}

/// What orders P1 timestamps without checking them: for every `s` that [`parse`] takes, its
/// Unix seconds; `None` only where [`parse`] fails; for the rest (an impossible date with a
/// suffix, a placeholder) some number. So the latest of several timestamps is found by these
/// keys and only the one found need be [`parse`]d (the power failure log's entries, DSMR
/// 5.0.2 §6.12: parsing all six of a DSMR 5 telegram was ≈ 900 instructions, issue 17).
pub fn sort_key(s: &[u8]) -> Option<i64> {
    let (year, month, day, hour, minute, second, offset, _) = fields(s).ok()?;
    let Some(offset_minutes) = offset else {
        // Without a suffix the offset needs the date checked.
        return parse(s).ok().map(|t| t.unix_seconds());
    };
    // Any field up to 99 (two digits): `unix_seconds` is plain arithmetic on them.
    let t = Timestamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        offset_minutes,
    };
    Some(t.unix_seconds())
}

/// The Dutch offset (CET/CEST) of a local wall-clock time without suffix. The hour that
/// happens twice in October is taken as summer time.
fn eu_offset(year: u16, month: u8, day: u8, hour: u8) -> Option<i16> {
    Timestamp::new(year, month, day, 0, 0, 0, 0)?;
    let start = last_sunday(year, 3)?;
    let end = last_sunday(year, 10)?;
    let summer = match month {
        4..=9 => true,
        3 => day > start || (day == start && hour >= 2),
        10 => day < end || (day == end && hour < 3),
        _ => false,
    };
    Some(if summer { SUMMER } else { WINTER })
}

fn last_sunday(year: u16, month: u8) -> Option<u8> {
    let t = Timestamp::new(year, month, 31, 0, 0, 0, 0)?;
    let days = t.unix_seconds().div_euclid(86_400);
    // 1970-01-01 was a Thursday (weekday 4 with Sunday = 0).
    let weekday = (days + 4).rem_euclid(7) as u8;
    Some(31 - weekday)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes() {
        assert_eq!(
            parse(b"200512135409S").unwrap().to_string(),
            "2020-05-12T13:54:09+02:00"
        );
        assert_eq!(
            parse(b"161113205757W").unwrap().to_string(),
            "2016-11-13T20:57:57+01:00"
        );
    }

    #[test]
    fn markers_and_garbage() {
        assert_eq!(parse(b"632525252525S"), Err(TimeError::Impossible));
        assert_eq!(parse(b"700101010000W"), Err(TimeError::Placeholder));
        assert_eq!(parse(b"000000000000W"), Err(TimeError::Placeholder));
        assert_eq!(parse(b"000101000000W"), Err(TimeError::Placeholder));
        assert_eq!(parse(b"2005121354S"), Err(TimeError::Format));
        assert_eq!(parse(b"200512135409X"), Err(TimeError::Format));
    }

    /// The key is the Unix time of every timestamp that parses, and there whenever one does.
    #[test]
    fn sort_key_is_the_unix_time() {
        for s in [
            &b"200512135409S"[..],
            b"161113205757W",
            b"160410130000",
            b"241027025959",
            b"000229000000w",
            b"991231235960s",
            b"632525252525S",
            b"700101010000W",
            b"000000000000W",
            b"2005121354S",
            b"200512135409X",
            b"20051213540AS",
        ] {
            match parse(s) {
                Ok(t) => assert_eq!(sort_key(s), Some(t.unix_seconds()), "{s:?}"),
                Err(TimeError::Format) => assert_eq!(sort_key(s), None, "{s:?}"),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn no_suffix_uses_eu_rule() {
        // 2016-04-10 is summer time, 2016-11-07 winter; 2024-03-31 is the switch day.
        assert_eq!(parse(b"160410130000").unwrap().offset_minutes, 120);
        assert_eq!(parse(b"161107190000").unwrap().offset_minutes, 60);
        assert_eq!(parse(b"240331015959").unwrap().offset_minutes, 60);
        assert_eq!(parse(b"240331030000").unwrap().offset_minutes, 120);
        assert_eq!(parse(b"241027035959").unwrap().offset_minutes, 60);
    }
}
