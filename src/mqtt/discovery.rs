//! Home Assistant MQTT discovery, one retained config per entity
//! (`<prefix>/sensor/<node_id>/<object_id>/config`). This form works in every HA since 2023.9
//! and is the only one Domoticz's MQTTAutoDiscover reads (`shared/notes/home-assistant.md`);
//! device-based discovery (HA 2024.11+) is deliberately not used.

use serde_json::{json, Map, Value};

use super::topics;
use crate::reading::{Class, MeterInfo, MeterKind, Quantity, Unit};

/// Where discovery points entities at.
#[derive(Debug, Clone)]
pub struct DiscoveryContext<'a> {
    pub prefix: &'a str,
    pub base: &'a str,
}

/// HA's `device_class` and `state_class` for a quantity, or `None` where HA has no class or
/// the unit is not one HA accepts for it (HA 2025.10+ rejects wrong pairs; tables in HA's
/// `homeassistant/components/sensor/const.py` `DEVICE_CLASS_UNITS` / `DEVICE_CLASS_STATE_CLASSES`).
pub fn classes(q: &Quantity) -> (Option<&'static str>, Option<&'static str>) {
    let u = q.unit;
    let device_class = match q.class {
        Class::Energy if matches!(u, Unit::Wh | Unit::KWh | Unit::MWh | Unit::GJ | Unit::MJ) => {
            Some("energy")
        }
        Class::Gas if u == Unit::CubicMeter => Some("gas"),
        Class::Water if matches!(u, Unit::CubicMeter | Unit::Liter) => Some("water"),
        Class::Volume if matches!(u, Unit::CubicMeter | Unit::Liter) => Some("volume"),
        Class::ReactiveEnergy if matches!(u, Unit::Varh | Unit::Kvarh) => Some("reactive_energy"),
        Class::Power if matches!(u, Unit::W | Unit::KW | Unit::MW) => Some("power"),
        Class::ReactivePower if matches!(u, Unit::Var | Unit::Kvar) => Some("reactive_power"),
        Class::ApparentPower if u == Unit::VA => Some("apparent_power"),
        Class::Voltage if u == Unit::V => Some("voltage"),
        Class::Current if u == Unit::A => Some("current"),
        Class::Frequency if u == Unit::Hz => Some("frequency"),
        Class::PowerFactor if matches!(u, Unit::None | Unit::Percent) => Some("power_factor"),
        Class::Temperature if matches!(u, Unit::Celsius | Unit::Kelvin) => Some("temperature"),
        Class::Flow if matches!(u, Unit::CubicMeterPerHour | Unit::LiterPerHour) => {
            Some("volume_flow_rate")
        }
        Class::Pressure if u == Unit::Bar => Some("pressure"),
        Class::Duration if matches!(u, Unit::Hour | Unit::Second) => Some("duration"),
        Class::Timestamp => Some("timestamp"),
        _ => None,
    };
    let state_class = match q.class {
        c if c.is_counter() => Some("total_increasing"),
        Class::Power
        | Class::ReactivePower
        | Class::ApparentPower
        | Class::Voltage
        | Class::Current
        | Class::Frequency
        | Class::PowerFactor
        | Class::Temperature
        | Class::TemperatureDifference
        | Class::Flow
        | Class::Pressure
        | Class::Measurement => Some("measurement"),
        _ => None,
    };
    (device_class, state_class)
}

fn device_name(meter: &MeterInfo) -> String {
    let kind = match meter.kind {
        MeterKind::Electricity => "Electricity meter",
        MeterKind::Gas => "Gas meter",
        MeterKind::Water => "Water meter",
        MeterKind::Heat => "Heat meter",
        MeterKind::Cooling => "Cooling meter",
        MeterKind::Other(_) => "Meter",
    };
    format!("{kind} {}", meter.serial.as_deref().unwrap_or(&meter.id))
}

/// The `device` block shared by all entities of a meter. HA groups entities by `identifiers`;
/// Domoticz pairs a kWh counter with the W sensor of the same device.
pub fn device(ctx: &DiscoveryContext<'_>, meter: &MeterInfo) -> Value {
    let mut d = Map::new();
    d.insert(
        "identifiers".into(),
        json!([topics::node_id(ctx.base, &meter.id)]),
    );
    d.insert("name".into(), json!(device_name(meter)));
    if let Some(m) = &meter.manufacturer {
        d.insert("manufacturer".into(), json!(m));
    }
    if let Some(m) = &meter.model {
        d.insert("model".into(), json!(m));
    }
    if let Some(s) = &meter.serial {
        d.insert("serial_number".into(), json!(s));
    }
    if let Some(p) = &meter.protocol {
        d.insert("sw_version".into(), json!(p));
    }
    if let Some(parent) = &meter.parent {
        d.insert(
            "via_device".into(),
            json!(topics::node_id(ctx.base, parent)),
        );
    }
    Value::Object(d)
}

/// The `unique_id` suffix for a quantity. Domoticz fills a kWh counter's usage from the W
/// entity of the same device whose `unique_id` shares the longest prefix with it
/// (`MQTTAutoDiscover.cpp`), so the direction comes first for the totals: `import_energy_t1`
/// pairs with `import_power`, `export_energy_t1` with `export_power`. Per-phase powers keep
/// `power_` first so they never win that match. HA only needs the id to be stable.
fn unique_suffix(key: &str) -> String {
    for dir in ["import", "export"] {
        if let Some(rest) = key.strip_prefix(&format!("energy_{dir}")) {
            return format!("{dir}_energy{rest}");
        }
        if key == format!("power_{dir}") {
            return format!("{dir}_power");
        }
    }
    key.to_string()
}

/// Domoticz chooses its m³ device type from the icon, not the device class
/// (`MQTTAutoDiscover.cpp`: an icon containing `gas` gives a P1 Gas device, `water` a water
/// meter); HA shows the same icons for these classes anyway.
fn icon(q: &Quantity) -> Option<&'static str> {
    match q.class {
        Class::Gas => Some("mdi:meter-gas"),
        Class::Water => Some("mdi:water"),
        _ => None,
    }
}

/// The discovery topic and retained payload for one quantity of one meter.
pub fn entity(ctx: &DiscoveryContext<'_>, meter: &MeterInfo, q: &Quantity) -> (String, Value) {
    let node = topics::node_id(ctx.base, &meter.id);
    let topic = topics::discovery(ctx.prefix, &node, &q.key);
    let mut c = Map::new();
    c.insert("name".into(), json!(q.name));
    c.insert(
        "unique_id".into(),
        json!(format!("{node}_{}", unique_suffix(&q.key))),
    );
    c.insert(
        "state_topic".into(),
        json!(topics::state(ctx.base, &meter.id)),
    );
    // Domoticz understands only this plain form (MQTTAutoDiscover.cpp).
    c.insert(
        "value_template".into(),
        json!(format!("{{{{ value_json.{} }}}}", q.key)),
    );
    if q.unit != Unit::None {
        c.insert("unit_of_measurement".into(), json!(q.unit.as_str()));
    }
    let (device_class, state_class) = classes(q);
    if let Some(dc) = device_class {
        c.insert("device_class".into(), json!(dc));
    }
    if let Some(sc) = state_class {
        c.insert("state_class".into(), json!(sc));
    }
    if let Some(i) = icon(q) {
        c.insert("icon".into(), json!(i));
    }
    if q.diagnostic {
        c.insert("entity_category".into(), json!("diagnostic"));
    }
    if !q.enabled_by_default {
        c.insert("enabled_by_default".into(), json!(false));
    }
    c.insert(
        "availability".into(),
        json!([
            {"topic": topics::status(ctx.base)},
            {"topic": topics::availability(ctx.base, &meter.id)}
        ]),
    );
    c.insert("availability_mode".into(), json!("all"));
    c.insert("device".into(), device(ctx, meter));
    c.insert(
        "origin".into(),
        json!({
            "name": "meter2mqtt",
            "sw_version": env!("CARGO_PKG_VERSION"),
            "support_url": env!("CARGO_PKG_REPOSITORY"),
        }),
    );
    (topic, Value::Object(c))
}

/// Whose entity a retained discovery config is: the meter id if it names exactly this
/// bridge's `<base>/status` among its availability topics (as [`entity`] writes it) and its
/// state topic is `<base>/<meter>/state`; `None` for anybody else's, including another
/// bridge whose base merely starts with ours (`m2m` vs `m2m/garage` or `m2m2`, issue 18 §4).
pub fn owned_meter(base: &str, config: &Value) -> Option<String> {
    let status = topics::status(base);
    let names_us = config
        .get("availability")?
        .as_array()?
        .iter()
        .any(|a| a.get("topic").and_then(Value::as_str) == Some(status.as_str()));
    let state_topic = config.get("state_topic")?.as_str()?;
    let meter = topics::parse_state(base, state_topic)?;
    names_us.then(|| meter.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::{q, QuantityDef};

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
        assert_eq!(classes(&q::TARIFF), (None, None));
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
        ];
        let common =
            |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
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
        let ctx = DiscoveryContext {
            prefix: "homeassistant",
            base: "meter2mqtt",
        };
        let mut gas = MeterInfo::new("G1", MeterKind::Gas);
        gas.parent = Some("E1".into());
        let (topic, v) = entity(&ctx, &gas, &q::GAS);
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
        let (_, v) = entity(&ctx, &gas, &q::VOLTAGE_L2);
        assert_eq!(v["entity_category"], "diagnostic");
        assert_eq!(v["enabled_by_default"], false);
    }
}
