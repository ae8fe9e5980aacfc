//! Exact decimal numbers.
//!
//! Meters send decimal digits (`000123.456*kWh`, KMP's mantissa + decimal exponent, `/#1` fields).
//! Passing them through `f64` turns `63.44` into `63.440000000000005` and makes counters compare
//! wrongly, so every value in this crate is kept as `mantissa × 10^exponent` and printed from the
//! digits.

use std::cmp::Ordering;
use std::fmt;

/// `mantissa × 10^exponent`, exactly as the meter sent it (trailing zeros are kept, so
/// `123.450` prints as `123.450`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: i64,
    exponent: i8,
}

/// Why a string is not a decimal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty number")]
    Empty,
    #[error("invalid character {0:?} in number")]
    InvalidChar(char),
    #[error("number has more than 18 significant digits")]
    TooLong,
}

/// `00` to `99`: two digits per step when writing a number.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The two digits of `v` (`None` from 100 on), from [`DIGIT_PAIRS`]: for the state JSON's
/// timestamps.
#[inline(always)]
pub(crate) fn digit_pair(v: u16) -> Option<[u8; 2]> {
    let i = usize::from(v) * 2;
    match DIGIT_PAIRS.get(i..i + 2) {
        Some(&[a, b]) => Some([a, b]),
        _ => None,
    }
}

/// The largest exponent magnitude we keep; KMP's SiEx allows ±63 but no meter sends more.
const MAX_EXP: i32 = 63;

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        exponent: 0,
    };

    /// `mantissa × 10^exponent`. Exponents beyond ±63 are clamped (KMP's 6-bit limit).
    pub const fn new(mantissa: i64, exponent: i8) -> Self {
        Decimal { mantissa, exponent }
    }

    pub const fn from_int(v: i64) -> Self {
        Decimal {
            mantissa: v,
            exponent: 0,
        }
    }

    pub const fn mantissa(&self) -> i64 {
        self.mantissa
    }

    pub const fn exponent(&self) -> i8 {
        self.exponent
    }

    pub const fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub const fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// Multiply by `10^n` without touching the digits (kW → W is `shift(3)`), so the result is
    /// exact. Returns `None` if the exponent would leave the supported range.
    pub fn shift(self, n: i8) -> Option<Self> {
        let e = self.exponent as i32 + n as i32;
        if e.abs() > MAX_EXP {
            return None;
        }
        Some(Decimal {
            mantissa: self.mantissa,
            exponent: e as i8,
        })
    }

    /// The same value with as few digits as possible (`1193.000` → `1193`). Used after a unit
    /// change (kW → W) where the meter's trailing zeros carry no meaning.
    pub fn normalize(self) -> Self {
        let mut d = self;
        if d.mantissa == 0 {
            return Decimal::ZERO;
        }
        while d.mantissa % 10 == 0 && d.exponent < MAX_EXP as i8 {
            d.mantissa /= 10;
            d.exponent += 1;
        }
        // Prefer plain integers over `12e3` when the value is small enough to print in full.
        while d.exponent > 0 {
            match d.mantissa.checked_mul(10) {
                Some(m) => {
                    d.mantissa = m;
                    d.exponent -= 1;
                }
                None => break,
            }
        }
        d
    }

    /// Parse a decimal written with `.` or `,` as the separator and an optional sign, such as
    /// `000123.456`, `-0.5`, `1,6`. Leading zeros are allowed; at most 18 significant digits.
    pub fn parse(s: &str) -> Result<Self, DecimalError> {
        Self::parse_bytes(s.as_bytes())
    }

    pub fn parse_bytes(s: &[u8]) -> Result<Self, DecimalError> {
        let (neg, digits) = match s.first() {
            None => return Err(DecimalError::Empty),
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            Some(_) => (false, s),
        };
        if digits.is_empty() {
            return Err(DecimalError::Empty);
        }
        let mut mantissa: i64 = 0;
        let mut frac_digits: i32 = 0;
        let mut seen_sep = false;
        let mut seen_digit = false;
        let mut significant = 0u32;
        for &b in digits {
            match b {
                b'0'..=b'9' => {
                    seen_digit = true;
                    if mantissa != 0 || b != b'0' {
                        significant += 1;
                        if significant > 18 {
                            return Err(DecimalError::TooLong);
                        }
                    }
                    mantissa = mantissa * 10 + (b - b'0') as i64;
                    if seen_sep {
                        frac_digits += 1;
                        if frac_digits > MAX_EXP {
                            return Err(DecimalError::TooLong);
                        }
                    }
                }
                b'.' | b',' if !seen_sep => seen_sep = true,
                other => return Err(DecimalError::InvalidChar(other as char)),
            }
        }
        if !seen_digit {
            return Err(DecimalError::Empty);
        }
        Ok(Decimal {
            mantissa: if neg { -mantissa } else { mantissa },
            exponent: -frac_digits as i8,
        })
    }

    /// Both values scaled to a common exponent, for comparison. `None` if that overflows,
    /// which for values from meters (≤ 18 digits, small exponents) does not happen.
    fn aligned(self, other: Self) -> Option<(i128, i128)> {
        let e = self.exponent.min(other.exponent) as i32;
        let scale = |d: Decimal| -> Option<i128> {
            let shift = (d.exponent as i32 - e) as u32;
            10i128
                .checked_pow(shift)
                .and_then(|p| (d.mantissa as i128).checked_mul(p))
        };
        Some((scale(self)?, scale(other)?))
    }

    /// The nearest `f64`, for arithmetic that needs no exactness (demo simulation, statistics).
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exponent as i32)
    }

    /// This value as a JSON number token with exactly these digits.
    pub fn to_json_number(self) -> serde_json::Number {
        // With `arbitrary_precision`, a Number parsed from a string keeps the string. Our
        // Display output is always a valid JSON number, so the fallback is unreachable in
        // practice; it keeps this function total.
        let mut buf = [0u8; MAX_TEXT];
        self.format(&mut buf, false)
            .parse()
            .unwrap_or_else(|_| serde_json::Number::from(self.mantissa))
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    // Inlined: the counter guard compares every counter of every telegram (issue 17).
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // The common case (a counter against its last value, issue 17): same exponent, so the
        // mantissas compare as they are, without aligning.
        if self.exponent == other.exponent {
            return self.mantissa.cmp(&other.mantissa);
        }
        self.cmp_aligned(*other)
    }
}

impl Decimal {
    /// [`Ord::cmp`] for different exponents (out of line: the rare half).
    #[inline(never)]
    fn cmp_aligned(self, other: Decimal) -> Ordering {
        match self.aligned(other) {
            Some((a, b)) => a.cmp(&b),
            None => self
                .to_f64()
                .partial_cmp(&other.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }
}

impl fmt::Display for Decimal {
    /// Always a valid JSON number: `123.456`, `0.5`, `-12`, `1200`, and `12e40` only for
    /// exponents too large to write out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; MAX_TEXT];
        f.write_str(self.format(&mut buf, false))
    }
}

/// The longest text [`Decimal::format`] writes: a sign, `0.` and 128 places after the point
/// (`Decimal::new` takes any `i8` exponent).
const MAX_TEXT: usize = 1 + 2 + 128;

impl Decimal {
    /// This number's text (as [`Display`](fmt::Display)) into `out`, without allocating
    /// (per-quantity topics).
    pub fn write_to(self, out: &mut Vec<u8>) {
        if !self.write_plain(out) {
            let mut buf = [0u8; MAX_TEXT];
            out.extend_from_slice(self.format(&mut buf, false).as_bytes());
        }
    }

    /// This number as the JSON token [`to_json_number`](Self::to_json_number) gives, into
    /// `out` without allocating: the state payload writes ~20 of these per telegram (issue 17,
    /// `docs/benchmarks.md`). The same text as `Display` but for the exponent form, which
    /// serde_json writes as `12e+40`.
    // Inlined into the state JSON's loop (the call was ≈ 12 instructions a number); the rare
    // forms stay out of line in `format`.
    #[inline]
    pub fn write_json(self, out: &mut Vec<u8>) {
        if !self.write_plain(out) {
            let mut buf = [0u8; MAX_TEXT];
            out.extend_from_slice(self.format(&mut buf, true).as_bytes());
        }
    }

    /// The common case of [`write_json`](Self::write_json) and [`write_to`](Self::write_to)
    /// (a meter's reading: the point inside or before the digits, at most 20 places), appended
    /// to `out`; `false` (nothing written) for any other exponent.
    ///
    /// Why this shape: the text (at most 23 bytes: `-0.` and 20 places) is written right to
    /// left, two digits a step, to end at byte 32 of a scratch, and the 32 bytes from its
    /// first are appended, then cut to its length. A copy of a fixed 32 bytes is two moves;
    /// appending the integer digits, the point and the fraction as three slices of varying
    /// length was three `memcpy` calls (issue 17, `docs/benchmarks.md` "Stop 7").
    #[inline(always)]
    fn write_plain(self, out: &mut Vec<u8>) -> bool {
        let e = self.exponent as i32;
        if !(-20..=0).contains(&e) {
            return false;
        }
        let mut buf = [0u8; 64];
        let mut at = 32;
        let mut m = self.mantissa.unsigned_abs();
        // Two digits, then one, of `m` before `at`.
        fn pair(buf: &mut [u8; 64], at: &mut usize, m: &mut u64) {
            let p = (*m % 100) as usize * 2;
            *m /= 100;
            *at -= 2;
            buf[*at] = DIGIT_PAIRS[p];
            buf[*at + 1] = DIGIT_PAIRS[p + 1];
        }
        fn single(buf: &mut [u8; 64], at: &mut usize, m: &mut u64) {
            *at -= 1;
            buf[*at] = b'0' + (*m % 10) as u8;
            *m /= 10;
        }
        let frac = (-e) as usize;
        for _ in 0..frac / 2 {
            pair(&mut buf, &mut at, &mut m);
        }
        if frac % 2 == 1 {
            single(&mut buf, &mut at, &mut m);
        }
        if frac > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        // The integer part: at least one digit.
        while m >= 100 {
            pair(&mut buf, &mut at, &mut m);
        }
        if m >= 10 {
            pair(&mut buf, &mut at, &mut m);
        } else {
            single(&mut buf, &mut at, &mut m);
        }
        if self.mantissa < 0 {
            at -= 1;
            buf[at] = b'-';
        }
        let start = out.len();
        if let Some(text) = buf.get(at..).and_then(<[u8]>::first_chunk::<32>) {
            out.extend_from_slice(text);
            out.truncate(start + 32 - at);
        }
        true
    }

    /// The text into `buf`; the same digits as the mantissa, the point placed by the exponent
    /// (`json`: `e+` before a positive exponent, as serde_json's number token has it).
    fn format(self, buf: &mut [u8; MAX_TEXT], json: bool) -> &str {
        // The mantissa's digits, right-aligned in a 20-byte scratch (u64::MAX has 20 digits).
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut m = self.mantissa.unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (m % 10) as u8;
            m /= 10;
            if m == 0 {
                break;
            }
        }
        let digits = &digits[at..];
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            let end = len + bytes.len();
            if let Some(dst) = buf.get_mut(len..end) {
                dst.copy_from_slice(bytes);
                len = end;
            }
        };
        if self.mantissa < 0 {
            put(b"-");
        }
        let e = self.exponent as i32;
        if e >= 0 {
            put(digits);
            if e > 18 {
                put(if json { b"e+" } else { b"e" });
                let exp = [b'1', b'0' + (e / 10 % 10) as u8, b'0' + (e % 10) as u8];
                put(if e >= 100 { &exp } else { &exp[1..] });
            } else if self.mantissa != 0 {
                for _ in 0..e {
                    put(b"0");
                }
            }
        } else {
            let frac = (-e) as usize;
            if digits.len() > frac {
                let (int, fr) = digits.split_at(digits.len() - frac);
                put(int);
                put(b".");
                put(fr);
            } else {
                put(b"0.");
                for _ in digits.len()..frac {
                    put(b"0");
                }
                put(digits);
            }
        }
        // Only ASCII digits, `-`, `.` and `e` were written.
        std::str::from_utf8(buf.get(..len).unwrap_or_default()).unwrap_or("0")
    }
}

impl std::str::FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse(s)
    }
}

impl serde::Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json_number().serialize(s)
    }
}

#[cfg(test)]
mod tests;
