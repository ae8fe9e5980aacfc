//! End to end per telegram (issue 17): bytes in to finished MQTT payloads, next to the parse
//! bench (`benches/dsmr.rs`). The telegram is the parse bench's `isk_27`: corpus
//! `wassasin_dsmr5/01_isk.txt`, an Iskra AM550 DSMR 5.0 telegram, 27 lines, 779 bytes, valid
//! CRC, one gas meter (two readings). See docs/benchmarks.md for the figures.
//!
//! - `decode_isk_27`: what `meter2mqtt decode` does per telegram: `push`, drain
//!   `next_event`, and write each reading's state payload (`Reading::write_state_json`) into
//!   a reused buffer.
//! - `bridge_isk_27`: the bridge's own path: the decoder, the input event as the P1 input makes
//!   it, the rules (counter guard, availability) and the MQTT publisher (discovery memory,
//!   state JSON, topics); the messages are dropped where the MQTT client would take them.
//! - `bridge_isk_27_per_quantity`: the same with `per_quantity_topics: true` (one more
//!   message per value).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meter2mqtt::event::{Event, InputEvent, Rules, RulesSettings};
use meter2mqtt::mqtt::publish::{PublishSettings, Publisher};
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
use meter2mqtt::time::Timestamp;

fn fixture(rel: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dsmr")
        .join(rel);
    std::fs::read(p).unwrap()
}

/// The bridge's path for one telegram; returns the messages' payload bytes.
struct Bridge {
    decoder: P1Decoder,
    rules: Rules,
    publisher: Publisher,
    events: Vec<Event>,
    clock: Instant,
}

impl Bridge {
    fn new(per_quantity_topics: bool) -> Self {
        let clock = Instant::now();
        Bridge {
            decoder: P1Decoder::new(DecoderOptions::default()),
            rules: Rules::new(RulesSettings {
                offline_after_intervals: 3,
            }),
            publisher: Publisher::new(
                PublishSettings {
                    base: "meter2mqtt".into(),
                    discovery_prefix: Some("homeassistant".into()),
                    min_interval: Duration::ZERO,
                    on_change: false,
                    per_quantity_topics,
                    raw_topic: false,
                    stale_meter_timeout: Duration::from_secs(3600),
                    naming: Default::default(),
                },
                clock,
            ),
            events: Vec::with_capacity(8),
            clock,
        }
    }

    fn telegram(&mut self, bytes: &[u8], now: Timestamp) -> usize {
        // A second per telegram, as a meter at 1 Hz (`min_interval` and availability see it).
        self.clock += Duration::from_secs(1);
        self.decoder.push(bytes);
        let mut payload = 0;
        while let Some(e) = self.decoder.next_event(now) {
            let P1Event::Telegram(t) = e else {
                panic!("rejected")
            };
            let input = InputEvent::Readings {
                input: "p1".into(),
                readings: t.readings,
                interval: Duration::from_secs(1),
                raw: Some(t.raw),
            };
            self.rules.on_input(self.clock, input, &mut self.events);
            for ev in self.events.drain(..) {
                for m in self.publisher.on_event(self.clock, &ev) {
                    payload += m.payload.len();
                }
            }
        }
        payload
    }
}

fn bench(c: &mut Criterion) {
    let now = Timestamp::new(2025, 1, 1, 0, 0, 0, 0).unwrap();
    let isk = fixture("wassasin_dsmr5/01_isk.txt");
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));

    let mut d = P1Decoder::new(DecoderOptions::default());
    let mut line = Vec::with_capacity(4096);
    let mut decode = |d: &mut P1Decoder| {
        d.push(&isk);
        let mut n = 0;
        while let Some(e) = d.next_event(now) {
            let P1Event::Telegram(t) = e else {
                panic!("rejected")
            };
            for r in &t.readings {
                line.clear();
                r.write_state_json(&mut line);
                n += line.len();
            }
        }
        n
    };
    assert!(decode(&mut d) > 500);
    g.bench_function("decode_isk_27", |b| b.iter(|| decode(&mut d)));

    for (name, per_quantity) in [
        ("bridge_isk_27", false),
        ("bridge_isk_27_per_quantity", true),
    ] {
        let mut bridge = Bridge::new(per_quantity);
        // Warm-up: the first telegram publishes discovery; the rest are states.
        bridge.telegram(&isk, now);
        let state = bridge.telegram(&isk, now);
        assert!(state > 500, "{name}: {state} bytes of payload");
        g.bench_function(name, |b| b.iter(|| bridge.telegram(&isk, now)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
