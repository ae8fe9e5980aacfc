//! What a decoder remembers of the telegram before, so that what did not change is not decoded
//! again.
//!
//! A meter repeats most of every telegram: in the real 566-telegram Iskra AM550 capture (corpus
//! `nielsbasjes_dsmr_tools/streams`), 5.9 of its 32 objects differ from one telegram to the next
//! on average (the clock every time, the power and voltage lines often, a counter now and then);
//! the equipment id, version, power-failure log, failure counters, tariff and messages come
//! back byte for byte. So the decoder keeps, per position in the telegram, the text of each
//! object it can replay, what mapping it did ([`Effect`]) and the values it gave:
//!
//! - the same line at the same position is compared as bytes and replayed ([`Lines::hit`]): its
//!   values copied, its id, version or M-Bus device type/id applied, energy registers fed to
//!   the computed totals; no lexing, no number parsing, no mapping;
//! - a line that differs only in the digits of its number is built from the old line's layout
//!   and mapped as usual ([`Lines::number_hit`]);
//! - everything else is lexed and mapped, and remembered for the next telegram.
//!
//! The meters' identities ([`MeterInfo`]) are kept the same way, keyed by every byte they are
//! made from, and handed out again as the same `Arc`.
//!
//! Why a replay gives what decoding gives: mapping an object depends only on its text, plus
//! state that the replay updates the same way (ids, versions, M-Bus channels, energy
//! registers); objects whose mapping did anything else (the clock, unknown codes kept raw,
//! anything that warned) are never replayed; and a line is only replayed where the lexer would
//! cut the same object (one balanced line starting with its code, followed by a line end and a
//! line that cannot continue it). So the memo changes speed, never output: `tests/dsmr_memo.rs`
//! compares one long-lived decoder with a fresh decoder per telegram over the corpus, a real
//! capture and random edits, and the `dsmr` fuzz target checks every input against a decoder
//! without memory ([`super::P1Decoder::without_memory`]) and decodes it twice with one decoder.
//!
//! Bounded: at most [`MAX_LINES`] objects of at most [`MAX_TEXT`] bytes with at most
//! [`MAX_VALUES`] values each, and [`MAX_IDENTITIES`] meter identities.

use std::sync::Arc;

use super::mapping::{self, Builder, Effect};
use super::obis::Obis;
use super::parser::{self, CodeCache, Object, RawUnit};
use super::scan;
use crate::reading::{Measurement, MeterInfo};

/// Objects remembered per telegram (a DSMR 5 telegram has about 30, Luxembourg's 60).
pub const MAX_LINES: usize = 96;
/// Longer objects are decoded every time (the power-failure log of a full buffer is ~300).
pub const MAX_TEXT: usize = 320;
/// Values one remembered object may have produced.
pub const MAX_VALUES: usize = 4;
/// Meter identities remembered: the electricity meter and its M-Bus sub-meters (DSMR has
/// channels 1-4; 8 are kept per telegram).
pub const MAX_IDENTITIES: usize = 9;

/// Everything a [`super::P1Decoder`] remembers between telegrams.
#[derive(Default)]
pub struct Memo {
    /// Object codes by their text (see [`CodeCache`]).
    pub codes: CodeCache,
    pub lines: Lines,
    identities: Vec<Identity>,
    /// The key being built (kept for its capacity).
    scratch: Vec<u8>,
    /// How many values the electricity meter's last telegram had.
    values: Option<usize>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("codes", &self.codes)
            .field("lines", &self.lines.0.iter().filter(|l| l.valid).count())
            .field("identities", &self.identities.len())
            .finish_non_exhaustive()
    }
}

/// The remembered objects, by their position in the telegram.
#[derive(Default)]
pub struct Lines(Vec<Line>);

struct Line {
    valid: bool,
    obis: Obis,
    effect: Effect,
    /// Feeds the computed totals (see [`mapping::tracks_energy`]).
    energy: bool,
    /// The object's whole text: one line, trimmed, parentheses balanced.
    text: Vec<u8>,
    values: Vec<Measurement>,
    /// Where its first group's number is, when the lexer read one: the next telegram's line
    /// usually differs only there.
    number: Option<NumberAt>,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            valid: false,
            obis: Obis::new(0, 0, 0, 0, 0),
            effect: Effect::Other,
            energy: false,
            text: Vec::new(),
            values: Vec::new(),
            number: None,
        }
    }
}

/// A number group `(…*unit)`: the index of its `(`, the length of the number after it, and
/// the unit the lexer read after it.
#[derive(Clone, Copy)]
struct NumberAt {
    open: usize,
    len: usize,
    unit: RawUnit,
}

impl Lines {
    /// Replay the object remembered at position `k` if `rest` (the unread body, blank lines
    /// skipped) starts with it as a whole line: then the lexer would give the same object (a
    /// balanced one-line object is only continued by a next line opening with `(`, and a next
    /// line that starts with a digit, is blank or absent does not), and mapping it would do the
    /// same. Gives the bytes to skip (the line and its end), or 0.
    #[inline(always)]
    pub fn hit<'a>(&self, b: &mut Builder<'a>, rest: &'a [u8], k: usize) -> usize {
        let Some(line) = self.0.get(k).filter(|l| l.valid) else {
            return 0;
        };
        let n = line.text.len();
        if !scan::starts_with(rest, &line.text) {
            return 0;
        }
        let Some(skip) = line_end(rest, n) else {
            return 0;
        };
        if line.effect != Effect::ValuesOnly || line.energy {
            b.replay(&rest[..n], line.obis, line.effect, line.values.first());
        }
        for m in &line.values {
            b.values.push(m.clone());
        }
        skip
    }

    /// Whether `rest` starts with the object remembered at position `k` but for the digits of
    /// its first group's number (a reading that moved on): then the lexer would give this
    /// object (the code, the `(`, the unit and the line end are the same bytes as before, and a
    /// number of the same length reads the same way), built here without lexing it. Gives the
    /// bytes to skip and the object.
    #[inline]
    pub fn number_hit<'a>(&self, rest: &'a [u8], k: usize) -> Option<(usize, Object<'a>)> {
        let line = self.0.get(k).filter(|l| l.valid)?;
        let at = line.number?;
        let n = line.text.len();
        let start = at.open + 1;
        let end = start + at.len;
        if rest.len() <= n
            || rest.get(..start)? != line.text.get(..start)?
            || rest.get(end..n)? != line.text.get(end..)?
        {
            return None;
        }
        let (d, len) = parser::plain_decimal(&rest[start..])?;
        if len != at.len {
            return None;
        }
        let skip = line_end(rest, n)?;
        let text = &rest[..n];
        Some((
            skip,
            Object {
                obis: line.obis,
                values: &text[at.open..],
                text,
                number: Some((d, at.unit)),
            },
        ))
    }

    /// Map an object from [`Self::number_hit`] and remember its new number (the rest of the
    /// line is the same bytes, so it stays a valid entry when mapping adds values as before).
    #[inline(never)]
    pub fn number_object<'a>(&mut self, b: &mut Builder<'a>, o: &Object<'a>, k: usize) {
        let before = b.values.len();
        let effect = b.object(o);
        let Some(line) = self.0.get_mut(k) else {
            return;
        };
        let added = &b.values[before..];
        let digits = line.number.map(|at| (at.open + 1)..(at.open + 1 + at.len));
        match digits {
            Some(d) if effect == Effect::ValuesOnly && added.len() <= MAX_VALUES => {
                match (line.text.get_mut(d.clone()), o.text.get(d)) {
                    (Some(old), Some(new)) => old.copy_from_slice(new),
                    _ => line.valid = false,
                }
                line.values.clear();
                line.values.extend_from_slice(added);
            }
            _ => line.valid = false,
        }
    }

    /// Map object number `k` of the telegram and remember it if it is one balanced line whose
    /// effect can be replayed (values, ids, versions, M-Bus device types and ids).
    #[inline(never)]
    pub fn object<'a>(&mut self, b: &mut Builder<'a>, o: &Object<'a>, k: usize) {
        let before = b.values.len();
        let effect = b.object(o);
        if k >= MAX_LINES {
            return;
        }
        if self.0.len() <= k {
            self.0.resize_with(k + 1, Line::default);
        }
        let line = &mut self.0[k];
        let added = &b.values[before..];
        line.valid = effect != Effect::Other
            && o.text.len() <= MAX_TEXT
            && added.len() <= MAX_VALUES
            && o.text.first().is_some_and(u8::is_ascii_digit)
            && scan::find2(b'\n', b'\r', o.text).is_none()
            && parser::balanced(o.text);
        if line.valid {
            line.obis = o.obis;
            line.effect = effect;
            line.energy = mapping::tracks_energy(o.obis);
            line.text.clear();
            line.text.extend_from_slice(o.text);
            line.values.clear();
            line.values.extend_from_slice(added);
            line.number = match o.number {
                Some((_, unit)) if effect == Effect::ValuesOnly => {
                    let open = o.text.len() - o.values.len();
                    o.values
                        .get(1..)
                        .and_then(parser::plain_decimal)
                        .map(|(_, len)| NumberAt { open, len, unit })
                }
                _ => None,
            };
        }
    }
}

/// A meter identity and the bytes it was made from. `slot` is 0 for the electricity meter and
/// the M-Bus channel number for a sub-meter (`0-n:`, n ≥ 1), which is read through `parent`.
struct Identity {
    slot: u8,
    key: Vec<u8>,
    parent: Option<Arc<MeterInfo>>,
    info: Arc<MeterInfo>,
}

impl Memo {
    /// How many values to make room for: as many as last time.
    pub fn values_hint(&self) -> Option<usize> {
        self.values
    }

    pub fn set_values_hint(&mut self, n: usize) {
        // Bounded like everything else here (a broken telegram must not reserve without end).
        self.values = Some(n.min(MAX_LINES * MAX_VALUES));
    }

    /// The electricity meter's identity: the same `Arc` as last time when `key` writes the
    /// same bytes, else `make()`. A `key` that returns `false` cannot describe its inputs
    /// (nothing is remembered).
    pub fn meter(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>) -> bool,
        make: impl FnOnce() -> MeterInfo,
    ) -> Arc<MeterInfo> {
        self.identity(0, None, key, make)
    }

    /// The identity of the sub-meter on M-Bus `channel`, read through `parent`, as
    /// [`Self::meter`].
    pub fn sub(
        &mut self,
        channel: u8,
        parent: &Arc<MeterInfo>,
        key: impl FnOnce(&mut Vec<u8>) -> bool,
        make: impl FnOnce() -> MeterInfo,
    ) -> Arc<MeterInfo> {
        self.identity(channel, Some(parent), key, make)
    }

    fn identity(
        &mut self,
        slot: u8,
        parent: Option<&Arc<MeterInfo>>,
        key: impl FnOnce(&mut Vec<u8>) -> bool,
        make: impl FnOnce() -> MeterInfo,
    ) -> Arc<MeterInfo> {
        self.scratch.clear();
        if !key(&mut self.scratch) {
            return Arc::new(make());
        }
        let same_parent = |p: &Option<Arc<MeterInfo>>| match (p, parent) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if let Some(i) = self
            .identities
            .iter()
            .find(|i| i.slot == slot && i.key == self.scratch && same_parent(&i.parent))
        {
            return i.info.clone();
        }
        let info = Arc::new(make());
        let entry = Identity {
            slot,
            key: std::mem::take(&mut self.scratch),
            parent: parent.cloned(),
            info: info.clone(),
        };
        // One entry per slot (the slot's previous identity is replaced, and its key buffer
        // reused as the next scratch).
        match self.identities.iter().position(|i| i.slot == slot) {
            Some(at) => self.scratch = std::mem::replace(&mut self.identities[at], entry).key,
            None if self.identities.len() < MAX_IDENTITIES => self.identities.push(entry),
            None => self.identities[0] = entry,
        }
        info
    }
}

/// Where the object that is the first `n` bytes of `rest` ends with its line end, if that
/// line end follows at once and the next line cannot continue the object (a balanced object is
/// only continued by a line opening with `(`; one that starts with a digit, is blank or
/// absent does not).
///
/// Blank means `\n` or `\r\n` and nothing else: lines end at LF and are trimmed, so a line
/// `\r(…)` opens with `(` and continues the object (the differential check found a replay
/// there, `tests/dsmr_memo.rs` `a_stray_cr_before_a_continuation_is_not_a_blank_line`).
#[inline]
fn line_end(rest: &[u8], n: usize) -> Option<usize> {
    let end = match rest.get(n..)? {
        [b'\r', b'\n', ..] => 2,
        [b'\n', ..] => 1,
        _ => return None,
    };
    let next = n + end;
    match rest.get(next) {
        None | Some(b'0'..=b'9' | b'\n') => Some(next),
        Some(b'\r') if rest.get(next + 1) == Some(&b'\n') => Some(next),
        _ => None,
    }
}

/// Append `part` to a key, length first (so the parts of two keys cannot shift into each
/// other).
pub fn part(key: &mut Vec<u8>, part: &[u8]) {
    key.extend_from_slice(&(part.len() as u32).to_le_bytes());
    key.extend_from_slice(part);
}

/// [`part`] for an optional part; `None` differs from every part.
pub fn opt_part(key: &mut Vec<u8>, p: Option<&[u8]>) {
    match p {
        Some(p) => part(key, p),
        None => key.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// The id objects of one meter in one telegram (`0-0:96.1.1`, `0-n:96.1.0`, …), kept as sent
/// so that the identity memo can compare them and decode only when they changed. `N` objects
/// are kept; from the next one on, ids are decoded as they come (a meter sends each id once).
#[derive(Debug)]
pub struct IdObjects<'a, const N: usize> {
    objects: [(u8, &'a [u8]); N],
    len: usize,
    /// Boxed: only a meter sending more id objects than `N` needs it, and the builder (which
    /// holds one of these per M-Bus channel) stays small.
    decoded: Option<Box<[Option<String>; 4]>>,
}

impl<const N: usize> Default for IdObjects<'_, N> {
    fn default() -> Self {
        IdObjects {
            objects: [(0, &[][..]); N],
            len: 0,
            decoded: None,
        }
    }
}

impl<'a, const N: usize> IdObjects<'a, N> {
    /// An id object's first group, for `slot` (0..4, in the caller's order of preference).
    pub fn add(&mut self, slot: u8, group: &'a [u8]) {
        if self.decoded.is_none() {
            if self.len < N {
                self.objects[self.len] = (slot, group);
                self.len += 1;
                return;
            }
            self.decoded = Some(Box::new(self.resolve()));
        }
        if let (Some(d), Some(id)) = (&mut self.decoded, parser::id(group)) {
            d[slot as usize & 3] = Some(id);
        }
    }

    /// The id of every slot: that of its last object whose id is not blank.
    pub fn resolve(&self) -> [Option<String>; 4] {
        if let Some(d) = &self.decoded {
            return (**d).clone();
        }
        let mut ids = [None, None, None, None];
        for &(slot, group) in &self.objects[..self.len] {
            if let Some(id) = parser::id(group) {
                ids[slot as usize & 3] = Some(id);
            }
        }
        ids
    }

    /// Append these objects to a memo key; `false` once they were too many to keep.
    pub fn key(&self, key: &mut Vec<u8>) -> bool {
        if self.decoded.is_some() {
            return false;
        }
        key.push(self.len as u8);
        for &(slot, group) in &self.objects[..self.len] {
            key.push(slot);
            part(key, group);
        }
        true
    }
}
