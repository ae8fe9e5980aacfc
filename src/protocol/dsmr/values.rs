//! Values inside a data object: the `( … )` groups, numbers with units, timestamps' digits,
//! hex-encoded ids and messages (DSMR 5.0.2 §6.4 value formats).

use std::borrow::Cow;

use super::scan::*;
use crate::decimal::Decimal;

/// The `( … )` groups of an object's values. Whitespace and line ends between groups are
/// skipped; anything else ends the iteration (see [`Groups::malformed`]).
#[derive(Clone)]
pub struct Groups<'a> {
    rest: &'a [u8],
    malformed: bool,
}

pub fn groups(values: &[u8]) -> Groups<'_> {
    Groups {
        rest: values,
        malformed: false,
    }
}

impl Groups<'_> {
    /// Whether something other than a group was found (or a group was not closed).
    pub fn malformed(&self) -> bool {
        self.malformed
    }
}

impl<'a> Iterator for Groups<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let r = match self.rest.first() {
            // Groups usually follow each other directly.
            Some(b'(') => self.rest,
            _ => {
                let skip = self
                    .rest
                    .iter()
                    .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))?;
                &self.rest[skip..]
            }
        };
        if r[0] != b'(' {
            self.malformed = true;
            self.rest = &[];
            return None;
        }
        match find(b')', r) {
            Some(close) => {
                self.rest = &r[close + 1..];
                Some(&r[1..close])
            }
            None => {
                self.malformed = true;
                self.rest = &[];
                Some(&r[1..])
            }
        }
    }
}

/// Units as meters send them, compared case-insensitively (`KWH`, `kwh`, `m3`, `M3`: DSMR 5.0.2
/// §6.4 spells them `kWh`, `kW`, `V`, `A`, `m3`, `GJ`, `s`; athombv 14 sends lower case; Austria
/// and EST send `Wh`/`W`/`varh`/`var`, corpus ndokter 11 and athombv 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawUnit {
    None,
    Wh,
    KWh,
    MWh,
    W,
    KW,
    MW,
    Varh,
    Kvarh,
    Var,
    Kvar,
    VA,
    Kva,
    V,
    A,
    Hz,
    M3,
    Dm3,
    GJ,
    MJ,
    S,
    Other,
}

/// A unit of at most eight bytes, lower-cased, as one little-endian word (zero-padded).
pub(super) const fn unit_word(u: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < u.len() {
        w |= (u[i].to_ascii_lowercase() as u64) << (8 * i);
        i += 1;
    }
    w
}

impl RawUnit {
    pub fn parse(u: &[u8]) -> RawUnit {
        if u.len() > 8 {
            return RawUnit::Other;
        }
        Self::from_word(load8(u, 0), u.len())
    }

    /// The unit in the first `len` (at most 8) bytes of `w`, compared case-insensitively.
    #[inline(always)]
    fn from_word(w: u64, len: usize) -> RawUnit {
        // Lower-case A-Z a word at a time (bytes above 0x7F stay as they are).
        let y = w & (LO * 0x7F);
        let upper =
            (y + LO * (0x80 - b'A' as u64)) & !(y + LO * (0x80 - b'Z' as u64 - 1)) & !w & HI;
        let w = (w | upper >> 2) & (u64::MAX >> (8 * (8 - len.max(1)) as u32));
        // One word compare per unit instead of a byte-string match (hot path: most values).
        const WH: u64 = unit_word(b"wh");
        const KWH: u64 = unit_word(b"kwh");
        const MWH: u64 = unit_word(b"mwh");
        const W: u64 = unit_word(b"w");
        const KW: u64 = unit_word(b"kw");
        const MW: u64 = unit_word(b"mw");
        const VARH: u64 = unit_word(b"varh");
        const KVARH: u64 = unit_word(b"kvarh");
        const VAR: u64 = unit_word(b"var");
        const KVAR: u64 = unit_word(b"kvar");
        const VA: u64 = unit_word(b"va");
        const KVA: u64 = unit_word(b"kva");
        const V: u64 = unit_word(b"v");
        const A: u64 = unit_word(b"a");
        const HZ: u64 = unit_word(b"hz");
        const M3: u64 = unit_word(b"m3");
        const M3_LATIN1: u64 = unit_word(b"m\xb3");
        const M3_UTF8: u64 = unit_word(b"m\xc2\xb3");
        const DM3: u64 = unit_word(b"dm3");
        const GJ: u64 = unit_word(b"gj");
        const MJ: u64 = unit_word(b"mj");
        const S: u64 = unit_word(b"s");
        match (len, w) {
            (0, _) => RawUnit::None,
            (2, WH) => RawUnit::Wh,
            (3, KWH) => RawUnit::KWh,
            (3, MWH) => RawUnit::MWh,
            (1, W) => RawUnit::W,
            (2, KW) => RawUnit::KW,
            (2, MW) => RawUnit::MW,
            (4, VARH) => RawUnit::Varh,
            (5, KVARH) => RawUnit::Kvarh,
            (3, VAR) => RawUnit::Var,
            (4, KVAR) => RawUnit::Kvar,
            (2, VA) => RawUnit::VA,
            (3, KVA) => RawUnit::Kva,
            (1, V) => RawUnit::V,
            (1, A) => RawUnit::A,
            (2, HZ) => RawUnit::Hz,
            // `m³` in Latin-1 (0xB3) and UTF-8 (C2 B3): DSMR notes, bytes > 0x7F.
            (2, M3 | M3_LATIN1) | (3, M3_UTF8) => RawUnit::M3,
            (3, DM3) => RawUnit::Dm3,
            (2, GJ) => RawUnit::GJ,
            (2, MJ) => RawUnit::MJ,
            (1, S) => RawUnit::S,
            _ => RawUnit::Other,
        }
    }
}

/// A number with its unit: `000123.456*kWh`.
pub fn number(group: &[u8]) -> Option<(Decimal, RawUnit)> {
    if let Some((d, i)) = plain_decimal(group) {
        match group.get(i) {
            None => return Some((d, RawUnit::None)),
            Some(b'*') => {
                let unit = &group[i + 1..];
                // Nothing to trim at either end (the usual case): no trimming pass.
                let unit = match (unit.first(), unit.last()) {
                    (Some(&a), Some(&b)) if !trimmable(a) && !trimmable(b) => unit,
                    _ => trim_line(unit),
                };
                return Some((d, RawUnit::parse(unit)));
            }
            _ => {}
        }
    }
    let (num, unit) = match find(b'*', group) {
        Some(i) => (&group[..i], RawUnit::parse(trim_line(&group[i + 1..]))),
        None => (group, RawUnit::None),
    };
    decimal(trim_line(num)).map(|d| (d, unit))
}

/// The first group of `values` when it is a closed plain number, `(000123.456*kWh)`: what
/// `groups(values).next().and_then(number)` gives, in one pass. `None` for anything else
/// (the caller takes the general path, which has the last word).
#[inline]
pub fn first_number(values: &[u8]) -> Option<(Decimal, RawUnit)> {
    first_group_number(values).map(|(n, _)| n)
}

/// [`first_number`] and the index of the group's `)`. A line end before it is not plain.
#[inline(always)]
pub(super) fn first_group_number(values: &[u8]) -> Option<((Decimal, RawUnit), usize)> {
    let s = values.strip_prefix(b"(")?;
    let (d, i) = plain_decimal(s)?;
    match s.get(i) {
        Some(b')') => Some(((d, RawUnit::None), i + 1)),
        Some(b'*') => {
            let unit = &s[i + 1..];
            // Usually `kWh)`: the unit and its `)` within a word, nothing to trim.
            let w = load8(unit, 0);
            let close = (flags(w, b')') | flags(w, b'\n')).trailing_zeros() as usize / 8;
            if close < 8
                && unit[close] == b')'
                && (close == 0 || (!trimmable(unit[0]) && !trimmable(unit[close - 1])))
            {
                return Some(((d, RawUnit::from_word(w, close)), i + close + 2));
            }
            let close = find2(b')', b'\n', unit).filter(|&c| unit[c] == b')')?;
            Some((
                (d, RawUnit::parse(trim_line(&unit[..close]))),
                i + close + 2,
            ))
        }
        _ => None,
    }
}

/// The plain decimal (digits and at most one `.`, at most 18 of them, at least one digit) at
/// the start of `s`, and where it ends. The same value as [`decimal`] on those bytes.
#[inline(always)]
pub(crate) fn plain_decimal(s: &[u8]) -> Option<(Decimal, usize)> {
    // A word at a time: the integer digits, then the fraction digits (DSMR values have at
    // most 8 of either; more take the byte loop).
    let w = load8(s, 0);
    let mut int_len = first_non_digit(w);
    let mut int = digits8(w, int_len);
    if int_len == 8 {
        // 9 to 15 integer digits (counters, timestamps); 16 or more take the byte loop.
        let w1 = load8(s, 8);
        let more = first_non_digit(w1);
        if more == 8 {
            return plain_decimal_bytes(s);
        }
        int = int * POW10[more] + digits8(w1, more);
        int_len += more;
    }
    let (mut mantissa, mut i, mut frac) = (int, int_len, 0);
    if s.get(i) == Some(&b'.') {
        let f = load8(s, i + 1);
        frac = first_non_digit(f);
        if frac == 8 {
            return plain_decimal_bytes(s);
        }
        // Wrapping: past 18 characters the result is thrown away below.
        mantissa = mantissa
            .wrapping_mul(POW10[frac])
            .wrapping_add(digits8(f, frac));
        i += 1 + frac;
    }
    if int_len + frac == 0 || i > 18 {
        return None;
    }
    Some((Decimal::new(mantissa as i64, -(frac as i8)), i))
}

/// [`plain_decimal`] a byte at a time.
pub(super) fn plain_decimal_bytes(s: &[u8]) -> Option<(Decimal, usize)> {
    let mut mantissa: i64 = 0;
    let mut dot = usize::MAX;
    let mut i = 0;
    // At most 18 characters; a 19th ends the search (ids are 34 hex digits).
    while let Some(&c) = s.get(i).filter(|_| i <= 18) {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(d as i64);
        } else if c == b'.' && dot == usize::MAX {
            dot = i;
        } else {
            break;
        }
        i += 1;
    }
    let digits = i - usize::from(dot != usize::MAX);
    if digits == 0 || i > 18 {
        return None;
    }
    let frac = if dot == usize::MAX { 0 } else { i - 1 - dot };
    Some((Decimal::new(mantissa, -(frac as i8)), i))
}

/// [`Decimal::parse_bytes`], with a fast path for what meters send: at most 18 digits and at
/// most one `.` (so at most 18 significant digits, the same result).
#[inline]
pub fn decimal(s: &[u8]) -> Option<Decimal> {
    if s.len() <= 18 {
        let mut mantissa: i64 = 0;
        let mut dot = usize::MAX;
        let mut plain = true;
        for (i, &b) in s.iter().enumerate() {
            let d = b.wrapping_sub(b'0');
            if d < 10 {
                mantissa = mantissa * 10 + d as i64;
            } else if b == b'.' && dot == usize::MAX {
                dot = i;
            } else {
                plain = false;
                break;
            }
        }
        let digits = s.len() - usize::from(dot != usize::MAX);
        if plain && digits > 0 {
            let frac = if dot == usize::MAX {
                0
            } else {
                s.len() - 1 - dot
            };
            return Some(Decimal::new(mantissa, -(frac as i8)));
        }
    }
    Decimal::parse_bytes(s).ok()
}

/// Text that may be hex-encoded ASCII (DSMR 5.0.2 §6.12 encodes equipment ids and messages
/// that way; other meters send plain text). Decoded only when it is even-length hex of
/// printable ASCII; otherwise returned as sent (line breaks from wrapped values removed).
pub fn text(group: &[u8]) -> Cow<'_, str> {
    let g: Cow<'_, [u8]> = if find2(b'\r', b'\n', group).is_some() {
        Cow::Owned(
            group
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect(),
        )
    } else {
        Cow::Borrowed(group)
    };
    if let Some(decoded) = hex_ascii(&g) {
        return Cow::Owned(decoded);
    }
    match g {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

/// A message text: like [`text`], but hex that decodes to only 0x00/0xFF fill bytes is an empty
/// message (DSMR notes: messages "may be empty or filled with 0xFF").
pub fn message(group: &[u8]) -> Cow<'_, str> {
    let clean = group.iter().all(|b| b.is_ascii_hexdigit());
    if clean && !group.is_empty() && group.len() % 2 == 0 {
        let fill = group
            .chunks_exact(2)
            .all(|p| p.eq_ignore_ascii_case(b"FF") || p == b"00");
        if fill {
            return Cow::Borrowed("");
        }
    }
    text(group)
}

/// Hex digit values; 0xFF for bytes that are not hex digits.
pub(super) const HEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Even-length hex of printable ASCII, decoded; `None` otherwise.
pub(super) fn hex_ascii(s: &[u8]) -> Option<String> {
    if s.is_empty() || s.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 2);
    for pair in s.chunks_exact(2) {
        let (hi, lo) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
        let c = hi << 4 | lo;
        if (hi | lo) > 15 || !(0x20..=0x7E).contains(&c) {
            return None;
        }
        out.push(c);
    }
    // Printable ASCII only: always valid UTF-8.
    String::from_utf8(out).ok()
}
