//! What a P1 decoder keeps on the heap between telegrams: its buffers, nothing of the telegrams
//! it decoded. The memo that replayed unchanged lines (removed, issue 13) kept each object's
//! text and values and the meters' identities, about 5 KiB per DSMR 5 meter; with thousands of
//! meters per bridge that is what the bridge's memory grows by.
//!
//! Measured with the real allocator behind a counter of the live bytes this thread allocated
//! (tests run on threads of their own, so other tests do not disturb the count).

mod common;
mod counting;

use counting::live;

use common::*;
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};

#[global_allocator]
static A: counting::Counting = counting::Counting;

/// The real 566-telegram Iskra AM550 capture (corpus `nielsbasjes_dsmr_tools/streams`), one
/// telegram per push as a meter sends them; every event dropped once drained. What the decoder
/// still holds then is its buffers: the input and the telegram buffer, each sized by the
/// largest push or telegram (778 bytes here), and the frame queue.
#[test]
fn a_decoder_keeps_nothing_of_the_telegrams_it_decoded() {
    let telegrams = split_telegrams(&read(
        "nielsbasjes_dsmr_tools/streams/ttyUSB0-raw.full_stream.bin",
    ));
    assert_eq!(telegrams.len(), 566);
    let longest = telegrams.iter().map(|t| t.len()).max().unwrap_or(0) as i64;

    // Allocated before counting starts.
    let mut held = Vec::with_capacity(telegrams.len());
    // The parsed codes are kept per thread, shared by its decoders (issue 17): a first
    // decoder fills that cache, sized to the meter's codes (this AM550 sends 27, which take a
    // 64-entry table), and leaves nothing else behind.
    let start = live();
    let mut first = P1Decoder::new(DecoderOptions::default());
    for t in &telegrams {
        first.push(t);
        while first.next_event(now()).is_some() {}
    }
    drop(first);
    let cache = live() - start;
    assert!(
        cache > 0 && cache <= 64 * 24,
        "the thread's code cache holds {cache} bytes for a meter of 27 codes"
    );
    let before = live();
    let mut d = Box::new(P1Decoder::new(DecoderOptions::default()));
    let empty = live() - before;
    let mut decoded = 0;
    for t in &telegrams {
        d.push(t);
        while let Some(e) = d.next_event(now()) {
            assert!(matches!(e, P1Event::Telegram(_)), "{e:?}");
            decoded += 1;
        }
        held.push(live() - before - empty);
    }
    assert_eq!(decoded, 566);
    let most = held.iter().copied().max().unwrap_or(0);
    // Two buffers of about a telegram each, and room for their growth (`Vec` doubles); the
    // codes are the thread's, not this decoder's.
    assert!(
        most <= 4 * longest,
        "a decoder holds {most} bytes between telegrams (its buffers need at most {})",
        4 * longest
    );
    drop(d);
    assert_eq!(live(), before, "a dropped decoder frees everything");
    // Last: the test harness keeps printed output on this thread's heap.
    println!(
        "decoder: {empty} bytes when new, at most {most} more between telegrams \
         (longest telegram {longest} bytes; code cache {cache})"
    );
}

/// Issue 17 (≤ 15 KB per meter at 10,000 meters): an idle decoder is small. Its 256-entry
/// code cache was inline, 6 KiB of every decoder and of every input task's future; it is on
/// the heap now, sized to the codes a meter sends.
#[test]
fn an_idle_decoder_is_small() {
    let size = std::mem::size_of::<P1Decoder>();
    println!("P1Decoder: {size} bytes inline");
    assert!(size <= 1024, "a P1Decoder is {size} bytes");
}

/// What the counter guard keeps per meter (issue 17): one compact track per counter, keys
/// borrowed from the decoder's static quantity keys. A DSMR 5 meter with gas (corpus
/// `wassasin_dsmr5/01_isk.txt`) has 13 counters; the map of owned keys took ≈ 2.4 KiB.
#[test]
fn the_counter_guard_keeps_little_per_meter() {
    use meter2mqtt::guard::Guard;
    use meter2mqtt::reading::Value;
    use std::time::{Duration, Instant};

    let t = meter2mqtt::protocol::dsmr::parse_telegram(
        &read("wassasin_dsmr5/01_isk.txt"),
        &DecoderOptions::default(),
        now(),
    )
    .expect("the corpus telegram decodes");
    let counters: Vec<_> = t
        .readings
        .iter()
        .flat_map(|r| &r.values)
        .filter_map(|m| match m.value {
            Value::Number(v) if m.quantity.class.is_counter() => Some((&m.quantity, v)),
            _ => None,
        })
        .collect();
    assert!(counters.len() >= 10, "{} counters", counters.len());
    let t0 = Instant::now();
    let before = live();
    let mut g = Box::new(Guard::new());
    for s in 0..60u64 {
        for (q, v) in &counters {
            g.check_key(&q.key, q.class, q.unit, *v, t0 + Duration::from_secs(s));
        }
    }
    let kept = live() - before;
    drop(g);
    assert_eq!(live(), before, "a dropped guard frees everything");
    println!("guard: {kept} bytes for {} counters", counters.len());
    assert!(
        kept <= 80 * counters.len() as i64,
        "the guard keeps {kept} bytes for {} counters",
        counters.len()
    );
}
