//! Home Assistant MQTT discovery, one retained config per entity
//! (`<prefix>/sensor/<node_id>/<object_id>/config`). This form works in every HA since 2023.9
//! and is the only one Domoticz's MQTTAutoDiscover reads (`shared/notes/home-assistant.md`);
//! device-based discovery (HA 2024.11+) is deliberately not used.

use serde_json::{json, Map, Value};

use super::topics;
use crate::reading::{q, Class, MeterInfo, MeterKind, Quantity, Unit};

pub use crate::naming::{InputNames, Naming};

/// Where discovery points entities at.
#[derive(Debug, Clone)]
pub struct DiscoveryContext<'a> {
    pub prefix: &'a str,
    pub base: &'a str,
    /// How devices are named (the configured inputs).
    pub naming: &'a Naming,
}

/// HA's `device_class` and `state_class` for a quantity, or `None` where HA has no class or
/// the unit is not one HA accepts for it (HA 2025.10+ rejects wrong pairs; tables in HA's
/// `homeassistant/components/sensor/const.py` `DEVICE_CLASS_UNITS` / `DEVICE_CLASS_STATE_CLASSES`).
/// Every pair is checked against those tables as they are in the oldest HA we support, 2024.3
/// (`tests::every_pair_is_valid_in_home_assistant_2024_3`).
pub fn classes(q: &Quantity) -> (Option<&'static str>, Option<&'static str>) {
    let u = q.unit;
    let device_class = match q.class {
        Class::Energy if matches!(u, Unit::Wh | Unit::KWh | Unit::MWh | Unit::GJ | Unit::MJ) => {
            Some("energy")
        }
        Class::Gas if u == Unit::CubicMeter => Some("gas"),
        Class::Water if matches!(u, Unit::CubicMeter | Unit::Liter) => Some("water"),
        Class::Volume if matches!(u, Unit::CubicMeter | Unit::Liter) => Some("volume"),
        // No `reactive_energy` (HA 2024.3 has no such device class and would reject the
        // entity), no `MW` power and no `kvar` (2024.3 takes W/kW and var only).
        Class::Power if matches!(u, Unit::W | Unit::KW) => Some("power"),
        Class::ReactivePower if u == Unit::Var => Some("reactive_power"),
        Class::ApparentPower if u == Unit::VA => Some("apparent_power"),
        Class::Voltage if u == Unit::V => Some("voltage"),
        Class::Current if u == Unit::A => Some("current"),
        Class::Frequency if u == Unit::Hz => Some("frequency"),
        Class::PowerFactor if matches!(u, Unit::None | Unit::Percent) => Some("power_factor"),
        Class::Temperature if matches!(u, Unit::Celsius | Unit::Kelvin) => Some("temperature"),
        // L/h only from HA 2025.5 (issue 12 §2): inputs publish flow in m³/h.
        Class::Flow if u == Unit::CubicMeterPerHour => Some("volume_flow_rate"),
        Class::Pressure if u == Unit::Bar => Some("pressure"),
        Class::Duration | Class::TimeSpan if matches!(u, Unit::Hour | Unit::Second) => {
            Some("duration")
        }
        Class::Timestamp if u == Unit::None => Some("timestamp"),
        // HA's enum sensor takes no unit and no state_class (`sensor/__init__.py`).
        Class::Enumeration if !q.options.is_empty() && u == Unit::None => Some("enum"),
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
        | Class::TimeSpan
        | Class::Measurement => Some("measurement"),
        _ => None,
    };
    (device_class, state_class)
}

/// The `device` block shared by all entities of a meter. HA groups entities by `identifiers`;
/// Domoticz pairs a kWh counter with the W sensor of the same device. The name carries no
/// serial number (that is `serial_number`), so entity ids read `sensor.gas_meter`
/// ([`Naming`]); `sw_version` is the meter's firmware where it reports one, and the protocol
/// the bridge reads it with goes into `hw_version` (HA shows it as "Hardware: DSMR 5.0").
pub fn device(ctx: &DiscoveryContext<'_>, input: &str, meter: &MeterInfo) -> Value {
    let mut d = Map::new();
    d.insert(
        "identifiers".into(),
        json!([topics::node_id(ctx.base, &meter.id)]),
    );
    d.insert("name".into(), json!(ctx.naming.device_name(input, meter)));
    if let Some(m) = &meter.manufacturer {
        d.insert("manufacturer".into(), json!(m));
    }
    if let Some(m) = &meter.model {
        d.insert("model".into(), json!(m));
    }
    if let Some(s) = &meter.serial {
        d.insert("serial_number".into(), json!(s));
    }
    if let Some(f) = &meter.firmware {
        d.insert("sw_version".into(), json!(f));
    }
    if let Some(p) = &meter.protocol {
        d.insert("hw_version".into(), json!(p));
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

/// Whether `q` is what a sub-meter of this kind is (a gas meter's `gas`): HA then names the
/// entity after the device alone ("Gas meter", not "Gas meter Gas"; an entity whose `name` is
/// null takes the device's name, HA MQTT docs "Naming of MQTT Entities").
fn is_main_quantity(meter: &MeterInfo, q: &Quantity) -> bool {
    let main = match meter.kind {
        MeterKind::Gas => &q::GAS,
        MeterKind::Water => &q::WATER,
        MeterKind::Heat => &q::HEAT_ENERGY_GJ,
        _ => return false,
    };
    meter.parent.is_some() && q.key == main.key
}

/// `{% if value_json.tariff == 1 %}low{% elif value_json.tariff == 2 %}normal{% else %}None{% endif %}`:
/// the state payload keeps the meter's number (the public contract Node-RED flows and the
/// corpus tests read), HA shows the option's name. A number without a name renders `None`,
/// which HA's MQTT sensor takes as "no value" (`PAYLOAD_NONE`), so the entity never shows a
/// state outside its options. The `if … endif` form and not a dict lookup because Domoticz
/// reads the key out of an `endif` template (`MQTTAutoDiscover.cpp` `CleanValueTemplate`:
/// from `value_json.` to the next space) and so keeps showing the number.
fn enum_template(q: &Quantity) -> String {
    let mut t = String::new();
    for (i, (v, name)) in q.options.iter().enumerate() {
        let kw = if i == 0 { "if" } else { "elif" };
        t.push_str(&format!("{{% {kw} value_json.{} == {v} %}}{name}", q.key));
    }
    t.push_str("{% else %}None{% endif %}");
    t
}

/// The discovery topic and retained payload for one quantity of one meter read by `input`.
pub fn entity(
    ctx: &DiscoveryContext<'_>,
    input: &str,
    meter: &MeterInfo,
    q: &Quantity,
) -> (String, Value) {
    let node = topics::node_id(ctx.base, &meter.id);
    let topic = topics::discovery(ctx.prefix, &node, &q.key);
    let mut c = Map::new();
    if is_main_quantity(meter, q) {
        c.insert("name".into(), Value::Null);
    } else {
        c.insert("name".into(), json!(q.name));
    }
    c.insert(
        "unique_id".into(),
        json!(format!("{node}_{}", unique_suffix(&q.key))),
    );
    c.insert(
        "state_topic".into(),
        json!(topics::state(ctx.base, &meter.id)),
    );
    let (device_class, state_class) = classes(q);
    if device_class == Some("enum") {
        c.insert("value_template".into(), json!(enum_template(q)));
        let names: Vec<&str> = q.options.iter().map(|(_, name)| *name).collect();
        c.insert("options".into(), json!(names));
    } else {
        // Domoticz understands only this plain form (MQTTAutoDiscover.cpp).
        c.insert(
            "value_template".into(),
            json!(format!("{{{{ value_json.{} }}}}", q.key)),
        );
    }
    if q.unit != Unit::None {
        c.insert("unit_of_measurement".into(), json!(q.unit.as_str()));
    }
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
    c.insert("device".into(), device(ctx, input, meter));
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
mod tests;
