//! Lexing a telegram: header line, data objects (`OBIS(value)(value)…`), value groups, units,
//! hex-encoded text. No allocation except where text is decoded.

use std::borrow::Cow;

use super::obis::Obis;
use crate::decimal::Decimal;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Eight bytes of `s` from `i` as one little-endian word.
#[inline(always)]
fn word(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The bytes of `w` equal to `b` flagged in their high bit. The lowest flag is exact; flags
/// above a match may be false (a borrow only starts at a matching byte).
#[inline(always)]
fn flags(w: u64, b: u8) -> u64 {
    let x = w ^ (LO * b as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// Index of the first byte of `hay` equal to `a` or `b`. Lines and groups are 5 to 40 bytes, so
/// a word at a time beats a SIMD search and its set-up (hot path: several calls per line).
#[inline]
pub(crate) fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let n = hay.len();
    let mut i = 0;
    while i + 8 <= n {
        let w = word(hay, i);
        let m = flags(w, a) | flags(w, b);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i == n {
        return None;
    }
    if n >= 8 {
        // The last eight bytes, with those already looked at masked off.
        let w = word(hay, n - 8);
        let seen = 8 - (n - i);
        let m = (flags(w, a) | flags(w, b)) & (u64::MAX << (8 * seen));
        return (m != 0).then(|| n - 8 + (m.trailing_zeros() / 8) as usize);
    }
    hay[i..]
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| i + p)
}

/// Index of the first `needle` in `hay` (see [`find2`]).
#[inline]
pub(crate) fn find(needle: u8, hay: &[u8]) -> Option<usize> {
    find2(needle, needle, hay)
}

/// The identification line `/XXXZ\WIdent` (IEC 62056-21 §6.3.14, DSMR 5.0.2 §6.2).
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The three-letter manufacturer code (fewer bytes if the line is short).
    pub flag: &'a [u8],
    /// What follows the baud-rate character.
    pub ident: &'a [u8],
}

/// Split a telegram (`/` .. `!`, the `!` excluded) into its header and body.
pub fn split_header(t: &[u8]) -> (Header<'_>, &[u8]) {
    let t = t.strip_prefix(b"/").unwrap_or(t);
    let (line, body) = match memchr::memchr(b'\n', t) {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, &[][..]),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let flag = &line[..line.len().min(3)];
    let ident = line.get(4..).unwrap_or(&[]);
    (Header { flag, ident }, body)
}

/// The meter model from the identification: IEC 62056-21's optional `\W` enhanced-mode pair
/// is removed when W is a digit (`\2M550T-1012` → `M550T-1012`); Sagemcom's `\T210-D` keeps
/// its letter (corpus hansij66), Iskra IE5T's raw 0x02 byte is dropped (corpus ndokter 12).
pub fn model(ident: &[u8]) -> Option<String> {
    let mut s = ident;
    if let [b'\\', w, rest @ ..] = s {
        s = if w.is_ascii_digit() { rest } else { &s[1..] };
    }
    let keep = |b: &u8| b.is_ascii_graphic() || *b == b' ';
    let start = s.iter().position(|b| b.is_ascii_graphic())?;
    let end = s.iter().rposition(|b| b.is_ascii_graphic())? + 1;
    let kept = &s[start..end];
    let mut m = String::with_capacity(kept.len());
    m.extend(kept.iter().filter(|b| keep(b)).map(|&b| b as char));
    Some(m)
}

/// An identifier: [`text`], trimmed, or `None` when empty (one allocation).
pub fn id(group: &[u8]) -> Option<String> {
    let t = text(group);
    let trimmed = t.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(if trimmed.len() == t.len() {
        t.into_owned()
    } else {
        trimmed.to_string()
    })
}

/// One data object: its code and the bytes from its first `(` to the end of its last line.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    pub obis: Obis,
    pub values: &'a [u8],
    /// The whole object text (for raw fields and warnings).
    pub text: &'a [u8],
}

/// A line that is neither an object nor blank (kept for a warning).
pub type Malformed<'a> = &'a [u8];

/// At most this many continuation lines are joined to one object (DSMR 2.2 gas puts the value
/// on the next line; esphome's test "a dataline with a break in the middle" wraps a message).
const MAX_CONTINUATION: usize = 8;

/// Iterator over the objects of a body.
pub struct Objects<'a> {
    rest: &'a [u8],
    /// The first line of `rest`, already split and parsed by the look-ahead for continuations
    /// (each line is split and its code parsed once).
    ahead: Option<Line<'a>>,
}

pub fn objects(body: &[u8]) -> Objects<'_> {
    Objects {
        rest: body,
        ahead: None,
    }
}

/// One line: trimmed, what follows it, and its code if it starts with one.
#[derive(Clone, Copy)]
struct Line<'a> {
    line: &'a [u8],
    next: &'a [u8],
    code: Option<(Obis, &'a [u8])>,
}

impl<'a> Line<'a> {
    fn read(rest: &'a [u8]) -> Self {
        let mut next = rest;
        let line = trim_line(take_line(&mut next));
        let code = if line.first().is_some_and(u8::is_ascii_digit) {
            Obis::parse_prefix(line)
        } else {
            None
        };
        Line { line, next, code }
    }
}

fn take_line<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let r = *rest;
    let (line, next) = match find(b'\n', r) {
        Some(i) => (&r[..i], &r[i + 1..]),
        None => (r, &[][..]),
    };
    *rest = next;
    line
}

fn trim_line(l: &[u8]) -> &[u8] {
    let start = l
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | 0 | 0xFF))
        .unwrap_or(l.len());
    let end = l
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | 0 | 0xFF))
        .map_or(start, |e| e + 1);
    &l[start..end.max(start)]
}

/// Opened minus closed parentheses.
fn paren_delta(s: &[u8]) -> isize {
    s.iter().fold(0, |d, &b| match b {
        b'(' => d + 1,
        b')' => d - 1,
        _ => d,
    })
}

/// The first byte of the next non-blank line, without consuming anything.
fn next_line_start(rest: &[u8]) -> Option<u8> {
    rest.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0xFF))
}

impl<'a> Iterator for Objects<'a> {
    type Item = Result<Object<'a>, Malformed<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let base = self.rest;
            let Line { line, next, code } =
                self.ahead.take().unwrap_or_else(|| Line::read(self.rest));
            self.rest = next;
            if line.is_empty() {
                continue;
            }
            let Some((obis, values)) = code else {
                return Some(Err(line));
            };
            // Start offset of the object text within `base`.
            let start = line.as_ptr() as usize - base.as_ptr() as usize;
            let mut end = start + line.len();
            // The parenthesis balance, counted only when the next line could continue this one.
            let mut depth = None;
            for _ in 0..MAX_CONTINUATION {
                let peek = Line::read(self.rest);
                let next = peek.line;
                let opens = next.first() == Some(&b'(');
                // A blank line or a line with a code never continues an object, whatever the
                // balance (the common case: no counting).
                if !opens && (next.is_empty() || peek.code.is_some()) {
                    self.ahead = Some(peek);
                    break;
                }
                let d = *depth.get_or_insert_with(|| paren_delta(values));
                if d <= 0 && next_line_start(self.rest) != Some(b'(') {
                    self.ahead = Some(peek);
                    break;
                }
                let continues = opens || (d > 0 && !next.is_empty() && peek.code.is_none());
                if !continues {
                    self.ahead = Some(peek);
                    break;
                }
                depth = Some(d + paren_delta(next));
                end = next.as_ptr() as usize - base.as_ptr() as usize + next.len();
                self.rest = peek.next;
            }
            let text = &base[start..end];
            let vstart = values.as_ptr() as usize - base.as_ptr() as usize;
            return Some(Ok(Object {
                obis,
                values: &base[vstart..end],
                text,
            }));
        }
    }
}

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

    fn next(&mut self) -> Option<&'a [u8]> {
        let skip = self
            .rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))?;
        let r = &self.rest[skip..];
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
const fn unit_word(u: &[u8]) -> u64 {
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
        match (u.len(), unit_word(u)) {
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
            Some(b'*') => return Some((d, RawUnit::parse(trim_line(&group[i + 1..])))),
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
    let s = values.strip_prefix(b"(")?;
    let (d, i) = plain_decimal(s)?;
    match s.get(i) {
        Some(b')') => Some((d, RawUnit::None)),
        Some(b'*') => {
            let unit = &s[i + 1..];
            let close = find(b')', unit)?;
            Some((d, RawUnit::parse(trim_line(&unit[..close]))))
        }
        _ => None,
    }
}

/// The plain decimal (digits and at most one `.`, at most 18 of them, at least one digit) at
/// the start of `s`, and where it ends. The same value as [`decimal`] on those bytes.
#[inline(always)]
fn plain_decimal(s: &[u8]) -> Option<(Decimal, usize)> {
    let mut mantissa: i64 = 0;
    let mut dot = usize::MAX;
    let mut i = 0;
    while let Some(&c) = s.get(i) {
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
const HEX: [u8; 256] = {
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
fn hex_ascii(s: &[u8]) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_model() {
        let (h, body) = split_header(b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(1)\r\n");
        assert_eq!(h.flag, b"ISK");
        assert_eq!(model(h.ident).as_deref(), Some("M550T-1012"));
        assert_eq!(body, b"\r\n1-0:1.8.1(1)\r\n");
        assert_eq!(
            model(b"\\T210-D ESMR5.0").as_deref(),
            Some("T210-D ESMR5.0")
        );
        assert_eq!(model(b"\x02MIE5T-200").as_deref(), Some("MIE5T-200"));
        assert_eq!(model(b""), None);
    }

    #[test]
    fn objects_join_continuations() {
        let body = b"0-1:24.3.0(1)(m3)\r\n(00752.852)\r\n0-0:96.13.0(3031\r\n3233)\r\nbad\r\n";
        let objs: Vec<_> = objects(body).collect();
        assert_eq!(objs.len(), 3);
        let o = objs[0].unwrap();
        assert_eq!(
            groups(o.values).collect::<Vec<_>>(),
            [&b"1"[..], b"m3", b"00752.852"]
        );
        let o = objs[1].unwrap();
        assert_eq!(text(groups(o.values).next().unwrap()), "0123");
        assert_eq!(objs[2].unwrap_err(), b"bad");
    }

    #[test]
    fn units_and_text() {
        assert_eq!(number(b"000123.456*KWH").unwrap().1, RawUnit::KWh);
        assert_eq!(number(b"1*m\xb3").unwrap().1, RawUnit::M3);
        assert!(number(b"abc").is_none());
        assert_eq!(text(b"4530303433"), "E0043");
        assert_eq!(text(b"00000000"), "00000000");
        assert_eq!(text(b"test-/-test"), "test-/-test");
        assert_eq!(message(b"FFFFFFFF"), "");
    }
}
