//! The state payload, `{"time": ..., "<key>": value, ...}`: the one builder of what
//! `<base>/<meter_id>/state` carries, `meter2mqtt decode` prints and the web API shows.
//!
//! Why it writes bytes itself: building a `serde_json::Value` map first (a `String` per key,
//! per number and for the time, then serializing the map) was the largest cost of a telegram
//! end to end, more than decoding it (issue 17: 139 allocations per DSMR 5 + gas telegram in
//! the MQTT publisher; `docs/benchmarks.md`). Written straight into one buffer the payload
//! costs at most the buffer's own allocation, and the text is byte-identical to what the map
//! gave: the same key order, exact decimal digits ([`Decimal::write_json`]), strings escaped by
//! serde_json itself. One rule of the map is kept on purpose: a key that appears twice (a
//! user-listed register named like another, or `time`) is written once, at its first place,
//! with its last value (`serde_json::Map` with `preserve_order` replaced it in place).

use super::{Quantity, Reading, Value};
use crate::decimal::digit_pair;
use crate::time::Timestamp;

/// Readings with more values than this take the general (deduplicating) path directly; no
/// meter sends that many in one reading, so it is only a bound for the stack array.
const FAST_VALUES: usize = 96;

impl Reading {
    /// The JSON state payload, appended to `out`. Returns where the values start: `out`'s
    /// bytes from there on are `,"<key>":value…}` (everything but the time), which is what
    /// the MQTT publisher's `on_change` compares.
    pub fn write_state_json(&self, out: &mut Vec<u8>) -> usize {
        self.write_state(out, false)
    }

    /// [`write_state_json`](Self::write_state_json) for a caller that knows that no two values
    /// share a key and none is keyed `time`: the same bytes without looking for repeated keys
    /// (≈ 40 instructions a value, ≈ 1 000 per DSMR 5 + gas telegram). The MQTT publisher
    /// knows it when a reading's quantities are, in order, the start of the meter's list of
    /// known quantities (distinct keys, none `time`), as a meter's telegrams are every time.
    #[cfg(feature = "bridge")]
    pub(crate) fn write_state_json_distinct(&self, out: &mut Vec<u8>) -> usize {
        self.write_state(out, true)
    }

    fn write_state(&self, out: &mut Vec<u8>, distinct: bool) -> usize {
        // ~ 28 bytes per value for DSMR (`,"energy_import_t1":1234.567`): one reservation
        // for a new buffer; a reused one (the publisher's, sized as the last) is left alone.
        if out.capacity() == 0 {
            out.reserve(40 + self.values.len() * 32);
        }
        out.extend_from_slice(b"{\"time\":");
        let time_at = out.len();
        write_value(out, &Value::Time(self.time));
        let values_at =
            if distinct || (self.values.len() <= FAST_VALUES && !self.has_duplicate_keys()) {
                let at = out.len();
                for m in &self.values {
                    write_key(out, &m.quantity);
                    write_value(out, &m.value);
                }
                at
            } else {
                self.write_deduplicated(out, time_at)
            };
        out.push(b'}');
        values_at
    }

    /// [`write_state_json`](Self::write_state_json) into a new buffer.
    pub fn state_payload(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_state_json(&mut out);
        out
    }

    /// The state payload as a JSON value (exact numbers: `arbitrary_precision`), for callers
    /// that embed it in a larger document. Parsed from [`state_payload`](Self::state_payload),
    /// so it can never differ from what MQTT carries.
    pub fn state_json(&self) -> serde_json::Value {
        // Our own output is valid JSON; `Null` keeps this total without a panic path.
        serde_json::from_slice(&self.state_payload()).unwrap_or(serde_json::Value::Null)
    }

    /// Whether two values (or a value and the time) share a key. Each key sets one bit of a
    /// 128-bit filter (from a signature: its length and last 8 bytes); only a key whose bit
    /// was already set is compared in full with the keys before it. A DSMR 5 reading's 20
    /// keys cost ~ 40 instructions each this way; comparing every pair cost ~ 100.
    fn has_duplicate_keys(&self) -> bool {
        fn sig(key: &[u8]) -> u64 {
            let n = key.len();
            let tail = match key
                .get(n.saturating_sub(8)..)
                .and_then(|t| <[u8; 8]>::try_from(t).ok())
            {
                Some(t) => u64::from_le_bytes(t),
                None => key.iter().fold(0, |s, &c| s << 8 | u64::from(c)),
            };
            (tail ^ (n as u64).rotate_left(56)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }
        let mut seen = 1u128 << (sig(b"time") >> 57);
        for (i, m) in self.values.iter().enumerate() {
            let key = m.quantity.key.as_bytes();
            let bit = 1u128 << (sig(key) >> 57);
            if seen & bit != 0
                && (key == b"time"
                    || self.values[..i]
                        .iter()
                        .any(|o| o.quantity.key.as_bytes() == key))
            {
                return true;
            }
            seen |= bit;
        }
        false
    }

    /// The map's rules for repeated keys: each key once, at its first place, last value wins;
    /// a value keyed `time` replaces the time. Returns where the values start.
    fn write_deduplicated(&self, out: &mut Vec<u8>, time_at: usize) -> usize {
        let last_of = |key: &str| {
            self.values
                .iter()
                .rev()
                .find(|m| m.quantity.key == key)
                .map(|m| &m.value)
        };
        if let Some(v) = last_of("time") {
            out.truncate(time_at);
            write_value(out, v);
        }
        let values_at = out.len();
        let mut seen: Vec<&str> = vec!["time"];
        for m in &self.values {
            let key = &*m.quantity.key;
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            if let Some(v) = last_of(key) {
                write_member(out, key, v);
            }
        }
        values_at
    }
}

/// `,"<key>":` of a quantity. The keys of the fixed tables (`Quantity::Static`) are
/// `[a-z0-9_]` (checked for every table by `tests/quantity_tables.rs`,
/// `keys_are_safe_and_mean_one_thing`), so they are copied without looking for characters to
/// escape; run-time keys go through [`write_str`].
fn write_key(out: &mut Vec<u8>, q: &Quantity) {
    match q {
        Quantity::Static(def) => {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(def.key.as_bytes());
            out.extend_from_slice(b"\":");
        }
        Quantity::Shared(def) => {
            out.push(b',');
            write_str(out, &def.key);
            out.push(b':');
        }
    }
}

/// `,"<key>":<value>`.
fn write_member(out: &mut Vec<u8>, key: &str, value: &Value) {
    out.push(b',');
    write_str(out, key);
    out.push(b':');
    write_value(out, value);
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Number(d) => d.write_json(out),
        Value::Text(t) => write_str(out, t),
        Value::Time(t) => {
            out.push(b'"');
            write_timestamp(*t, out);
            out.push(b'"');
        }
    }
}

/// A JSON string, escaped exactly as serde_json escapes it. Keys are `[a-z0-9_]` and most
/// texts plain, so a string with nothing to escape (no `"`, `\\`, control character:
/// RFC 8259 §7) is copied as it is; any other goes through serde_json's own serializer.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail (io::Write for Vec<u8> is infallible).
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `Timestamp`'s `Display` text (`2024-03-31T02:59:59+02:00`) without the formatter: the
/// fixed 25 bytes in one copy; a five-digit year, a 100-hour offset or a field over 99
/// (possible only by setting the public fields) through `Display`.
fn write_timestamp(t: Timestamp, out: &mut Vec<u8>) {
    let off = t.offset_minutes.unsigned_abs();
    let fields = [t.month, t.day, t.hour, t.minute, t.second];
    if t.year >= 10_000 || off / 60 >= 100 || fields.iter().any(|&f| f >= 100) {
        out.extend_from_slice(t.to_string().as_bytes());
        return;
    }
    // Each field's two digits from the table of pairs (every field is below 100 here): the
    // divisions by 10 of each were ≈ 120 instructions a timestamp, three per DSMR 5 + gas
    // telegram (issue 17).
    let two = |v: u16| digit_pair(v).unwrap_or([b'0'; 2]);
    let (c, y) = (two(t.year / 100), two(t.year % 100));
    let (mo, da) = (two(u16::from(t.month)), two(u16::from(t.day)));
    let (h, mi, se) = (
        two(u16::from(t.hour)),
        two(u16::from(t.minute)),
        two(u16::from(t.second)),
    );
    let (oh, om) = (two(off / 60), two(off % 60));
    let sign = if t.offset_minutes < 0 { b'-' } else { b'+' };
    out.extend_from_slice(&[
        c[0], c[1], y[0], y[1], b'-', mo[0], mo[1], b'-', da[0], da[1], b'T', h[0], h[1], b':',
        mi[0], mi[1], b':', se[0], se[1], sign, oh[0], oh[1], b':', om[0], om[1],
    ]);
}

#[cfg(test)]
mod tests;
