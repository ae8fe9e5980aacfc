//! Framer + decryption + parser on arbitrary bytes: must never panic, never buffer more than
//! `MAX_TELEGRAM`, give the same events however the input is chunked (fed whole, or in chunks
//! of random sizes), and the same events again from a decoder that has already seen the input
//! (a telegram decodes the same whatever came before it).
//!
//! Run: `cargo +nightly fuzz run dsmr -- -max_total_time=600` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meter2mqtt::protocol::dsmr::{
    parse_telegram, parse_unchecked, DecoderOptions, Keys, P1Decoder, P1Event, MAX_TELEGRAM,
};
use meter2mqtt::time::Timestamp;

/// Every event of `data` fed to `d` in chunks of the sizes `sizes` gives (1 byte and up),
/// then finished and drained.
fn events_in(
    d: &mut P1Decoder,
    mut data: &[u8],
    mut sizes: impl FnMut() -> usize,
) -> Vec<P1Event> {
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let mut out = Vec::new();
    while !data.is_empty() {
        let (c, rest) = data.split_at(sizes().clamp(1, data.len()));
        data = rest;
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
    // The first byte seeds the chunk sizes (1-64 bytes, a new size for every chunk), so chunk
    // boundaries get explored too.
    let (seed, data) = match data.split_first() {
        Some((&c, rest)) => (c, rest),
        None => (0, data),
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
    let whole = events_in(&mut d, data, || usize::MAX);
    let mut state = u32::from(seed) | 0x100;
    let random_chunks = events_in(&mut P1Decoder::new(opts.clone()), data, || {
        // xorshift32: a different chunk size each time, fixed by the seed.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as usize % 64 + 1
    });
    assert_eq!(whole, random_chunks);
    // Decoding is deterministic and keeps nothing of a telegram that would change the next:
    // the same decoder given the same input again gives the same events.
    let again = events_in(&mut d, data, || usize::MAX);
    assert_eq!(whole, again);
    let now = Timestamp::from_unix_seconds(0);
    let _ = parse_telegram(data, &opts, now);
    let t = parse_unchecked(data, &opts, now);
    for r in &t.readings {
        let _ = r.state_json();
    }
});
