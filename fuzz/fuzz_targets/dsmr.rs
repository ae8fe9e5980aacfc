//! Framer + decryption + parser on arbitrary bytes: must never panic, never buffer more than
//! `MAX_TELEGRAM`, give the same events however the input is chunked, the same events as a
//! decoder that forgets every telegram (`P1Decoder::without_memory`), and the same events again
//! from a decoder that has already seen the input (what the decoder remembers between
//! telegrams must never change its output).
//!
//! Run: `cargo +nightly fuzz run dsmr -- -max_total_time=600` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meter2mqtt::protocol::dsmr::{
    parse_telegram, parse_unchecked, DecoderOptions, Keys, P1Decoder, P1Event, MAX_TELEGRAM,
};
use meter2mqtt::time::Timestamp;

fn events(opts: &DecoderOptions, data: &[u8], chunk: usize) -> Vec<P1Event> {
    let mut d = P1Decoder::new(opts.clone());
    events_in(&mut d, data, chunk)
}

fn events_in(d: &mut P1Decoder, data: &[u8], chunk: usize) -> Vec<P1Event> {
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let mut out = Vec::new();
    for c in data.chunks(chunk.max(1)) {
        d.push(c);
        assert!(d.buffered() <= MAX_TELEGRAM);
        while let Some(e) = d.next_event(now) {
            out.push(e);
        }
    }
    d.finish();
    while let Some(e) = d.next_event(now) {
        out.push(e);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks a chunk size, so chunk boundaries get explored too.
    let (chunk, data) = match data.split_first() {
        Some((&c, rest)) => (c as usize % 64 + 1, rest),
        None => (1, data),
    };
    let opts = DecoderOptions {
        decryption: Keys::from_hex(
            "0123456789abcdef0123456789abcdef",
            Some("ffeeddccbbaa99887766554433221100"),
        )
        .ok(),
        ..DecoderOptions::default()
    };
    let mut d = P1Decoder::new(opts.clone());
    let whole = events_in(&mut d, data, data.len());
    let chunked = events(&opts, data, chunk);
    assert_eq!(whole, chunked);
    let again = events_in(&mut d, data, data.len());
    assert_eq!(whole, again);
    // The memo against no memo: comparing the memo only with itself missed two faults that
    // both runs shared (docs/benchmarks.md, DSMR core).
    let forgetful = events_in(&mut P1Decoder::without_memory(opts.clone()), data, chunk);
    assert_eq!(whole, forgetful);
    let now = Timestamp::from_unix_seconds(0);
    let _ = parse_telegram(data, &opts, now);
    let t = parse_unchecked(data, &opts, now);
    for r in &t.readings {
        let _ = r.state_json();
    }
});
