use super::*;
use crate::decimal::Decimal;
use crate::reading::{q, MeterInfo, MeterKind};
use crate::time::Timestamp;

fn settings() -> RulesSettings {
    RulesSettings {
        offline_after_intervals: 3,
    }
}

/// A reading of meter `E1` at meter time `2024-01-01 00:00:00+01:00` plus `secs` (in UTC).
fn reading_at(secs: i64, energy: &str, power: i64) -> Reading {
    let start = Timestamp::new(2024, 1, 1, 0, 0, 0, 60).unwrap();
    let t = Timestamp::from_unix_seconds(start.unix_seconds() + secs);
    let mut r = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), t);
    r.push_number(q::ENERGY_IMPORT_T1, Decimal::parse(energy).unwrap());
    r.push_number(q::POWER_IMPORT, Decimal::from_int(power));
    r
}

fn readings(r: Reading) -> InputEvent {
    InputEvent::Readings {
        input: "p1".into(),
        readings: vec![r],
        interval: Duration::from_secs(1),
        raw: Some(b"/raw".to_vec()),
    }
}

fn run(rules: &mut Rules, now: Instant, ev: InputEvent) -> Vec<Event> {
    let mut out = Vec::new();
    rules.on_input(now, ev, &mut out);
    out
}

fn accepted(events: &[Event]) -> Vec<&MeterReading> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reading(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

fn keys(r: &MeterReading) -> Vec<&str> {
    r.reading
        .values
        .iter()
        .map(|m| m.quantity.key.as_ref())
        .collect()
}

fn availability(events: &[Event]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Availability { meter, online } => Some((meter.clone(), *online)),
            _ => None,
        })
        .collect()
}

/// The first reading of a meter: raw telegram, then `online`, then the reading, in that
/// order (MQTT publishes availability before discovery and state).
#[test]
fn first_reading_is_raw_then_online_then_the_reading() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    let out = run(&mut rules, t0, readings(reading_at(0, "10.5", 100)));
    assert!(matches!(&out[0], Event::Raw(r) if r.bytes == b"/raw" && &*r.input == "p1"));
    assert!(matches!(&out[1], Event::Availability { meter, online: true } if meter == "E1"));
    let r = accepted(&out);
    assert_eq!(r.len(), 1);
    assert_eq!(keys(r[0]), ["energy_import_t1", "power_import"]);
    assert!(r[0].held.is_empty());
    assert_eq!(out.len(), 3);
    // Online only once.
    let out = run(&mut rules, t0, readings(reading_at(1, "10.6", 100)));
    assert!(availability(&out).is_empty());
}

/// An all-zero telegram (every counter 0) and a drop: the counters are held back and named in
/// `held`, the other values go out; the counter carries on afterwards.
#[test]
fn counters_never_go_backwards_and_an_all_zero_reading_keeps_its_power() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    run(&mut rules, t0, readings(reading_at(0, "10.5", 100)));
    let out = run(&mut rules, t0, readings(reading_at(1, "0.000", 0)));
    let r = accepted(&out);
    assert_eq!(keys(r[0]), ["power_import"]);
    assert_eq!(r[0].held.len(), 1);
    assert_eq!(r[0].held[0].key, "energy_import_t1");
    assert_eq!(rules.held_back, 1);
    let out = run(&mut rules, t0, readings(reading_at(2, "10.7", 5)));
    assert_eq!(
        keys(accepted(&out)[0]),
        ["energy_import_t1", "power_import"]
    );
}

/// Held values anywhere in a reading (first, middle, last, next to each other) are taken out
/// and every other value keeps its place.
#[test]
fn held_values_leave_the_others_in_order() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    let r = |t1: &str, t2: &str, e1: &str, e2: &str| {
        let mut r = reading_at(0, t1, 100);
        r.push_number(q::ENERGY_IMPORT_T2, Decimal::parse(t2).unwrap());
        r.push_number(q::POWER_EXPORT, Decimal::from_int(7));
        r.push_number(q::ENERGY_EXPORT_T1, Decimal::parse(e1).unwrap());
        r.push_number(q::ENERGY_EXPORT_T2, Decimal::parse(e2).unwrap());
        r
    };
    run(&mut rules, t0, readings(r("10", "20", "30", "40")));
    let out = run(&mut rules, t0, readings(r("9", "21", "29", "39")));
    let got = accepted(&out);
    assert_eq!(
        keys(got[0]),
        ["power_import", "energy_import_t2", "power_export"]
    );
    let held: Vec<&str> = got[0].held.iter().map(|q| q.key.as_ref()).collect();
    assert_eq!(
        held,
        ["energy_import_t1", "energy_export_t1", "energy_export_t2"]
    );
    assert_eq!(rules.held_back, 3);
}

/// Hints from an output (a retained state) seed the guard of a meter seen for the first time.
#[test]
fn hints_seed_the_counter_guard() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    let mut hints = Hints::default();
    hints.counters.insert(
        "E1".into(),
        CounterHint {
            unix_time: None,
            values: [(
                "energy_import_t1".to_string(),
                Decimal::parse("99.1").unwrap(),
            )]
            .into(),
        },
    );
    rules.seed(hints);
    let out = run(&mut rules, t0, readings(reading_at(0, "0", 1)));
    assert_eq!(keys(accepted(&out)[0]), ["power_import"]);
}

/// A dated hint (the retained state's meter time is 10 s before the first reading) allows only
/// a plausible rise for the time since: 900 000 kWh more is held back, the meter's next normal
/// value is taken.
#[test]
fn a_dated_hint_holds_a_spike_as_the_first_value() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    let first = reading_at(10, "900576.239", 1);
    let mut hints = Hints::default();
    hints.counters.insert(
        "E1".into(),
        CounterHint {
            unix_time: Some(first.time.unix_seconds() - 10),
            values: [(
                "energy_import_t1".to_string(),
                Decimal::parse("576.248").unwrap(),
            )]
            .into(),
        },
    );
    rules.seed(hints);
    let out = run(&mut rules, t0, readings(first));
    assert_eq!(keys(accepted(&out)[0]), ["power_import"]);
    let t1 = t0 + Duration::from_secs(1);
    let out = run(&mut rules, t1, readings(reading_at(11, "576.249", 1)));
    assert_eq!(
        keys(accepted(&out)[0]),
        ["energy_import_t1", "power_import"]
    );
}

#[test]
fn a_silent_meter_goes_offline_and_back() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    run(&mut rules, t0, readings(reading_at(0, "1", 1)));
    let mut out = Vec::new();
    rules.on_tick(t0 + Duration::from_secs(4), &mut out);
    assert!(out.is_empty(), "{out:?}");
    rules.on_tick(t0 + Duration::from_secs(6), &mut out);
    assert_eq!(availability(&out), [("E1".to_string(), false)]);
    out.clear();
    rules.on_tick(t0 + Duration::from_secs(7), &mut out);
    assert!(out.is_empty(), "offline is sent once: {out:?}");
    let out = run(
        &mut rules,
        t0 + Duration::from_secs(7),
        readings(reading_at(7, "2", 1)),
    );
    assert_eq!(availability(&out), [("E1".to_string(), true)]);
}

/// A failed poll marks the input's known meters offline at once, once; unknown ones are
/// ignored (nothing was ever published for them).
#[test]
fn a_failed_poll_marks_its_meters_offline_once() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    run(&mut rules, t0, readings(reading_at(0, "1", 1)));
    let failed = || InputEvent::Unavailable {
        meters: vec!["E1".into(), "nobody".into()],
        reason: "timeout".into(),
    };
    let out = run(&mut rules, t0, failed());
    assert_eq!(availability(&out), [("E1".to_string(), false)]);
    assert!(run(&mut rules, t0, failed()).is_empty());
}

/// The input's name is shared by every event of that input, not copied per telegram.
#[test]
fn events_of_one_input_share_its_name() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    let a = run(&mut rules, t0, readings(reading_at(0, "1", 1)));
    let b = run(&mut rules, t0, readings(reading_at(1, "1", 1)));
    let (a, b) = (accepted(&a)[0], accepted(&b)[0]);
    assert!(Arc::ptr_eq(&a.input, &b.input));
}

/// Inputs taking turns each keep their own name (the last input's name is compared first).
#[test]
fn inputs_taking_turns_keep_their_names() {
    let t0 = Instant::now();
    let mut rules = Rules::new(settings());
    let from = |input: &str, secs| InputEvent::Readings {
        input: input.into(),
        readings: vec![reading_at(secs, "1", 1)],
        interval: Duration::from_secs(1),
        raw: None,
    };
    let mut names = Vec::new();
    let mut first_p1 = None;
    for (i, input) in ["p1", "p2", "p2", "p1", "p10", "p1"]
        .into_iter()
        .enumerate()
    {
        let out = run(&mut rules, t0, from(input, i as i64));
        let r = accepted(&out)[0];
        names.push(r.input.to_string());
        if input == "p1" {
            let first = first_p1.get_or_insert_with(|| r.input.clone());
            assert!(Arc::ptr_eq(first, &r.input), "one shared name per input");
        }
    }
    assert_eq!(names, ["p1", "p2", "p2", "p1", "p10", "p1"]);
}
