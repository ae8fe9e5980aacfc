use super::*;

fn d(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

fn secs(t0: Instant, s: u64) -> Instant {
    t0 + Duration::from_secs(s)
}

/// Feed `values` one a second from `t0` as `energy_import_t1` (kWh); the verdicts.
fn feed(g: &mut Guard, t0: Instant, start: u64, values: &[&str]) -> Vec<Verdict> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let now = secs(t0, start + i as u64);
            g.check("energy_import_t1", Class::Energy, Unit::KWh, d(v), now)
        })
        .collect()
}

fn accepted(v: &[Verdict]) -> Vec<bool> {
    v.iter()
        .map(|v| !matches!(v, Verdict::Hold { .. }))
        .collect()
}

/// Issue 18 §1, the exact sequence: one spike with a valid CRC, then the meter carries on.
#[test]
fn one_upward_spike_is_held_and_the_counter_carries_on() {
    let t0 = Instant::now();
    let mut g = Guard::new();
    let seq = [
        "576.239",
        "900576.239",
        "576.241",
        "576.242",
        "576.243",
        "576.244",
        "576.245",
        "576.246",
        "576.247",
        "576.248",
    ];
    let v = feed(&mut g, t0, 0, &seq);
    assert_eq!(
        v[1],
        Verdict::Hold {
            previous: d("576.239"),
            reason: HoldReason::TooFast,
            first: true
        }
    );
    assert_eq!(
        accepted(&v),
        [true, false, true, true, true, true, true, true, true, true]
    );
    assert!(v.iter().all(|v| !matches!(v, Verdict::Confirmed { .. })));
    assert_eq!(g.last("energy_import_t1"), Some(d("576.248")));
}

#[test]
fn one_downward_outlier_is_held() {
    let t0 = Instant::now();
    let mut g = Guard::new();
    let v = feed(
        &mut g,
        t0,
        0,
        &["576.239", "0.000", "576.240", "5.1", "576.241"],
    );
    assert_eq!(accepted(&v), [true, false, true, false, true]);
    let Verdict::Hold { reason, first, .. } = v[3] else {
        panic!("{:?}", v[3])
    };
    assert_eq!((reason, first), (HoldReason::Backwards, true));
}

/// A retained spike read back at start (published by an older version, or by anybody with
/// access to the topic) does not freeze the counter: the meter's own values win.
#[test]
fn a_retained_spike_is_only_a_hint() {
    for hint in ["900576.239", "99999999"] {
        let t0 = Instant::now();
        let mut g = Guard::with_hints([("energy_import_t1".to_string(), d(hint))], None, t0);
        let values: Vec<String> = (0..12).map(|i| format!("576.{:03}", 239 + i)).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let v = feed(&mut g, t0, 0, &refs);
        // Held until 5 readings spanning 10 s agree, then taken with one Confirmed.
        assert_eq!(
            accepted(&v),
            [false, false, false, false, false, false, false, false, false, false, true, true],
            "{hint}"
        );
        assert_eq!(
            v[10],
            Verdict::Confirmed {
                previous: d(hint),
                hint: true
            }
        );
        assert_eq!(
            v.iter()
                .filter(|v| matches!(v, Verdict::Hold { first: true, .. }))
                .count(),
            1
        );
    }
}

#[test]
fn a_hint_below_the_meter_is_taken_at_once() {
    let t0 = Instant::now();
    let mut g = Guard::with_hints([("energy_import_t1".to_string(), d("500"))], None, t0);
    assert_eq!(feed(&mut g, t0, 0, &["576.239"]), [Verdict::Accept]);
}

/// A dated hint (the retained state's meter time is known): a spike as the first value after
/// a restart is held like any other.
#[test]
fn a_spike_right_after_a_restart_is_held_against_a_dated_hint() {
    let t0 = Instant::now();
    let ten_s_ago = t0.checked_sub(Duration::from_secs(10));
    let hints = [("energy_import_t1".to_string(), d("576.248"))];
    let mut g = Guard::with_hints(hints.clone(), ten_s_ago, t0);
    let v = feed(&mut g, t0, 0, &["900576.239", "576.249", "576.250"]);
    assert_eq!(accepted(&v), [false, true, true]);
    // An hour later 200 kWh more is physics; undated, anything above the hint goes.
    let an_hour_ago = t0.checked_sub(Duration::from_secs(3600));
    let mut g = Guard::with_hints(hints.clone(), an_hour_ago, t0);
    assert_eq!(feed(&mut g, t0, 0, &["776"]), [Verdict::Accept]);
    let mut g = Guard::with_hints(hints, None, t0);
    assert_eq!(feed(&mut g, t0, 0, &["900576.239"]), [Verdict::Accept]);
}

/// A replaced meter (or a register reset) is accepted after 5 readings over 5 minutes.
#[test]
fn a_lasting_decrease_is_confirmed_after_five_readings_over_five_minutes() {
    let t0 = Instant::now();
    let mut g = Guard::new();
    let k = "energy_import_t1";
    assert_eq!(
        g.check(k, Class::Energy, Unit::KWh, d("576.239"), t0),
        Verdict::Accept
    );
    let mut verdicts = Vec::new();
    for i in 1..=7u64 {
        let v = Decimal::new(i as i64, -3);
        verdicts.push(g.check(k, Class::Energy, Unit::KWh, v, secs(t0, 60 * i)));
    }
    // First held at 60 s, 5 readings by 300 s but spanning only 240 s; confirmed at 360 s.
    assert_eq!(
        accepted(&verdicts),
        [false, false, false, false, false, true, true]
    );
    assert_eq!(
        verdicts[5],
        Verdict::Confirmed {
            previous: d("576.239"),
            hint: false
        }
    );
}

/// Values that disagree with each other never confirm anything.
#[test]
fn inconsistent_outliers_are_never_confirmed() {
    let t0 = Instant::now();
    let mut g = Guard::new();
    let k = "gas";
    assert_eq!(
        g.check(k, Class::Gas, Unit::CubicMeter, d("100.5"), t0),
        Verdict::Accept
    );
    for i in 1..=20u64 {
        // Alternating garbage: 9000, 1, 9000, 1 ...
        let v = if i % 2 == 0 { d("9000") } else { d("1") };
        let verdict = g.check(k, Class::Gas, Unit::CubicMeter, v, secs(t0, 60 * i));
        assert!(matches!(verdict, Verdict::Hold { .. }), "{i}: {verdict:?}");
    }
    assert_eq!(g.last(k), Some(d("100.5")));
}

#[test]
fn the_rate_bound_scales_with_elapsed_time() {
    let t0 = Instant::now();
    let mut g = Guard::new();
    let k = "energy_import_t1";
    let kwh =
        |g: &mut Guard, v: &str, s: u64| g.check(k, Class::Energy, Unit::KWh, d(v), secs(t0, s));
    assert_eq!(kwh(&mut g, "1000", 0), Verdict::Accept);
    // 200 kWh/h over 1 s + 120 s of slack: 6.72 kWh.
    assert_eq!(kwh(&mut g, "1006.7", 1), Verdict::Accept);
    assert!(matches!(
        kwh(&mut g, "1020", 2),
        Verdict::Hold {
            reason: HoldReason::TooFast,
            ..
        }
    ));
    // After an hour offline, 200 kWh more is physics.
    assert_eq!(kwh(&mut g, "1200", 3600), Verdict::Accept);
}

/// A register shown in whole units steps by one however short the time.
#[test]
fn one_step_of_the_last_digit_is_always_plausible() {
    let t0 = Instant::now();
    let mut g = Guard::new();
    let k = "operating_hours";
    assert_eq!(
        g.check(k, Class::Duration, Unit::Hour, d("1000"), t0),
        Verdict::Accept
    );
    assert_eq!(
        g.check(k, Class::Duration, Unit::Hour, d("1001"), secs(t0, 60)),
        Verdict::Accept
    );
    assert!(matches!(
        g.check(k, Class::Duration, Unit::Hour, d("1003"), secs(t0, 120)),
        Verdict::Hold { .. }
    ));
}

#[test]
fn without_a_known_rate_only_decreases_are_held() {
    let t0 = Instant::now();
    let mut g = Guard::new();
    let k = "heat_energy";
    assert_eq!(
        g.check(k, Class::Energy, Unit::None, d("1"), t0),
        Verdict::Accept
    );
    assert_eq!(
        g.check(k, Class::Energy, Unit::None, d("1000000000"), t0),
        Verdict::Accept
    );
    assert!(matches!(
        g.check(k, Class::Energy, Unit::None, d("5"), t0),
        Verdict::Hold { .. }
    ));
}

#[test]
fn nanos_saturate() {
    assert_eq!(nanos(d("1.5")), 1_500_000_000);
    assert_eq!(nanos(Decimal::new(1, 60)), i128::MAX);
    assert_eq!(nanos(Decimal::new(-1, 60)), i128::MIN);
    assert_eq!(nanos(Decimal::new(1, -40)), 0);
}

/// Issue 17: a counter's track is compact (the held-back candidate boxed, the key a `Cow`),
/// and a decoder's static key is kept without a copy.
#[test]
fn a_track_is_compact_and_keeps_static_keys_borrowed() {
    assert!(std::mem::size_of::<Track>() <= 72);
    let t0 = Instant::now();
    let mut g = Guard::new();
    let key: Cow<'static, str> = Cow::Borrowed("energy_import_t1");
    for s in 0..3 {
        g.check_key(&key, Class::Energy, Unit::KWh, d("1.5"), secs(t0, s));
    }
    assert!(matches!(g.tracks[0].key, Cow::Borrowed(_)));
    assert_eq!(g.heap_bytes(), std::mem::size_of::<Track>());
    assert_eq!(g.last("energy_import_t1"), Some(d("1.5")));
}
