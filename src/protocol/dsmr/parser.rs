//! Lexing a telegram: header line, data objects (`OBIS(value)(value)…`), value groups, units,
//! hex-encoded text. No allocation except where text is decoded.

use std::borrow::Cow;

use super::obis::Obis;
use crate::decimal::Decimal;

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
    Some(
        s[start..end]
            .iter()
            .filter(|b| keep(b))
            .map(|&b| b as char)
            .collect(),
    )
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
}

pub fn objects(body: &[u8]) -> Objects<'_> {
    Objects { rest: body }
}

fn take_line<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let r = *rest;
    let (line, next) = match memchr::memchr(b'\n', r) {
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
            let line = trim_line(take_line(&mut self.rest));
            if line.is_empty() {
                continue;
            }
            let Some((obis, values)) = Obis::parse_prefix(line) else {
                return Some(Err(line));
            };
            // Start offset of the object text within `base`.
            let start = line.as_ptr() as usize - base.as_ptr() as usize;
            let mut end = start + line.len();
            let mut depth = paren_delta(values);
            for _ in 0..MAX_CONTINUATION {
                // Fast path: the next line starts an object (a digit) and this one is closed.
                if depth <= 0 && next_line_start(self.rest) != Some(b'(') {
                    break;
                }
                let mut peek = self.rest;
                let next = trim_line(take_line(&mut peek));
                let continues = next.first() == Some(&b'(')
                    || (depth > 0 && !next.is_empty() && Obis::parse_prefix(next).is_none());
                if !continues {
                    break;
                }
                depth += paren_delta(next);
                end = next.as_ptr() as usize - base.as_ptr() as usize + next.len();
                self.rest = peek;
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
        match memchr::memchr(b')', r) {
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

impl RawUnit {
    pub fn parse(u: &[u8]) -> RawUnit {
        let mut buf = [0u8; 8];
        if u.len() > buf.len() {
            return RawUnit::Other;
        }
        for (o, c) in buf.iter_mut().zip(u) {
            *o = c.to_ascii_lowercase();
        }
        match &buf[..u.len()] {
            b"" => RawUnit::None,
            b"wh" => RawUnit::Wh,
            b"kwh" => RawUnit::KWh,
            b"mwh" => RawUnit::MWh,
            b"w" => RawUnit::W,
            b"kw" => RawUnit::KW,
            b"mw" => RawUnit::MW,
            b"varh" => RawUnit::Varh,
            b"kvarh" => RawUnit::Kvarh,
            b"var" => RawUnit::Var,
            b"kvar" => RawUnit::Kvar,
            b"va" => RawUnit::VA,
            b"kva" => RawUnit::Kva,
            b"v" => RawUnit::V,
            b"a" => RawUnit::A,
            b"hz" => RawUnit::Hz,
            // `m³` in Latin-1 (0xB3) and UTF-8 (C2 B3): DSMR notes, bytes > 0x7F.
            b"m3" | b"m\xb3" | b"m\xc2\xb3" => RawUnit::M3,
            b"dm3" => RawUnit::Dm3,
            b"gj" => RawUnit::GJ,
            b"mj" => RawUnit::MJ,
            b"s" => RawUnit::S,
            _ => RawUnit::Other,
        }
    }
}

/// A number with its unit: `000123.456*kWh`.
pub fn number(group: &[u8]) -> Option<(Decimal, RawUnit)> {
    let (num, unit) = match memchr::memchr(b'*', group) {
        Some(i) => (&group[..i], RawUnit::parse(trim_line(&group[i + 1..]))),
        None => (group, RawUnit::None),
    };
    Decimal::parse_bytes(trim_line(num)).ok().map(|d| (d, unit))
}

/// Text that may be hex-encoded ASCII (DSMR 5.0.2 §6.12 encodes equipment ids and messages
/// that way; other meters send plain text). Decoded only when it is even-length hex of
/// printable ASCII; otherwise returned as sent (line breaks from wrapped values removed).
pub fn text(group: &[u8]) -> Cow<'_, str> {
    let g: Cow<'_, [u8]> = if group.iter().any(|&b| b == b'\r' || b == b'\n') {
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

fn hex_ascii(s: &[u8]) -> Option<String> {
    if s.is_empty() || s.len() % 2 != 0 {
        return None;
    }
    let mut out = String::with_capacity(s.len() / 2);
    for pair in s.chunks_exact(2) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        let c = (hi << 4 | lo) as u8;
        if !(0x20..=0x7E).contains(&c) {
            return None;
        }
        out.push(c as char);
    }
    Some(out)
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
