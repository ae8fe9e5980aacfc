use super::*;
use crate::reading::{q, QuantityDef};
use serde_json::json;

#[test]
fn energy_dashboard_pairs() {
    assert_eq!(
        classes(&q::ENERGY_IMPORT_T1),
        (Some("energy"), Some("total_increasing"))
    );
    assert_eq!(classes(&q::GAS), (Some("gas"), Some("total_increasing")));
    assert_eq!(
        classes(&q::WATER),
        (Some("water"), Some("total_increasing"))
    );
    assert_eq!(
        classes(&q::POWER_IMPORT),
        (Some("power"), Some("measurement"))
    );
    // Computed import minus export (issue 15): a signed measurement, never a counter.
    let net = &crate::protocol::dsmr::quantities::POWER_NET;
    assert_eq!(classes(net), (Some("power"), Some("measurement")));
    assert_eq!(net.unit, Unit::W);
    assert_eq!(classes(&q::TARIFF), (Some("enum"), None));
    let gcal = Quantity::shared(QuantityDef::new(
        "heat_energy",
        "Heat",
        Unit::Gcal,
        Class::Energy,
    ));
    assert_eq!(classes(&gcal), (None, Some("total_increasing")));
}

/// Domoticz pairs a kWh counter with the W entity whose unique_id shares the longest prefix.
#[test]
fn domoticz_pairs_each_counter_with_its_direction() {
    let ids = |q: &Quantity| format!("n_{}", unique_suffix(&q.key));
    let watts = [
        &q::POWER_IMPORT,
        &q::POWER_EXPORT,
        &q::POWER_IMPORT_L1,
        &q::POWER_EXPORT_L2,
        // The computed net power must not take a counter's usage field from its direction.
        &crate::protocol::dsmr::quantities::POWER_NET,
    ];
    let common = |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    for (kwh, want) in [
        (&q::ENERGY_IMPORT_T1, &q::POWER_IMPORT),
        (&q::ENERGY_IMPORT_TOTAL, &q::POWER_IMPORT),
        (&q::ENERGY_EXPORT_T2, &q::POWER_EXPORT),
    ] {
        let k = ids(kwh);
        let best = watts
            .iter()
            .max_by_key(|w| common(&k, &ids(w)))
            .map(|w| w.key.clone());
        assert_eq!(best, Some(want.key.clone()), "{k}");
        let runner_up = watts
            .iter()
            .filter(|w| w.key != want.key)
            .map(|w| common(&k, &ids(w)))
            .max();
        assert!(runner_up < Some(common(&k, &ids(want))), "tie for {k}");
    }
}

#[test]
fn entity_payload() {
    let naming = Naming::default();
    let ctx = DiscoveryContext {
        prefix: "homeassistant",
        base: "meter2mqtt",
        naming: &naming,
    };
    let mut gas = MeterInfo::new("G1", MeterKind::Gas);
    gas.parent = Some("E1".into());
    let (topic, v) = entity(&ctx, "p1", &gas, &q::GAS);
    assert_eq!(topic, "homeassistant/sensor/meter2mqtt_G1/gas/config");
    assert_eq!(v["unique_id"], "meter2mqtt_G1_gas");
    assert_eq!(v["icon"], "mdi:meter-gas");
    assert_eq!(v["unit_of_measurement"], "m³");
    assert_eq!(v["value_template"], "{{ value_json.gas }}");
    assert_eq!(v["device"]["via_device"], "meter2mqtt_E1");
    assert_eq!(v["availability_mode"], "all");
    assert_eq!(v["availability"][1]["topic"], "meter2mqtt/G1/availability");
    assert_eq!(owned_meter("meter2mqtt", &v), Some("G1".into()));
    assert_eq!(owned_meter("meter2mqtt/garage", &v), None);
    assert_eq!(owned_meter("meter2", &v), None);
    let (_, v) = entity(&ctx, "p1", &gas, &q::VOLTAGE_L2);
    assert_eq!(v["entity_category"], "diagnostic");
    assert_eq!(v["enabled_by_default"], false);
}

/// Home Assistant 2024.3's `homeassistant/components/sensor/const.py`, the oldest HA we
/// support: `DEVICE_CLASS_UNITS` and `DEVICE_CLASS_STATE_CLASSES` for every device class
/// [`classes`] can name, read from the e2e harness's venv
/// (`/tmp/ha-e2e-venv-2024.3.3/lib/python3.11/site-packages/homeassistant/components/sensor/const.py`,
/// lines 510-649, with the `UnitOf*` values of `homeassistant/const.py`). `None` in a unit list
/// is "no unit"; `reactive_energy` is no device class at all in 2024.3. A table here and not an
/// import: the test must not need Home Assistant.
/// One row: device class, the units it takes, the state classes it takes.
type HaRow = (
    &'static str,
    &'static [Option<&'static str>],
    &'static [&'static str],
);

const HA_2024_3: &[HaRow] = &[
    (
        "energy",
        &[Some("GJ"), Some("MJ"), Some("MWh"), Some("Wh"), Some("kWh")],
        &["total", "total_increasing"],
    ),
    (
        "gas",
        &[Some("CCF"), Some("ft³"), Some("m³")],
        &["total", "total_increasing"],
    ),
    (
        "water",
        &[Some("CCF"), Some("L"), Some("ft³"), Some("gal"), Some("m³")],
        &["total", "total_increasing"],
    ),
    (
        "volume",
        &[
            Some("CCF"),
            Some("L"),
            Some("fl. oz."),
            Some("ft³"),
            Some("gal"),
            Some("mL"),
            Some("m³"),
        ],
        &["total", "total_increasing"],
    ),
    ("power", &[Some("W"), Some("kW")], &["measurement"]),
    ("apparent_power", &[Some("VA")], &["measurement"]),
    ("reactive_power", &[Some("var")], &["measurement"]),
    ("voltage", &[Some("V"), Some("mV")], &["measurement"]),
    ("current", &[Some("A"), Some("mA")], &["measurement"]),
    (
        "frequency",
        &[Some("GHz"), Some("Hz"), Some("MHz"), Some("kHz")],
        &["measurement"],
    ),
    ("power_factor", &[Some("%"), None], &["measurement"]),
    (
        "temperature",
        &[Some("K"), Some("°C"), Some("°F")],
        &["measurement"],
    ),
    (
        "volume_flow_rate",
        &[
            Some("L/min"),
            Some("ft³/min"),
            Some("gal/min"),
            Some("m³/h"),
        ],
        &["measurement"],
    ),
    (
        "pressure",
        &[
            Some("Pa"),
            Some("bar"),
            Some("cbar"),
            Some("hPa"),
            Some("inHg"),
            Some("kPa"),
            Some("mbar"),
            Some("mmHg"),
            Some("psi"),
        ],
        &["measurement"],
    ),
    (
        "duration",
        &[Some("d"), Some("h"), Some("min"), Some("ms"), Some("s")],
        &["measurement", "total", "total_increasing"],
    ),
    // Timestamp and enum: no unit and no state class (`DEVICE_CLASS_STATE_CLASSES`: set()).
    ("timestamp", &[None], &[]),
    ("enum", &[None], &[]),
];

/// Every (class, unit) pair a quantity can have gives a device class HA 2024.3 knows, a unit
/// that class accepts and a state class it allows (issue 12 §2: `L/h` with
/// `volume_flow_rate` made HA warn; so did every pair this test now keeps out). Quantities get
/// their unit from the meter (KMP, IEC), so every pair is checked, not only the defined ones.
#[test]
fn every_pair_is_valid_in_home_assistant_2024_3() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for &class in Class::ALL {
        for &unit in Unit::ALL {
            let mut def = QuantityDef::new("k", "K", unit, class);
            if class == Class::Enumeration {
                def = def.options(&[(1, "one")]);
            }
            let q = Quantity::shared(def);
            let (dc, sc) = classes(&q);
            let Some(dc) = dc else { continue };
            checked += 1;
            let Some((_, units, states)) = HA_2024_3.iter().find(|(d, _, _)| *d == dc) else {
                bad.push(format!(
                    "{class:?} {unit:?}: no device class {dc} in HA 2024.3"
                ));
                continue;
            };
            let u = (unit != Unit::None).then(|| unit.as_str());
            if !units.contains(&u) {
                bad.push(format!("{class:?}: {dc} does not take {u:?}"));
            }
            match sc {
                Some(sc) if !states.contains(&sc) => {
                    bad.push(format!("{class:?} {unit:?}: {dc} does not take {sc}"))
                }
                None if dc != "timestamp" && dc != "enum" => {
                    bad.push(format!("{class:?} {unit:?}: {dc} without a state class"))
                }
                _ => {}
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(checked > 20, "{checked}");
}

/// Adding a unit or a class without listing it in `ALL` fails to compile here, so the test
/// above cannot miss one.
#[test]
fn every_unit_and_class_is_listed() {
    fn unit_index(u: Unit) -> usize {
        match u {
            Unit::None | Unit::Wh | Unit::KWh | Unit::MWh | Unit::GJ | Unit::MJ | Unit::Gcal => 0,
            Unit::W | Unit::KW | Unit::MW | Unit::Varh | Unit::Kvarh | Unit::Var | Unit::Kvar => 0,
            Unit::VA | Unit::KVA | Unit::V | Unit::A | Unit::Hz | Unit::CubicMeter => 0,
            Unit::Liter | Unit::CubicMeterPerHour | Unit::LiterPerHour | Unit::Celsius => 0,
            Unit::Kelvin | Unit::Hour | Unit::Second | Unit::Bar | Unit::Tonne => 0,
            Unit::TonnePerHour | Unit::CubicMeterCelsius | Unit::Percent => 0,
        }
    }
    fn class_index(c: Class) -> usize {
        match c {
            Class::Energy | Class::Gas | Class::Water | Class::Volume | Class::ReactiveEnergy => 0,
            Class::Power | Class::ReactivePower | Class::ApparentPower | Class::Voltage => 0,
            Class::Current | Class::Frequency | Class::PowerFactor | Class::Temperature => 0,
            Class::TemperatureDifference | Class::Flow | Class::Pressure | Class::Duration => 0,
            Class::TimeSpan | Class::Count | Class::Enumeration | Class::Text => 0,
            Class::Timestamp | Class::Measurement => 0,
        }
    }
    assert_eq!(Unit::ALL.len(), 32);
    assert_eq!(Class::ALL.len(), 23);
    let distinct = |n: usize, eq: &dyn Fn(usize, usize) -> bool| {
        (0..n).all(|i| (0..n).all(|j| i == j || !eq(i, j)))
    };
    assert!(distinct(Unit::ALL.len(), &|i, j| Unit::ALL[i] == Unit::ALL[j]));
    assert!(distinct(Class::ALL.len(), &|i, j| Class::ALL[i] == Class::ALL[j]));
    let _ = Unit::ALL.iter().map(|u| unit_index(*u)).sum::<usize>();
    let _ = Class::ALL.iter().map(|c| class_index(*c)).sum::<usize>();
}

/// Flow is published in m³/h by every input (issue 12 §2): 245 l/h is 0.245 m³/h.
#[test]
fn flow_is_a_volume_flow_rate_in_cubic_meters_per_hour() {
    use crate::reading::heat;
    for q in [&heat::FLOW, &heat::FLOW_V2, &heat::PEAK_FLOW] {
        assert_eq!(q.unit, Unit::CubicMeterPerHour, "{}", q.key);
        assert_eq!(classes(q), (Some("volume_flow_rate"), Some("measurement")));
    }
    let lph = Quantity::shared(QuantityDef::new("f", "F", Unit::LiterPerHour, Class::Flow));
    assert_eq!(classes(&lph), (None, Some("measurement")));
}

fn ctx_entity(naming: &Naming, input: &str, meter: &MeterInfo, q: &Quantity) -> Value {
    let ctx = DiscoveryContext {
        prefix: "homeassistant",
        base: "meter2mqtt",
        naming,
    };
    entity(&ctx, input, meter, q).1
}

/// Issue 12 §3: no serial in device names (it is `serial_number`), the gas meter's gas is
/// named after the device, firmware in `sw_version`, the protocol in `hw_version`.
#[test]
fn device_and_entity_names() {
    let naming = Naming::default();
    let mut e = MeterInfo::new("E0043007052870319", MeterKind::Electricity);
    e.serial = Some("E0043007052870319".into());
    e.protocol = Some("DSMR 5.0".into());
    let v = ctx_entity(&naming, "p1", &e, &q::ENERGY_IMPORT_T1);
    assert_eq!(v["device"]["name"], "Electricity meter");
    assert_eq!(v["device"]["serial_number"], "E0043007052870319");
    assert_eq!(v["device"]["hw_version"], "DSMR 5.0");
    assert!(v["device"].get("sw_version").is_none(), "{v}");
    assert_eq!(v["name"], "Energy import tariff 1");
    let mut g = MeterInfo::new("G001", MeterKind::Gas);
    g.parent = Some(e.id.clone());
    g.model = Some("M-Bus gas meter".into());
    let v = ctx_entity(&naming, "p1", &g, &q::GAS);
    assert_eq!(v["device"]["name"], "Gas meter");
    assert_eq!(v["device"]["model"], "M-Bus gas meter");
    assert!(v["name"].is_null(), "{v}");
    // A heat meter on its own input is not a sub-meter: its entities keep their names.
    let mut h = MeterInfo::new("kamstrup_1", MeterKind::Heat);
    h.firmware = Some("F1".into());
    h.protocol = Some("KMP".into());
    let v = ctx_entity(&naming, "kmp", &h, &q::HEAT_ENERGY_GJ);
    assert_eq!(v["name"], "Heat energy");
    assert_eq!(v["device"]["sw_version"], "F1");
    assert_eq!(v["device"]["hw_version"], "KMP");
}

/// Issue 12 §3: tariff, breaker and valve are enums with the spec's names; the state payload
/// keeps the meter's number, the template maps it, and a number without a name renders `None`
/// (HA's "no value"), never a state outside the options.
#[test]
fn enumerations_have_named_options() {
    use crate::protocol::dsmr::quantities as dq;
    let naming = Naming::default();
    let e = MeterInfo::new("E1", MeterKind::Electricity);
    let v = ctx_entity(&naming, "p1", &e, &q::TARIFF);
    assert_eq!(v["device_class"], "enum");
    assert_eq!(v["options"], json!(["low", "normal"]));
    assert_eq!(
        v["value_template"],
        "{% if value_json.tariff == 1 %}low{% elif value_json.tariff == 2 %}normal{% else %}None{% endif %}"
    );
    assert!(v.get("unit_of_measurement").is_none() && v.get("state_class").is_none());
    // What Domoticz's CleanValueTemplate (MQTTAutoDiscover.cpp) makes of it: strip `{}'"`,
    // then, for an `endif` template, from `value_json.` to the next space: the plain key.
    let t = v["value_template"]
        .as_str()
        .unwrap()
        .replace(['{', '}', '\'', '"'], "");
    assert!(t.contains("endif"));
    let from = &t[t.find("value_json.").unwrap()..];
    assert_eq!(&from[..from.find(' ').unwrap()], "value_json.tariff");
    let be = ctx_entity(&naming, "p1", &e, &dq::TARIFF_EMUCS);
    assert_eq!(
        be["value_template"],
        "{% if value_json.tariff == 1 %}normal{% elif value_json.tariff == 2 %}low{% else %}None{% endif %}"
    );
    for q in [&dq::BREAKER_STATE, &dq::VALVE_POSITION] {
        let v = ctx_entity(&naming, "p1", &e, q);
        assert_eq!(
            v["options"],
            json!(["disconnected", "connected", "ready_for_reconnection"])
        );
    }
    // An enumeration without names (KMP info code) stays a plain number.
    let info = Quantity::shared(QuantityDef::new(
        "info_code",
        "Info",
        Unit::None,
        Class::Enumeration,
    ));
    assert_eq!(classes(&info), (None, None));
}

/// `last_power_failure_duration` is a duration (issue 12 §2), not a counter.
#[test]
fn last_power_failure_duration_is_a_duration() {
    use crate::protocol::dsmr::quantities as dq;
    assert_eq!(
        classes(&dq::LAST_POWER_FAILURE_DURATION),
        (Some("duration"), Some("measurement"))
    );
    assert!(!dq::LAST_POWER_FAILURE_DURATION.class.is_counter());
}
