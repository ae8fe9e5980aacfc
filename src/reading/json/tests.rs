use super::*;
use crate::decimal::Decimal;
use crate::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
use crate::reading::{q, Class, MeterInfo, MeterKind, Quantity, Unit};

/// The builder this one replaced (a `serde_json::Map` with `preserve_order`, serialized):
/// kept here as the reference the bytes must equal.
fn reference(r: &Reading) -> String {
    let mut map = serde_json::Map::with_capacity(r.values.len() + 1);
    map.insert("time".into(), serde_json::Value::String(r.time.to_string()));
    for m in &r.values {
        let v = match &m.value {
            Value::Number(d) => serde_json::Value::Number(d.to_json_number()),
            Value::Text(t) => serde_json::Value::String(t.clone()),
            Value::Time(t) => serde_json::Value::String(t.to_string()),
        };
        map.insert(m.quantity.key.to_string(), v);
    }
    serde_json::Value::Object(map).to_string()
}

fn check(r: &Reading) {
    let mut out = b"prefix".to_vec();
    let at = r.write_state_json(&mut out);
    let text = String::from_utf8(out[6..].to_vec()).expect("UTF-8");
    assert_eq!(text, reference(r));
    // What follows the time is the values and the closing brace.
    let values: serde_json::Value =
        serde_json::from_slice(&[b"{\"\\u0000\":0", &out[at..]].concat()).expect("values");
    assert_eq!(
        values.as_object().map(|o| o.len()),
        Some(text.matches("\":").count())
    );
    assert_eq!(r.state_json().to_string(), text);
}

fn key(k: &str) -> Quantity {
    Quantity::dynamic(k.into(), k.into(), Unit::None, Class::Measurement)
}

fn at() -> Timestamp {
    Timestamp::new(2024, 1, 2, 3, 4, 5, 60).expect("valid")
}

/// Every reading of every telegram in the DSMR corpus: byte-identical to the map.
#[test]
fn the_corpus_gives_the_maps_bytes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dsmr");
    let mut stack = vec![root];
    let mut readings = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixture dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).expect("fixture");
            let mut d = P1Decoder::new(DecoderOptions::default());
            d.push(&bytes);
            d.finish();
            while let Some(ev) = d.next_event(at()) {
                if let P1Event::Telegram(t) = ev {
                    for r in &t.readings {
                        check(r);
                        readings += 1;
                    }
                }
            }
        }
    }
    assert!(readings > 200, "only {readings} readings in the corpus");
}

#[test]
fn strings_times_and_numbers_are_written_as_serde_json_writes_them() {
    let mut r = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), at());
    r.push_number(
        q::ENERGY_IMPORT_T1,
        Decimal::parse("000123.450").expect("number"),
    );
    r.push_number(key("neg"), Decimal::new(-5, -3));
    r.push_number(key("big"), Decimal::new(12, 40));
    r.push(
        key("msg"),
        Value::Text("a \"quote\" \\ \n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f} é €".into()),
    );
    r.push(key("empty"), Value::Text(String::new()));
    r.push(key("plain"), Value::Text("plain é € \u{7f} ~".into()));
    r.push(
        key("when"),
        Value::Time(Timestamp::new(1999, 12, 31, 23, 59, 60, -150).expect("valid")),
    );
    check(&r);
    let mut far = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), at());
    far.time.year = 12_345;
    far.time.offset_minutes = -32_000;
    check(&far);
    let mut old = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), at());
    old.time.year = 7;
    check(&old);
    // A field over 99 (only by setting it) takes `Display`, like the year and offset above.
    let mut odd = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), at());
    odd.time.minute = 123;
    check(&odd);
}

/// A key given twice is written once, at its first place, with its last value; a value keyed
/// `time` replaces the time (what the map did).
#[test]
fn repeated_keys_keep_the_maps_rule() {
    let mut r = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), at());
    r.push_number(key("a"), Decimal::from_int(1));
    r.push_number(key("b"), Decimal::from_int(2));
    r.push_number(key("a"), Decimal::from_int(3));
    check(&r);
    assert!(String::from_utf8(r.state_payload())
        .expect("UTF-8")
        .ends_with(r#""a":3,"b":2}"#));
    let mut t = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), at());
    t.push_number(key("x"), Decimal::from_int(1));
    t.push(key("time"), Value::Text("later".into()));
    check(&t);
    // Keys that share length and ending but differ earlier are not taken for one.
    let mut s = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), at());
    s.push_number(key("import_power_l1"), Decimal::from_int(1));
    s.push_number(key("export_power_l1"), Decimal::from_int(2));
    check(&s);
    assert!(!s.has_duplicate_keys());
    // More values than the stack array: the general path.
    let mut many = Reading::new(MeterInfo::new("E1", MeterKind::Electricity), at());
    for i in 0..(FAST_VALUES + 5) {
        many.push_number(key(&format!("k{}", i % 50)), Decimal::from_int(i as i64));
    }
    check(&many);
}
