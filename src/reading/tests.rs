use super::*;

#[test]
fn state_json_keeps_digits_and_order() {
    let mut r = Reading::new(
        MeterInfo::new("E0043", MeterKind::Electricity),
        Timestamp::new(2024, 1, 2, 3, 4, 5, 60).unwrap(),
    );
    r.push_number(q::ENERGY_IMPORT_T1, Decimal::parse("63.44").unwrap());
    r.push(q::TARIFF, Value::Number(Decimal::from_int(2)));
    let s = serde_json::to_string(&r.state_json()).unwrap();
    assert_eq!(
        s,
        r#"{"time":"2024-01-02T03:04:05+01:00","energy_import_t1":63.44,"tariff":2}"#
    );
}

#[test]
fn ids_are_topic_safe() {
    assert_eq!(sanitize_id("a/b+c#d e"), "a_b_c_d_e");
    assert_eq!(sanitize_id("  "), "unknown");
}
