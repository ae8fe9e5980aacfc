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

/// Where a definition lives does not matter: a run-time copy of a fixed quantity is the same
/// quantity (HA discovery and the publisher compare and hash them).
#[test]
fn quantities_compare_by_definition() {
    use std::collections::HashSet;
    let shared = Quantity::shared(QuantityDef::clone(&q::ENERGY_IMPORT_T1));
    assert!(matches!(shared, Quantity::Shared(_)));
    assert_eq!(shared, q::ENERGY_IMPORT_T1);
    assert_ne!(shared, q::ENERGY_IMPORT_T2);
    let set: HashSet<Quantity> = [q::ENERGY_IMPORT_T1, shared].into_iter().collect();
    assert_eq!(set.len(), 1);
}

#[test]
fn with_unit_changes_only_the_unit() {
    let gj = crate::reading::heat::heat_energy(Unit::GJ);
    let mwh = gj.with_unit(Unit::MWh);
    assert_eq!(mwh.unit, Unit::MWh);
    assert_eq!(
        (mwh.key.as_ref(), mwh.class),
        ("heat_energy", Class::Energy)
    );
    assert_ne!(mwh, gj);
    assert!(matches!(
        q::GAS.with_unit(Unit::CubicMeter),
        Quantity::Static(_)
    ));
}

/// A value is built, copied and dropped ~30 times per P1 telegram: the quantity is a pointer
/// so that a value stays 40 bytes (docs/benchmarks.md, "DSMR core").
#[test]
fn a_measurement_stays_small() {
    assert_eq!(std::mem::size_of::<Quantity>(), 16);
    assert!(std::mem::size_of::<Measurement>() <= 40);
}
