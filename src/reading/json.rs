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

use super::{Reading, Value};
use crate::time::Timestamp;

/// Readings with more values than this take the general (deduplicating) path directly; no
/// meter sends that many in one reading, so it is only a bound for the stack array.
const FAST_VALUES: usize = 96;

impl Reading {
    /// The JSON state payload, appended to `out`. Returns where the values start: `out`'s
    /// bytes from there on are `,"<key>":value…}` (everything but the time), which is what
    /// the MQTT publisher's `on_change` compares.
    pub fn write_state_json(&self, out: &mut Vec<u8>) -> usize {
        // ~ 28 bytes per value for DSMR (`,"energy_import_t1":1234.567`): one reservation
        // for a new buffer; a reused one (the publisher's, sized as the last) is left alone.
        if out.capacity() == 0 {
            out.reserve(40 + self.values.len() * 32);
        }
        out.extend_from_slice(b"{\"time\":");
        let time_at = out.len();
        write_value(out, &Value::Time(self.time));
        let values_at = if self.values.len() <= FAST_VALUES && !self.has_duplicate_keys() {
            let at = out.len();
            for m in &self.values {
                write_member(out, &m.quantity.key, &m.value);
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

    /// Whether two values (or a value and the time) share a key. Keys are compared by a
    /// cheap signature (length and last 7 bytes) first, in full only when those match.
    fn has_duplicate_keys(&self) -> bool {
        fn sig(key: &str) -> u64 {
            let b = key.as_bytes();
            b[b.len().saturating_sub(7)..]
                .iter()
                .fold(b.len() as u64, |s, &c| s << 8 | u64::from(c))
        }
        let key = |i: usize| match i {
            0 => "time",
            i => self.values.get(i - 1).map_or("", |m| &*m.quantity.key),
        };
        let n = self.values.len() + 1;
        let mut sigs = [0u64; FAST_VALUES + 1];
        for (i, slot) in sigs.iter_mut().enumerate().take(n) {
            *slot = sig(key(i));
        }
        (1..n).any(|i| (0..i).any(|j| sigs[i] == sigs[j] && key(i) == key(j)))
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

/// `Timestamp`'s `Display` text (`2024-03-31T02:59:59+02:00`) without the formatter.
fn write_timestamp(t: Timestamp, out: &mut Vec<u8>) {
    fn two(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&[b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8]);
    }
    let year = u32::from(t.year);
    if year >= 10_000 {
        // `{:04}` writes all digits of a five-digit year.
        out.push(b'0' + (year / 10_000) as u8);
    }
    two(out, year / 100);
    two(out, year);
    out.push(b'-');
    two(out, t.month.into());
    out.push(b'-');
    two(out, t.day.into());
    out.push(b'T');
    two(out, t.hour.into());
    out.push(b':');
    two(out, t.minute.into());
    out.push(b':');
    two(out, t.second.into());
    out.push(if t.offset_minutes < 0 { b'-' } else { b'+' });
    let off = u32::from(t.offset_minutes.unsigned_abs());
    // `{:02}` of the hours writes all digits (at most 18 h in a valid timestamp; 546 at most).
    if off / 60 >= 100 {
        out.push(b'0' + (off / 6000) as u8);
    }
    two(out, off / 60);
    out.push(b':');
    two(out, off % 60);
}

#[cfg(test)]
mod tests;
