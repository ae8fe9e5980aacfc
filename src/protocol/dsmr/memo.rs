//! What a decoder remembers of the telegrams before, so that what did not change is not decoded
//! again.
//!
//! A meter repeats most of every telegram: in the real 566-telegram Iskra AM550 capture (corpus
//! `nielsbasjes_dsmr_tools/streams`), 5.9 of its 32 objects differ from one telegram to the next
//! on average (the clock every time, the power and voltage lines often, a counter now and then).
//! The equipment id, version, power-failure log, failure counters, tariff and messages come
//! back byte for byte. So the decoder keeps, per position in the telegram, the exact text of
//! each object whose only effect was to add values, together with those values; an object
//! with the same text at the same position gets the same values without being read again. The
//! meters' identities ([`MeterInfo`]) are kept the same way, keyed by every byte they are made
//! from, and handed out again as the same `Arc`.
//!
//! Every entry is keyed by the exact bytes it was decoded from, so a hit gives what decoding
//! gives: the memo changes speed, never output (`tests/dsmr_memo.rs` decodes streams with one
//! decoder and each telegram with a fresh one and compares).
//!
//! Bounded: at most [`MAX_LINES`] objects of at most [`MAX_TEXT`] bytes with at most
//! [`MAX_VALUES`] values each, one electricity meter and [`MAX_SUBS`] sub-meters.

use std::sync::Arc;

use super::mapping::{Builder, Effect};
use super::obis::Obis;
use super::parser::{self, CodeCache, Object};
use super::scan;
use crate::reading::{Measurement, MeterInfo};

/// Objects remembered per telegram (a DSMR 5 telegram has about 30, Luxembourg's 60).
pub const MAX_LINES: usize = 96;
/// Longer objects are decoded every time (the power-failure log of a full buffer is ~300).
pub const MAX_TEXT: usize = 320;
/// Values one remembered object may have produced.
pub const MAX_VALUES: usize = 4;
/// Sub-meter identities remembered (DSMR has channels 1-4).
pub const MAX_SUBS: usize = 8;

/// Everything a [`super::P1Decoder`] remembers between telegrams.
#[derive(Default)]
pub struct Memo {
    /// Object codes by their text (see [`CodeCache`]).
    pub codes: CodeCache,
    pub lines: Lines,
    meter: Option<(Vec<u8>, Arc<MeterInfo>)>,
    subs: Vec<Sub>,
    /// The key being built (kept for its capacity).
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memo")
            .field("codes", &self.codes)
            .field("lines", &self.lines.0.iter().filter(|l| l.valid).count())
            .field("subs", &self.subs.len())
            .finish_non_exhaustive()
    }
}

/// The remembered objects, by their position in the telegram.
#[derive(Default)]
pub struct Lines(Vec<Line>);

#[derive(Default)]
struct Line {
    valid: bool,
    obis: Option<Obis>,
    effect: Option<Effect>,
    /// The object's whole text: one line, trimmed, parentheses balanced.
    text: Vec<u8>,
    values: Vec<Measurement>,
}

impl Lines {
    /// Whether `rest` (the unread body, blank lines skipped) starts with the object remembered
    /// at position `k` as a whole line: then the lexer would give the same object (a balanced
    /// one-line object is only continued by a next line opening with `(`, and a next line that
    /// starts with a digit, is blank or absent does not), and mapping it would add the same
    /// values. Gives the bytes to skip (the line and its end), the code and the values.
    #[inline]
    pub fn hit(&self, rest: &[u8], k: usize) -> Option<(usize, Obis, Effect, &[Measurement])> {
        let line = self.0.get(k).filter(|l| l.valid)?;
        let n = line.text.len();
        if !scan::starts_with(rest, &line.text) {
            return None;
        }
        let end = match &rest[n..] {
            [b'\r', b'\n', ..] => 2,
            [b'\n', ..] => 1,
            _ => return None,
        };
        match rest.get(n + end) {
            None | Some(b'0'..=b'9' | b'\r' | b'\n') => {}
            _ => return None,
        }
        Some((n + end, line.obis?, line.effect?, &line.values))
    }

    /// Map object number `k` of the telegram and remember it if it is one balanced line whose
    /// effect can be replayed (values, ids, versions, M-Bus device types and ids).
    #[inline]
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
            line.obis = Some(o.obis);
            line.effect = Some(effect);
            line.text.clear();
            line.text.extend_from_slice(o.text);
            line.values.clear();
            for m in added {
                line.values.push(m.clone());
            }
        }
    }
}

struct Sub {
    key: Vec<u8>,
    parent: Arc<MeterInfo>,
    info: Arc<MeterInfo>,
}

impl Memo {
    /// The electricity meter's identity: the same `Arc` as last time when `key` writes the
    /// same bytes, else `make()`. A `key` that returns `false` cannot describe its inputs
    /// (nothing is remembered).
    pub fn meter(
        &mut self,
        key: impl FnOnce(&mut Vec<u8>) -> bool,
        make: impl FnOnce() -> MeterInfo,
    ) -> Arc<MeterInfo> {
        self.scratch.clear();
        if !key(&mut self.scratch) {
            return Arc::new(make());
        }
        if let Some((k, info)) = &self.meter {
            if *k == self.scratch {
                return info.clone();
            }
        }
        let info = Arc::new(make());
        let mut k = match self.meter.take() {
            Some((k, _)) => k,
            None => Vec::new(),
        };
        std::mem::swap(&mut k, &mut self.scratch);
        self.meter = Some((k, info.clone()));
        info
    }

    /// A sub-meter's identity read through `parent`, as [`Self::meter`].
    pub fn sub(
        &mut self,
        parent: &Arc<MeterInfo>,
        key: impl FnOnce(&mut Vec<u8>) -> bool,
        make: impl FnOnce() -> MeterInfo,
    ) -> Arc<MeterInfo> {
        self.scratch.clear();
        if !key(&mut self.scratch) {
            return Arc::new(make());
        }
        if let Some(s) = self
            .subs
            .iter()
            .find(|s| s.key == self.scratch && Arc::ptr_eq(&s.parent, parent))
        {
            return s.info.clone();
        }
        let info = Arc::new(make());
        // The first key byte is the channel number: replace that channel's entry.
        let channel = self.scratch.first().copied();
        let slot = match self
            .subs
            .iter()
            .position(|s| s.key.first().copied() == channel)
        {
            Some(i) => i,
            None if self.subs.len() < MAX_SUBS => {
                self.subs.push(Sub {
                    key: Vec::new(),
                    parent: parent.clone(),
                    info: info.clone(),
                });
                self.subs.len() - 1
            }
            None => 0,
        };
        let s = &mut self.subs[slot];
        std::mem::swap(&mut s.key, &mut self.scratch);
        s.parent = parent.clone();
        s.info = info.clone();
        info
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
    decoded: Option<[Option<String>; 4]>,
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
            self.decoded = Some(self.resolve());
        }
        if let (Some(d), Some(id)) = (&mut self.decoded, parser::id(group)) {
            d[slot as usize & 3] = Some(id);
        }
    }

    /// The id of every slot: that of its last object whose id is not blank.
    pub fn resolve(&self) -> [Option<String>; 4] {
        if let Some(d) = &self.decoded {
            return d.clone();
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
