//! What the output seam costs per telegram (issue 13; issue 17's budget is 2.5 µs per telegram
//! end to end): heap allocations of the rules, counted with a counting allocator, for real
//! DSMR 5 telegrams with a gas sub-meter (two readings each) from the simulator, decoded by
//! the real decoder. The rules may allocate one `Arc` per reading and one per raw telegram
//! (`docs/architecture.md`, "Cost"), nothing else: no copy of a reading, of the input's name
//! or of a meter id per telegram; the MQTT publisher at most 3 per state message (issue 17).
//! Allocations, not time: they do not depend on the machine.

mod counting;

use counting::allocs;
use std::time::{Duration, Instant};

use meter2mqtt::event::{Event, InputEvent, Rules, RulesSettings};
use meter2mqtt::mqtt::publish::{PublishSettings, Publisher};
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::time::Timestamp;

#[global_allocator]
static A: counting::Counting = counting::Counting;

/// 2024-01-15 12:00:00 (meter local time), as the other tests' simulated meters.
const CLOCK: i64 = 1_705_320_000;
const TELEGRAMS: usize = 200;

/// `TELEGRAMS` input events as the P1 input makes them (readings and the raw telegram).
fn events() -> Vec<InputEvent> {
    let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let mut dec = P1Decoder::new(DecoderOptions::default());
    let now = Timestamp::from_unix_seconds(CLOCK);
    let mut out = Vec::new();
    while out.len() < TELEGRAMS {
        dec.push(&meter.telegram(1));
        while let Some(ev) = dec.next_event(now) {
            if let P1Event::Telegram(t) = ev {
                out.push(InputEvent::Readings {
                    input: "p1".into(),
                    readings: t.readings,
                    interval: Duration::from_secs(1),
                    raw: Some(t.raw),
                });
            }
        }
    }
    out
}

#[test]
fn the_rules_allocate_one_arc_per_reading_and_per_raw_telegram() {
    let mut input = events().into_iter();
    let mut rules = Rules::new(RulesSettings {
        offline_after_intervals: 3,
    });
    let mut publisher = Publisher::new(
        PublishSettings {
            base: "cost".into(),
            discovery_prefix: Some("homeassistant".into()),
            min_interval: Duration::ZERO,
            on_change: false,
            per_quantity_topics: false,
            raw_topic: false,
            stale_meter_timeout: Duration::from_secs(3600),
            naming: Default::default(),
        },
        Instant::now(),
    );
    let mut out: Vec<Event> = Vec::with_capacity(16);
    // Warm-up: the meters' state, their guard tracks, the input's name, discovery.
    let t0 = Instant::now();
    for ev in input.by_ref().take(10) {
        rules.on_input(t0, ev, &mut out);
        for e in out.drain(..) {
            publisher.on_event(t0, &e);
        }
    }
    let (mut readings, mut telegrams, mut in_rules, mut in_mqtt) = (0u64, 0u64, 0u64, 0u64);
    for (i, ev) in input.enumerate() {
        let now = t0 + Duration::from_secs(i as u64 + 11);
        if let InputEvent::Readings { readings: r, .. } = &ev {
            readings += r.len() as u64;
        }
        telegrams += 1;
        let before = allocs();
        rules.on_input(now, ev, &mut out);
        in_rules += allocs() - before;
        let before = allocs();
        for e in out.drain(..) {
            drop(publisher.on_event(now, &e));
        }
        in_mqtt += allocs() - before;
    }
    assert_eq!(
        readings,
        2 * telegrams,
        "DSMR 5 with gas: two readings each"
    );
    assert_eq!(rules.held_back, 0, "the simulated counters only rise");
    println!(
        "SEAM per telegram ({} readings): rules {:.1} allocations, MQTT publisher {:.1} allocations",
        readings / telegrams,
        in_rules as f64 / telegrams as f64,
        in_mqtt as f64 / telegrams as f64
    );
    assert_eq!(
        in_rules,
        readings + telegrams,
        "the rules allocate more than one Arc per reading and per raw telegram"
    );
    // Issue 17: per state message the publisher allocates its payload (written once by
    // `Reading::write_state_json`), its topic and the message list; it was 139 allocations
    // per telegram while the state went through a `serde_json::Value` map.
    assert!(
        in_mqtt <= 3 * readings,
        "the MQTT publisher allocates {in_mqtt} times for {readings} readings (at most 3 each)"
    );
}

/// Allocations per telegram of `meter2mqtt decode`'s path (issue 17): the decoder's `push` and
/// `next_event` for a DSMR 5 telegram with gas, then each reading's state JSON into a reused
/// buffer. The decoder allocates the telegram's raw bytes, the two readings' value lists and
/// the lists of readings and channels (the meters' identities are built once, texts of text
/// values only where the meter sends them); the JSON nothing.
#[test]
fn decoding_a_telegram_allocates_a_bounded_few_times() {
    let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let telegrams: Vec<Vec<u8>> = (0..TELEGRAMS).map(|_| meter.telegram(1)).collect();
    let mut dec = P1Decoder::new(DecoderOptions::default());
    let now = Timestamp::from_unix_seconds(CLOCK);
    let mut line = Vec::with_capacity(4096);
    let (mut decoded, mut in_decoder, mut in_json) = (0u64, 0u64, 0u64);
    for (i, t) in telegrams.iter().enumerate() {
        let before = allocs();
        dec.push(t);
        let mut events = Vec::with_capacity(2);
        while let Some(ev) = dec.next_event(now) {
            events.push(ev);
        }
        let in_this = allocs() - before - 1;
        let before = allocs();
        for ev in &events {
            let P1Event::Telegram(t) = ev else {
                panic!("rejected: {ev:?}")
            };
            for r in &t.readings {
                line.clear();
                r.write_state_json(&mut line);
            }
        }
        let json = allocs() - before;
        // The first telegrams size the decoder's buffers and its code cache.
        if i >= 10 {
            decoded += events.len() as u64;
            in_decoder += in_this;
            in_json += json;
        }
    }
    let n = (TELEGRAMS - 10) as u64;
    assert_eq!(decoded, n, "every telegram decodes");
    println!(
        "DECODE per telegram: decoder {:.1} allocations, state JSON {:.1}",
        in_decoder as f64 / n as f64,
        in_json as f64 / n as f64
    );
    assert_eq!(in_json, 0, "the state JSON into a reused buffer allocates");
    assert!(
        in_decoder <= DECODE_ALLOCS * n,
        "the decoder allocates {in_decoder} times for {n} telegrams"
    );
}

/// The decoder's allocations per DSMR 5 telegram with gas, measured (issue 17): 18.0 while
/// each telegram built its meters' identities anew, 5.0 since the decoder keeps them
/// (`src/protocol/dsmr/identity.rs`): the raw bytes, the two value lists, the reading and
/// channel lists; 6.0 since an idle decoder keeps no buffer of the pushed bytes (one
/// allocation per push buys ≈ 2.3 KB less per idle input, `tests/input_memory.rs`). A rise
/// is a regression.
const DECODE_ALLOCS: u64 = 6;
