//! Lexing a telegram: header line, data objects (`OBIS(value)(value)…`), value groups, units,
//! hex-encoded text. No allocation except where text is decoded.

use super::obis::Obis;
use super::scan::*;
pub use super::values::*;
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
    let kept = &s[start..end];
    let mut m = String::with_capacity(kept.len());
    m.extend(kept.iter().filter(|b| keep(b)).map(|&b| b as char));
    Some(m)
}

/// An identifier: [`text`], trimmed, or `None` when empty (one allocation).
pub fn id(group: &[u8]) -> Option<String> {
    // The usual equipment id: hex (so no line breaks to remove), nothing to trim.
    if let Some(s) = hex_ascii(group) {
        if !s.starts_with(' ') && !s.ends_with(' ') {
            return Some(s);
        }
    }
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

/// Whether [`id`] names nothing for `group` (`()`, blanks, hex of blanks), without the
/// allocation [`id`] makes. The usual equipment id is hex of printable ASCII (DSMR 5.0.2
/// §6.12) and its first pair alone settles it: when `group` starts with the hex of a printable
/// non-blank character, [`id`] is never `None` (its hex branch starts with that character; its
/// text branch either decodes the same first pair or keeps the first hex digit as sent, and
/// neither is trimmed away). Any other group is asked of [`id`] itself.
pub fn is_blank_id(group: &[u8]) -> bool {
    if let [hi, lo, ..] = group {
        let (hi, lo) = (HEX[*hi as usize], HEX[*lo as usize]);
        if (hi | lo) <= 15 && (0x21..=0x7E).contains(&(hi << 4 | lo)) {
            return false;
        }
    }
    id(group).is_none()
}

/// One data object: its code and the bytes from its first `(` to the end of its last line.
#[derive(Debug, Clone, Copy)]
pub struct Object<'a> {
    pub obis: Obis,
    pub values: &'a [u8],
    /// The whole object text (for raw fields and warnings).
    pub text: &'a [u8],
    /// [`first_number`] of `values`, read by the lexer on its way to the line end.
    pub number: Option<(Decimal, RawUnit)>,
}

/// A line that is neither an object nor blank (kept for a warning).
pub type Malformed<'a> = &'a [u8];

/// At most this many continuation lines are joined to one object (DSMR 2.2 gas puts the value
/// on the next line; esphome's test "a dataline with a break in the middle" wraps a message).
const MAX_CONTINUATION: usize = 8;

/// Codes already read, by their text up to and including the `(`: a meter sends the same
/// codes in every telegram, so a decoder that keeps this parses each code once. A hit gives
/// what [`Obis::parse_plain`] gave for the same bytes.
///
/// Why on the heap and sized to need (issue 17): the inline 256-entry table was 6 KiB of every
/// idle decoder (most of an input task's future); a meter sends few codes (a DSMR 5 telegram
/// ≈ 30, Luxembourg's ≈ 65), so the table starts empty and doubles while more than three
/// quarters full: 64 entries (1.5 KiB) for DSMR 5, 128 for Luxembourg. Bounded at
/// [`MAX_CODES`] entries: a stream of ever new codes (noise, a broken meter) fills it, then it
/// starts over empty, so the codes sent now are cached again.
///
/// Decoders share one per thread ([`ThreadCodes`]): meters send the same few codes, and a
/// bridge with 10 000 inputs kept 10 000 copies of them (≈ 0.8–1.5 KiB a meter).
#[derive(Default)]
pub struct CodeCache {
    /// Open addressing, linear probing; a zero key is an empty slot. Empty or a power of two.
    entries: Box<[CodeEntry]>,
    /// Keys stored.
    used: usize,
}

/// The cache's bound (6 KiB of entries).
pub const MAX_CODES: usize = 256;

impl std::fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeCache")
            .field("codes", &self.used)
            .field("slots", &self.entries.len())
            .finish()
    }
}

#[derive(Clone, Copy)]
struct CodeEntry {
    /// The text up to and including the first `(`, zero-padded (never all zero).
    key: [u64; 2],
    code: Obis,
    /// Index of the `(`.
    open: u8,
}

const EMPTY: CodeEntry = CodeEntry {
    key: [0; 2],
    code: Obis::new(0, 0, 0, 0, 0),
    open: 0,
};

#[inline(always)]
fn slot(key: [u64; 2], mask: usize) -> usize {
    let h = (key[0] ^ key[1].rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    h as usize & mask
}

impl CodeCache {
    /// Heap bytes held (for the memory tests).
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.entries)
    }

    /// [`Obis::parse_plain`], remembered when the code and its `(` fit in 16 bytes.
    #[inline(always)]
    fn parse_plain(&mut self, w: &[u8; 32]) -> Option<(Obis, usize)> {
        let (k0, k1) = (word(w, 0), word(w, 8));
        let (m0, m1) = (flags(k0, b'('), flags(k1, b'('));
        let open = if m0 != 0 {
            (m0.trailing_zeros() / 8) as usize
        } else if m1 != 0 {
            8 + (m1.trailing_zeros() / 8) as usize
        } else {
            return Obis::parse_plain(w);
        };
        // The bytes after the `(` masked off; the first `(` ends the key, so equal keys mean
        // equal texts.
        let key = if open < 8 {
            [k0 & (u64::MAX >> (8 * (7 - open))), 0]
        } else {
            [k0, k1 & (u64::MAX >> (8 * (15 - open)))]
        };
        let mask = self.entries.len().wrapping_sub(1);
        if !self.entries.is_empty() {
            let mut i = slot(key, mask);
            // Never full (at most 3/4), so an empty slot ends every probe.
            while let Some(e) = self.entries.get(i) {
                if e.key == key {
                    return Some((e.code, e.open as usize));
                }
                if e.key == [0; 2] {
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        let (code, i) = Obis::parse_plain(w)?;
        if i == open {
            self.insert(CodeEntry {
                key,
                code,
                open: open as u8,
            });
        }
        Some((code, i))
    }

    /// Store a key known to be absent, growing first when needed; dropped when the cache is
    /// at its bound.
    #[cold]
    fn insert(&mut self, e: CodeEntry) {
        let cap = self.entries.len();
        if (self.used + 1) * 4 > cap * 3 {
            if cap >= MAX_CODES {
                self.entries.fill(EMPTY);
                self.used = 0;
                self.place(e);
                return;
            }
            let old = std::mem::replace(
                &mut self.entries,
                vec![EMPTY; (cap * 2).max(32)].into_boxed_slice(),
            );
            self.used = 0;
            for o in old.iter().filter(|o| o.key != [0; 2]) {
                self.place(*o);
            }
        }
        self.place(e);
    }

    fn place(&mut self, e: CodeEntry) {
        let mask = self.entries.len() - 1;
        let mut i = slot(e.key, mask);
        while let Some(s) = self.entries.get_mut(i) {
            if s.key == [0; 2] {
                *s = e;
                self.used += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }
}

thread_local! {
    /// The code cache of the decoders on this thread (the bridge runs its inputs on one).
    static THREAD_CODES: std::cell::Cell<Option<CodeCache>> = const { std::cell::Cell::new(None) };
}

/// This thread's [`CodeCache`], lent to one telegram's parse and put back when dropped.
///
/// Why shared: every P1 decoder kept its own cache of the same ≈ 30 codes; at 10 000 meters
/// that was ≈ 8 MB (issue 17, `docs/benchmarks.md` "Stop 13"). The cache only saves work and
/// never changes what a telegram decodes to (`tests/dsmr_sequences.rs`), so sharing it
/// between meters cannot change a reading. A parse that starts while another on the same
/// thread holds the cache (none does today) gets an empty one; the last one back is kept.
pub struct ThreadCodes(CodeCache);

impl ThreadCodes {
    pub fn take() -> Self {
        let codes = THREAD_CODES.try_with(|c| c.take()).ok().flatten();
        ThreadCodes(codes.unwrap_or_default())
    }
}

impl std::ops::Deref for ThreadCodes {
    type Target = CodeCache;

    fn deref(&self) -> &CodeCache {
        &self.0
    }
}

impl std::ops::DerefMut for ThreadCodes {
    fn deref_mut(&mut self) -> &mut CodeCache {
        &mut self.0
    }
}

impl Drop for ThreadCodes {
    fn drop(&mut self) {
        let codes = std::mem::take(&mut self.0);
        // Only fails while the thread exits; the cache is then dropped with it.
        let _ = THREAD_CODES.try_with(|c| c.set(Some(codes)));
    }
}

/// Iterator over the objects of a body.
pub struct Objects<'a, 'c> {
    cache: &'c mut CodeCache,
    rest: &'a [u8],
    /// The first line of `rest`, already split and parsed by the look-ahead for continuations
    /// (each line is split and its code parsed once).
    ahead: Option<Line<'a>>,
    /// The plain code at the start of `rest` and the index of its `(`, read by the fast path's
    /// look-ahead.
    plain: Option<(Obis, usize)>,
}

pub fn objects<'a, 'c>(body: &'a [u8], cache: &'c mut CodeCache) -> Objects<'a, 'c> {
    Objects {
        cache,
        rest: body,
        ahead: None,
        plain: None,
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
    #[inline(always)]
    fn read(rest: &'a [u8]) -> Self {
        let mut next = rest;
        let line = trim_line(take_line(&mut next));
        let code = if line.first().is_some_and(u8::is_ascii_digit) {
            // The code lies within the line (its bytes are neither line ends nor trimmed), so
            // it can be read from `rest` without copying when 32 bytes are left.
            let plain = rest.first_chunk::<32>().and_then(Obis::parse_plain);
            match plain.and_then(|(code, i)| Some((code, line.get(i..)?))) {
                Some(c) => Some(c),
                None => Obis::parse_prefix(line),
            }
        } else {
            None
        };
        Line { line, next, code }
    }
}

impl<'a> Objects<'a, '_> {
    /// The common case in one pass: a line `A-B:C.D.E(…)…` with a plain code (see
    /// [`Obis::parse_plain`]), followed by the end of the body, a blank line or another line
    /// with a plain code. Such a next line never continues an object, so no parentheses are
    /// counted; a first group that is a plain number gives the line end without a search.
    /// `None` (nothing consumed) leaves the line to the general path, which gives the same
    /// object for every line this accepts.
    #[inline(always)]
    fn fast(&mut self) -> Option<Object<'a>> {
        // Blank lines (after the header) are skipped, as the general path does.
        let r = self.rest();
        let (obis, i) = match self.plain.take() {
            Some(p) => p,
            None => self.cache.parse_plain(r.first_chunk::<32>()?)?,
        };
        // `r[i]` is the `(`; the code and it lie within the first line.
        let number = first_group_number(&r[i..]);
        let line_end = |end: usize| match r.get(end) {
            Some(b'\n') => Some(end + 1),
            Some(b'\r') if r.get(end + 1) == Some(&b'\n') => Some(end + 2),
            _ => None,
        };
        let (end, next) = match number.and_then(|(_, close)| {
            let end = i + close + 1;
            Some((end, line_end(end)?))
        }) {
            // `…)` then the line end: the trimmed line ends at the `)`.
            Some(e) => e,
            None => {
                let nl = i + find(b'\n', &r[i..])?;
                // Trimmed like the general path (never into the code: `(` is not trimmed).
                let end = r[..nl]
                    .iter()
                    .rposition(|&b| !trimmable(b))
                    .map_or(0, |e| e + 1);
                (end, nl + 1)
            }
        };
        let rest = &r[next..];
        let plain = match rest {
            [] | [b'\n', ..] | [b'\r', b'\n', ..] => None,
            _ => Some(self.cache.parse_plain(rest.first_chunk::<32>()?)?),
        };
        self.rest = rest;
        self.plain = plain;
        self.ahead = None;
        Some(Object {
            obis,
            values: &r[i..end],
            text: &r[..end],
            number: number.map(|(n, _)| n),
        })
    }

    /// What is left of the body after any blank lines (`\n`, `\r\n`), without reading it.
    #[inline]
    fn rest(&mut self) -> &'a [u8] {
        while let [b'\n', rest @ ..] | [b'\r', b'\n', rest @ ..] = self.rest {
            self.rest = rest;
            self.plain = None;
            self.ahead = None;
        }
        self.rest
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

impl<'a> Iterator for Objects<'a, '_> {
    type Item = Result<Object<'a>, Malformed<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(o) = self.fast() {
            return Some(Ok(o));
        }
        self.plain = None;
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
            let values = &base[vstart..end];
            return Some(Ok(Object {
                obis,
                values,
                text,
                number: first_number(values),
            }));
        }
    }
}

#[cfg(test)]
mod tests;
