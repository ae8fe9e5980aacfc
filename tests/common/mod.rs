//! Shared helpers for the DSMR integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use meter2mqtt::decimal::Decimal;
use meter2mqtt::protocol::dsmr::{crc16_arc, DecoderOptions, P1Decoder, P1Event, Telegram};
use meter2mqtt::reading::{Reading, Value};
use meter2mqtt::time::Timestamp;

/// `body` (from `/` to just before `!`, lines ending in `\n`) as sent: CR LF line ends, `!`,
/// its CRC-16 in upper case and CR LF (DSMR 5.0.2 §6.2).
pub fn with_crc(body: &str) -> Vec<u8> {
    let mut t = body.replace('\n', "\r\n").into_bytes();
    t.push(b'!');
    let crc = crc16_arc(&t);
    t.extend_from_slice(format!("{crc:04X}\r\n").as_bytes());
    t
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dsmr")
}

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A captured stream cut into its telegrams, each from its `/` to the next one's.
pub fn split_telegrams(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut starts: Vec<usize> = (0..stream.len()).filter(|&i| stream[i] == b'/').collect();
    starts.push(stream.len());
    starts
        .windows(2)
        .map(|w| stream[w[0]..w[1]].to_vec())
        .collect()
}

/// A fixed receive time (the tests must not depend on the clock).
pub fn now() -> Timestamp {
    Timestamp::new(2025, 6, 1, 12, 0, 0, 0).unwrap()
}

/// All events of a byte stream, fed in `chunk`-byte pieces.
pub fn events_with(opts: &DecoderOptions, bytes: &[u8], chunk: usize) -> Vec<P1Event> {
    let mut d = P1Decoder::new(opts.clone());
    let mut out = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        d.push(c);
        while let Some(e) = d.next_event(now()) {
            out.push(e);
        }
    }
    d.finish();
    while let Some(e) = d.next_event(now()) {
        out.push(e);
    }
    out
}

pub fn events(bytes: &[u8]) -> Vec<P1Event> {
    events_with(&DecoderOptions::default(), bytes, bytes.len())
}

pub fn telegrams(events: &[P1Event]) -> Vec<&Telegram> {
    events
        .iter()
        .filter_map(|e| match e {
            P1Event::Telegram(t) => Some(t),
            P1Event::Rejected(_) => None,
        })
        .collect()
}

pub fn dec(s: &str) -> Decimal {
    Decimal::parse(s.trim()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

pub fn number(r: &Reading, key: &str) -> Option<Decimal> {
    match r.get(key)? {
        Value::Number(d) => Some(*d),
        other => panic!("{key} is not a number: {other:?}"),
    }
}

pub fn text(r: &Reading, key: &str) -> Option<String> {
    match r.get(key)? {
        Value::Text(t) => Some(t.clone()),
        other => panic!("{key} is not text: {other:?}"),
    }
}

pub fn time(r: &Reading, key: &str) -> Option<Timestamp> {
    match r.get(key)? {
        Value::Time(t) => Some(*t),
        other => panic!("{key} is not a time: {other:?}"),
    }
}

/// Seconds since the epoch of an ISO 8601 text such as `2020-05-12T13:54:09+02:00`,
/// `2016-11-13T19:57:57+00:00` or `2020-07-06T10:41:57.000Z`; also the wall-clock fields.
pub fn iso(s: &str) -> (i64, [u32; 6]) {
    let b = s.as_bytes();
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or_else(|_| panic!("{s}"));
    let f = [n(0..4), n(5..7), n(8..10), n(11..13), n(14..16), n(17..19)];
    let mut rest = &s[19..];
    if rest.starts_with('.') {
        rest = &rest[4..];
    }
    let offset: i16 = match rest {
        "Z" | "" => 0,
        _ => {
            let sign = if b[b.len() - 6] == b'-' { -1 } else { 1 };
            sign * (rest[1..3].parse::<i16>().unwrap() * 60 + rest[4..6].parse::<i16>().unwrap())
        }
    };
    let t = Timestamp::new(
        f[0] as u16,
        f[1] as u8,
        f[2] as u8,
        f[3] as u8,
        f[4] as u8,
        f[5] as u8,
        offset,
    )
    .unwrap_or_else(|| panic!("{s}"));
    (t.unix_seconds(), f)
}

/// DSMR's hex-encoded ASCII, decoded like the spec says (printable ASCII only), else as is.
pub fn unhex(s: &str) -> String {
    let b = s.as_bytes();
    if b.is_empty() || b.len() % 2 != 0 || !b.iter().all(u8::is_ascii_hexdigit) {
        return s.to_string();
    }
    let bytes: Vec<u8> = (0..b.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    if bytes.iter().all(|c| (0x20..=0x7e).contains(c)) {
        String::from_utf8(bytes).unwrap()
    } else {
        s.to_string()
    }
}
