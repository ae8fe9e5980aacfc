//! A plain loop over one leg of `benches/pipeline.rs`, for callgrind and allocation profiles
//! (criterion's own work would drown the path in a profile). Per telegram = the difference of
//! two runs with different counts, so the set-up cancels out:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=true \
//!   cargo build --release --example pipeline_profile
//! valgrind --tool=callgrind target/release/examples/pipeline_profile bridge 2000
//! ```
//!
//! `scripts/pipeline-callgrind.sh` does this for every leg and prints instructions per telegram.
//!
//! Modes: `decode` (decode_isk_27), `bridge` (bridge_isk_27), `bridge_pq`
//! (bridge_isk_27_per_quantity), `parse` (the decoder alone, as `benches/dsmr.rs` isk_27).

use std::time::{Duration, Instant};

use meter2mqtt::event::{Event, InputEvent, Rules, RulesSettings};
use meter2mqtt::mqtt::publish::{PublishSettings, Publisher};
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
use meter2mqtt::time::Timestamp;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "bridge".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dsmr/wassasin_dsmr5/01_isk.txt");
    let isk = std::fs::read(path).expect("fixture");
    let now = Timestamp::new(2025, 1, 1, 0, 0, 0, 0).expect("time");
    let mut d = P1Decoder::new(DecoderOptions::default());
    let mut total = 0usize;
    match mode.as_str() {
        "parse" => {
            for _ in 0..n {
                d.push(&isk);
                while let Some(e) = d.next_event(now) {
                    if let P1Event::Telegram(t) = e {
                        total += t.readings.len();
                    }
                }
            }
        }
        "decode" => {
            let mut line = Vec::with_capacity(4096);
            for _ in 0..n {
                d.push(&isk);
                while let Some(e) = d.next_event(now) {
                    if let P1Event::Telegram(t) = e {
                        for r in &t.readings {
                            line.clear();
                            r.write_state_json(&mut line);
                            total += line.len();
                        }
                    }
                }
            }
        }
        "bridge" | "bridge_pq" => {
            let mut clock = Instant::now();
            let mut rules = Rules::new(RulesSettings {
                offline_after_intervals: 3,
            });
            let mut publisher = Publisher::new(
                PublishSettings {
                    base: "meter2mqtt".into(),
                    discovery_prefix: Some("homeassistant".into()),
                    min_interval: Duration::ZERO,
                    on_change: false,
                    per_quantity_topics: mode == "bridge_pq",
                    raw_topic: false,
                    stale_meter_timeout: Duration::from_secs(3600),
                    naming: Default::default(),
                },
                clock,
            );
            let mut events: Vec<Event> = Vec::with_capacity(8);
            for _ in 0..n {
                clock += Duration::from_secs(1);
                d.push(&isk);
                while let Some(e) = d.next_event(now) {
                    let P1Event::Telegram(t) = e else { continue };
                    let input = InputEvent::Readings {
                        input: "p1".into(),
                        readings: t.readings,
                        interval: Duration::from_secs(1),
                        raw: Some(t.raw),
                    };
                    rules.on_input(clock, input, &mut events);
                    for ev in events.drain(..) {
                        for m in publisher.on_event(clock, &ev) {
                            total += m.payload.len();
                        }
                    }
                }
            }
        }
        other => {
            eprintln!("unknown mode {other}: parse, decode, bridge, bridge_pq");
            std::process::exit(2);
        }
    }
    println!("{mode} {n}: {total}");
}
