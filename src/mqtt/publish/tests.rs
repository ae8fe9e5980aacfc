//! The publisher behind the rules, chained as the bridge chains them ([`Pipeline`]): these
//! tests predate the seam and keep their assertions.

use super::*;
use crate::decimal::Decimal;
use crate::event::{InputEvent, Rules, RulesSettings};
use crate::reading::{q, MeterKind, Reading};
use crate::time::Timestamp;

/// The rules, then the MQTT publisher: what `bridge::run_with_events` and
/// `mqtt::output::run` do, without the tasks. The hints read back are handed to the rules
/// before the first event, as the MQTT output does when its read-back ends.
struct Pipeline {
    rules: Rules,
    publisher: Publisher,
    seeded: bool,
}

impl Pipeline {
    fn new(s: PublishSettings, now: Instant) -> Self {
        Pipeline {
            rules: Rules::new(RulesSettings {
                offline_after_intervals: 3,
            }),
            publisher: Publisher::new(s, now),
            seeded: false,
        }
    }

    fn publish(&mut self, now: Instant, events: Vec<Event>, out: &mut Vec<Message>) {
        for e in &events {
            out.extend(self.publisher.on_event(now, e));
        }
    }

    fn on_event(&mut self, now: Instant, ev: InputEvent) -> Vec<Message> {
        if !self.seeded {
            self.seeded = true;
            self.rules.seed(self.publisher.take_hints());
        }
        let mut events = Vec::new();
        self.rules.on_input(now, ev, &mut events);
        let mut out = Vec::new();
        self.publish(now, events, &mut out);
        out
    }

    fn on_tick(&mut self, now: Instant) -> Vec<Message> {
        let mut out = self.publisher.on_tick(now);
        let mut events = Vec::new();
        self.rules.on_tick(now, &mut events);
        self.publish(now, events, &mut out);
        out
    }

    fn on_retained(&mut self, topic: &str, payload: &[u8]) {
        self.publisher.on_retained(topic, payload);
    }

    fn republish_all(&self) -> Vec<Message> {
        self.publisher.republish_all()
    }
}

fn settings() -> PublishSettings {
    PublishSettings {
        base: "m2m".into(),
        discovery_prefix: Some("homeassistant".into()),
        min_interval: Duration::ZERO,
        on_change: false,
        per_quantity_topics: false,
        raw_topic: false,
        stale_meter_timeout: Duration::from_secs(60),
        naming: Default::default(),
    }
}

fn reading(energy: &str, power: i64) -> Reading {
    let mut r = Reading::new(
        MeterInfo::new("E1", MeterKind::Electricity),
        Timestamp::new(2024, 1, 1, 0, 0, 0, 60).unwrap(),
    );
    r.push_number(q::ENERGY_IMPORT_T1, Decimal::parse(energy).unwrap());
    r.push_number(q::POWER_IMPORT, Decimal::from_int(power));
    r
}

fn event(r: Reading) -> InputEvent {
    InputEvent::Readings {
        input: "p1".into(),
        readings: vec![r],
        interval: Duration::from_secs(1),
        raw: None,
    }
}

fn states(msgs: &[Message]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m.topic == "m2m/E1/state")
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect()
}

#[test]
fn first_reading_announces_then_publishes() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(settings(), t0);
    let out = p.on_event(t0, event(reading("10.5", 100)));
    let topics: Vec<&str> = out.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(
        topics,
        [
            "m2m/E1/availability",
            "homeassistant/sensor/m2m_E1/energy_import_t1/config",
            "homeassistant/sensor/m2m_E1/power_import/config",
            "m2m/E1/state"
        ]
    );
    assert!(out.iter().all(|m| m.retain));
    assert!(states(&out)[0].contains("\"energy_import_t1\":10.5"));
    // Discovery is sent once.
    let out = p.on_event(t0, event(reading("10.6", 100)));
    assert_eq!(out.len(), 1);
}

#[test]
fn counters_never_go_backwards() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(settings(), t0);
    p.on_event(t0, event(reading("10.5", 100)));
    let out = p.on_event(t0, event(reading("0.000", 0)));
    let s = &states(&out)[0];
    assert!(!s.contains("energy_import_t1"), "{s}");
    assert!(s.contains("\"power_import\":0"), "{s}");
    assert_eq!(p.rules.held_back, 1);
    let out = p.on_event(t0, event(reading("10.7", 5)));
    assert!(states(&out)[0].contains("\"energy_import_t1\":10.7"));
}

#[test]
fn retained_state_seeds_the_counter_guard() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(settings(), t0);
    p.on_retained("m2m/E1/state", br#"{"time":"x","energy_import_t1":99.1}"#);
    let out = p.on_event(t0, event(reading("0", 1)));
    assert!(!states(&out)[0].contains("energy_import_t1"));
}

#[test]
fn min_interval_sends_the_newest_when_due() {
    let t0 = Instant::now();
    let mut s = settings();
    s.min_interval = Duration::from_secs(10);
    let mut p = Pipeline::new(s, t0);
    assert_eq!(states(&p.on_event(t0, event(reading("1", 1)))).len(), 1);
    let t1 = t0 + Duration::from_secs(3);
    assert!(states(&p.on_event(t1, event(reading("2", 2)))).is_empty());
    assert!(states(&p.on_event(t1, event(reading("3", 3)))).is_empty());
    assert!(states(&p.on_tick(t0 + Duration::from_secs(9))).is_empty());
    let out = p.on_tick(t0 + Duration::from_secs(10));
    let s = states(&out);
    assert_eq!(s.len(), 1);
    assert!(s[0].contains("\"energy_import_t1\":3"));
}

fn on_change_pipeline(t0: Instant) -> Pipeline {
    let mut s = settings();
    s.on_change = true;
    Pipeline::new(s, t0)
}

#[test]
fn on_change_skips_identical_values() {
    let t0 = Instant::now();
    let mut p = on_change_pipeline(t0);
    assert_eq!(states(&p.on_event(t0, event(reading("1", 1)))).len(), 1);
    assert!(states(&p.on_event(t0, event(reading("1", 1)))).is_empty());
    assert_eq!(states(&p.on_event(t0, event(reading("1", 2)))).len(), 1);
}

#[test]
fn silent_meter_goes_offline_and_back() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(settings(), t0);
    p.on_event(t0, event(reading("1", 1)));
    assert!(p.on_tick(t0 + Duration::from_secs(4)).is_empty());
    let out = p.on_tick(t0 + Duration::from_secs(6));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].topic, "m2m/E1/availability");
    assert_eq!(out[0].payload, b"offline");
    let out = p.on_event(t0 + Duration::from_secs(7), event(reading("2", 1)));
    assert_eq!(out[0].payload, b"online");
}

/// A discovery config as the bridge on `base` writes it for `meter` (the fields that matter).
fn config(base: &str, meter: &str) -> Vec<u8> {
    serde_json::json!({
        "state_topic": format!("{base}/{meter}/state"),
        "availability": [
            {"topic": format!("{base}/status")},
            {"topic": format!("{base}/{meter}/availability")}
        ]
    })
    .to_string()
    .into_bytes()
}

#[test]
fn ghost_entities_and_stale_meters_are_cleared() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(settings(), t0);
    let cfg = &config("m2m", "E1");
    p.on_retained("homeassistant/sensor/m2m_E1/energy_import_t1/config", cfg);
    p.on_retained("homeassistant/sensor/m2m_E1/old_thing/config", cfg);
    p.on_retained(
        "homeassistant/sensor/m2m_G9/gas/config",
        &config("m2m", "G9"),
    );
    // Somebody else's entity is never touched.
    p.on_retained(
        "homeassistant/sensor/zigbee_x/temp/config",
        br#"{"state_topic":"zigbee2mqtt/x"}"#,
    );
    let out = p.on_event(t0, event(reading("1", 1)));
    let cleared: Vec<&str> = out
        .iter()
        .filter(|m| m.payload.is_empty())
        .map(|m| m.topic.as_str())
        .collect();
    assert_eq!(cleared, ["homeassistant/sensor/m2m_E1/old_thing/config"]);
    let out = p.on_tick(t0 + Duration::from_secs(61));
    let cleared: Vec<&str> = out
        .iter()
        .filter(|m| m.payload.is_empty())
        .map(|m| m.topic.as_str())
        .collect();
    assert_eq!(
        cleared,
        [
            "homeassistant/sensor/m2m_G9/gas/config",
            "m2m/G9/state",
            "m2m/G9/availability"
        ]
    );
}

#[test]
fn republish_sends_discovery_and_last_state() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(settings(), t0);
    p.on_event(t0, event(reading("1", 1)));
    let out = p.republish_all();
    assert_eq!(out.len(), 4);
    assert_eq!(out[3].topic, "m2m/E1/state");
}

/// The state the HA birth republishes is written again from the kept reading (issue 17: no
/// copy of the payload per meter): byte for byte what was published last, and with
/// `on_change` a skipped reading does not replace it.
#[test]
fn republish_repeats_the_last_published_payload() {
    let t0 = Instant::now();
    let mut p = on_change_pipeline(t0);
    p.on_event(t0, event(reading("1", 1)));
    let published = p.on_event(t0 + Duration::from_secs(1), event(reading("2", 2)));
    let last = states(&published);
    assert_eq!(last.len(), 1);
    // Same values, another time: not published, so not what a birth repeats.
    let mut later = reading("2", 2);
    later.time = Timestamp::new(2024, 1, 1, 0, 0, 5, 60).unwrap();
    let t2 = t0 + Duration::from_secs(2);
    assert!(states(&p.on_event(t2, event(later))).is_empty());
    let again = states(&p.republish_all());
    assert_eq!(again, last);
}

/// Issue 18 §4: bridges on `m2m/garage` (nested) and `m2m2` (equal prefix) share the broker;
/// the bridge on `m2m` never removes their entities nor clears their topics.
#[test]
fn other_bridges_entities_are_never_touched() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(settings(), t0);
    for base in ["m2m/garage", "m2m2", "m2m_garage"] {
        for meter in ["E1", "G9"] {
            let node = topics::node_id(base, meter);
            for key in ["energy_import_t1", "old_thing"] {
                let topic = topics::discovery("homeassistant", &node, key);
                p.on_retained(&topic, &config(base, meter));
            }
        }
    }
    // An old-style config without availability names no bridge: not ours either.
    p.on_retained(
        "homeassistant/sensor/m2m_G8/gas/config",
        br#"{"state_topic":"m2m/G8/state"}"#,
    );
    let mut out = p.on_event(t0, event(reading("1", 1)));
    out.extend(p.on_tick(t0 + Duration::from_secs(61)));
    let cleared: Vec<&str> = out
        .iter()
        .filter(|m| m.payload.is_empty())
        .map(|m| m.topic.as_str())
        .collect();
    assert_eq!(cleared, Vec::<&str>::new());
    assert!(out
        .iter()
        .all(|m| m.topic.starts_with("m2m/E1/") || m.topic.contains("/m2m_E1/")));
}

/// With `min_interval` (Domoticz), the rules run before MQTT's rate limit: a spike that
/// arrives between two publishes is held back, and the reading sent when the interval ends
/// carries the meter's other values without it.
#[test]
fn min_interval_never_flushes_a_held_spike() {
    let t0 = Instant::now();
    let mut s = settings();
    s.min_interval = Duration::from_secs(10);
    let mut p = Pipeline::new(s, t0);
    assert_eq!(states(&p.on_event(t0, event(reading("1", 1)))).len(), 1);
    let t1 = t0 + Duration::from_secs(4);
    assert!(states(&p.on_event(t1, event(reading("900000", 3)))).is_empty());
    let out = p.on_tick(t0 + Duration::from_secs(10));
    let s = states(&out);
    assert_eq!(s.len(), 1);
    assert!(!s[0].contains("energy_import_t1"), "{}", s[0]);
    assert!(s[0].contains("\"power_import\":3"), "{}", s[0]);
    assert_eq!(p.rules.held_back, 1);
}

/// The publisher skips the state JSON's search for repeated keys only when a reading's
/// quantities are the start of the meter's known list: a repeated key, a reading in another
/// order and a value keyed `time` still give exactly `Reading::state_payload`'s bytes.
#[test]
fn state_payloads_are_the_readings_own_whatever_the_keys() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(settings(), t0);
    let user = |k: &str| {
        Quantity::dynamic(
            k.into(),
            k.into(),
            crate::reading::Unit::None,
            crate::reading::Class::Measurement,
        )
    };
    let mk = |keys: &[&str]| {
        let mut r = Reading::new(
            MeterInfo::new("E1", MeterKind::Electricity),
            Timestamp::new(2024, 1, 1, 0, 0, 0, 60).unwrap(),
        );
        for (i, k) in keys.iter().enumerate() {
            r.push_number(user(k), Decimal::from_int(i as i64));
        }
        r
    };
    for (i, keys) in [
        &["a", "b"][..],
        &["a", "b"],
        &["a", "b", "a"],
        &["b", "a"],
        &["a", "b", "time"],
        &["a", "b", "time"],
        &["a", "b"],
    ]
    .into_iter()
    .enumerate()
    {
        let r = mk(keys);
        let want = String::from_utf8(r.state_payload()).unwrap();
        let out = p.on_event(t0 + Duration::from_secs(i as u64), event(r));
        assert_eq!(states(&out), [want], "{keys:?}");
    }
}
