//! The normalised reading model every input produces and the MQTT side consumes.
//!
//! Data flows one way: protocol cores turn bytes into [`Reading`]s, the MQTT layer turns
//! readings into messages. A reading belongs to one meter ([`MeterInfo`]); an M-Bus sub-meter
//! read through an electricity meter is a meter of its own whose `parent` names that meter.
//!
//! Each [`Quantity`] has one fixed [`Unit`]: Home Assistant breaks long-term statistics when
//! an entity's unit changes, so converters (kW → W, Wh → kWh) run in the protocol layer and a
//! quantity name never appears with two units.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::decimal::Decimal;
use crate::time::Timestamp;

pub mod heat;

/// Units, spelled exactly as Home Assistant expects them (`m³`, `°C` with Unicode characters;
/// see HA's `homeassistant.const.UnitOf*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    None,
    Wh,
    KWh,
    MWh,
    GJ,
    MJ,
    Gcal,
    W,
    KW,
    MW,
    Varh,
    Kvarh,
    Var,
    Kvar,
    VA,
    KVA,
    V,
    A,
    Hz,
    CubicMeter,
    Liter,
    CubicMeterPerHour,
    LiterPerHour,
    Celsius,
    Kelvin,
    Hour,
    Second,
    Bar,
    Tonne,
    TonnePerHour,
    /// m³ × °C, the "volume × temperature" registers of Kamstrup heat meters.
    CubicMeterCelsius,
    Percent,
}

impl Unit {
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Wh => "Wh",
            Unit::KWh => "kWh",
            Unit::MWh => "MWh",
            Unit::GJ => "GJ",
            Unit::MJ => "MJ",
            Unit::Gcal => "Gcal",
            Unit::W => "W",
            Unit::KW => "kW",
            Unit::MW => "MW",
            Unit::Varh => "varh",
            Unit::Kvarh => "kvarh",
            Unit::Var => "var",
            Unit::Kvar => "kvar",
            Unit::VA => "VA",
            Unit::KVA => "kVA",
            Unit::V => "V",
            Unit::A => "A",
            Unit::Hz => "Hz",
            Unit::CubicMeter => "m³",
            Unit::Liter => "L",
            Unit::CubicMeterPerHour => "m³/h",
            Unit::LiterPerHour => "L/h",
            Unit::Celsius => "°C",
            Unit::Kelvin => "K",
            Unit::Hour => "h",
            Unit::Second => "s",
            Unit::Bar => "bar",
            Unit::Tonne => "t",
            Unit::TonnePerHour => "t/h",
            Unit::CubicMeterCelsius => "m³·°C",
            Unit::Percent => "%",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a quantity measures. The MQTT layer derives Home Assistant's `device_class` and
/// `state_class` from this (see `mqtt::discovery`), so protocol code never names HA concepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// An energy counter (kWh, GJ, ...): only goes up.
    Energy,
    /// A gas volume counter.
    Gas,
    /// A water volume counter.
    Water,
    /// Any other volume or mass counter (heat meter V1, M1).
    Volume,
    /// Reactive energy counter (kvarh).
    ReactiveEnergy,
    Power,
    ReactivePower,
    ApparentPower,
    Voltage,
    Current,
    Frequency,
    PowerFactor,
    Temperature,
    /// A temperature difference (K): not a temperature, so no `device_class`.
    TemperatureDifference,
    Flow,
    Pressure,
    /// An hour counter: only goes up.
    Duration,
    /// An event counter (power failures, sags): only goes up.
    Count,
    /// A number that is neither a counter nor a physical measurement (tariff, info code).
    Enumeration,
    /// Free text (the meter's message).
    Text,
    /// A point in time (last failure, peak time).
    Timestamp,
    /// Any other measurement (a register the user listed by number).
    Measurement,
}

impl Class {
    /// Counters must never be published lower than before (HA treats a drop as a meter reset).
    pub const fn is_counter(self) -> bool {
        matches!(
            self,
            Class::Energy
                | Class::Gas
                | Class::Water
                | Class::Volume
                | Class::ReactiveEnergy
                | Class::Duration
                | Class::Count
        )
    }
}

/// A named quantity with its fixed unit and meaning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Quantity {
    /// The JSON key in the state payload and the discovery `object_id`: `[a-z0-9_]`.
    pub key: Cow<'static, str>,
    /// Human name shown by Home Assistant after the device name ("Energy import tariff 1").
    pub name: Cow<'static, str>,
    pub unit: Unit,
    pub class: Class,
    /// Home Assistant `entity_category: diagnostic` (voltages, failures, ids).
    pub diagnostic: bool,
    /// Noisy or rarely useful entities are created disabled (as HA's own DSMR integration does).
    pub enabled_by_default: bool,
}

impl Quantity {
    pub const fn new(key: &'static str, name: &'static str, unit: Unit, class: Class) -> Self {
        Quantity {
            key: Cow::Borrowed(key),
            name: Cow::Borrowed(name),
            unit,
            class,
            diagnostic: false,
            enabled_by_default: true,
        }
    }

    /// Marked `entity_category: diagnostic`.
    pub const fn diagnostic(mut self) -> Self {
        self.diagnostic = true;
        self
    }

    /// Created disabled in Home Assistant.
    pub const fn disabled(mut self) -> Self {
        self.enabled_by_default = false;
        self
    }

    /// A quantity whose key and name are only known at run time (user-listed registers).
    pub fn dynamic(key: String, name: String, unit: Unit, class: Class) -> Self {
        Quantity {
            key: Cow::Owned(key),
            name: Cow::Owned(name),
            unit,
            class,
            diagnostic: false,
            enabled_by_default: true,
        }
    }
}

/// The value of one quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Number(Decimal),
    Text(String),
    Time(Timestamp),
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Number(d) => d.serialize(s),
            Value::Text(t) => s.serialize_str(t),
            Value::Time(t) => t.serialize(s),
        }
    }
}

/// One quantity's value in a reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measurement {
    pub quantity: Quantity,
    pub value: Value,
}

/// What kind of meter this is; decides the device's name and icon downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterKind {
    Electricity,
    Gas,
    Water,
    /// Heat (district heating) meter.
    Heat,
    Cooling,
    /// An M-Bus device of a type we do not recognise: the raw EN 13757-3 device type.
    Other(u8),
}

impl MeterKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            MeterKind::Electricity => "electricity",
            MeterKind::Gas => "gas",
            MeterKind::Water => "water",
            MeterKind::Heat => "heat",
            MeterKind::Cooling => "cooling",
            MeterKind::Other(_) => "other",
        }
    }
}

/// Who produced a reading. `id` is stable across restarts (derived from the meter's own
/// serial number where it sends one) and safe as an MQTT topic level and HA `unique_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterInfo {
    pub id: String,
    pub kind: MeterKind,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Protocol and version, e.g. `DSMR 5.0`, `KMP`, `IEC 62056-21`.
    pub protocol: Option<String>,
    /// The `id` of the meter this one is read through (M-Bus sub-meter → P1 meter).
    pub parent: Option<String>,
}

impl MeterInfo {
    pub fn new(id: impl Into<String>, kind: MeterKind) -> Self {
        MeterInfo {
            id: sanitize_id(&id.into()),
            kind,
            manufacturer: None,
            model: None,
            serial: None,
            protocol: None,
            parent: None,
        }
    }
}

/// A code the parser did not map, kept as sent so nothing is lost (e.g. `1-0:99.1.0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawField {
    pub code: String,
    pub value: String,
}

/// Everything one meter reported at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Shared: a meter's identity is the same in every reading, so a decoder hands out the
    /// same `MeterInfo` again instead of building its strings anew per telegram.
    pub meter: Arc<MeterInfo>,
    /// The meter's own timestamp (the sub-meter's own for M-Bus values), or the receive time
    /// for meters that send none.
    pub time: Timestamp,
    pub values: Vec<Measurement>,
    pub raw: Vec<RawField>,
}

impl Reading {
    pub fn new(meter: impl Into<Arc<MeterInfo>>, time: Timestamp) -> Self {
        Reading {
            meter: meter.into(),
            time,
            values: Vec::new(),
            raw: Vec::new(),
        }
    }

    pub fn push(&mut self, quantity: Quantity, value: Value) {
        self.values.push(Measurement { quantity, value });
    }

    pub fn push_number(&mut self, quantity: Quantity, value: Decimal) {
        self.push(quantity, Value::Number(value));
    }

    /// The value of the quantity with this key, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|m| m.quantity.key == key)
            .map(|m| &m.value)
    }

    /// The JSON state payload: `{"time": ..., "<key>": value, ...}`, keys in reading order.
    /// This is exactly what `<base>/<meter_id>/state` carries and `meter2mqtt decode` prints.
    pub fn state_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::with_capacity(self.values.len() + 1);
        map.insert(
            "time".into(),
            serde_json::Value::String(self.time.to_string()),
        );
        for m in &self.values {
            let v = match &m.value {
                Value::Number(d) => serde_json::Value::Number(d.to_json_number()),
                Value::Text(t) => serde_json::Value::String(t.clone()),
                Value::Time(t) => serde_json::Value::String(t.to_string()),
            };
            map.insert(m.quantity.key.to_string(), v);
        }
        serde_json::Value::Object(map)
    }
}

/// The bytes [`sanitize_id`] keeps: `[A-Za-z0-9_-]`.
const SAFE_ID: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
        b += 1;
    }
    t
};

/// Restrict an id to `[A-Za-z0-9_-]`, the characters Home Assistant accepts in discovery
/// topics and that are safe as an MQTT topic level (no `+`, `#`, `/`).
pub fn sanitize_id(raw: &str) -> String {
    // Meters' serial numbers are almost always safe already: one copy, no per-char pushes
    // (and no trimming: a safe character is never whitespace).
    if !raw.is_empty() && raw.bytes().all(|b| SAFE_ID[b as usize]) {
        return raw.to_owned();
    }
    let s: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "unknown".into()
    } else {
        s
    }
}

/// The core quantities every input maps to. Their keys are the public contract of the state
/// payload (documented in `docs/readings.md`); changing one breaks users' automations.
pub mod q {
    use super::{Class, Quantity, Unit};

    pub const ENERGY_IMPORT_TOTAL: Quantity = Quantity::new(
        "energy_import_total",
        "Energy import",
        Unit::KWh,
        Class::Energy,
    );
    pub const ENERGY_IMPORT_T1: Quantity = Quantity::new(
        "energy_import_t1",
        "Energy import tariff 1",
        Unit::KWh,
        Class::Energy,
    );
    pub const ENERGY_IMPORT_T2: Quantity = Quantity::new(
        "energy_import_t2",
        "Energy import tariff 2",
        Unit::KWh,
        Class::Energy,
    );
    pub const ENERGY_EXPORT_TOTAL: Quantity = Quantity::new(
        "energy_export_total",
        "Energy export",
        Unit::KWh,
        Class::Energy,
    );
    pub const ENERGY_EXPORT_T1: Quantity = Quantity::new(
        "energy_export_t1",
        "Energy export tariff 1",
        Unit::KWh,
        Class::Energy,
    );
    pub const ENERGY_EXPORT_T2: Quantity = Quantity::new(
        "energy_export_t2",
        "Energy export tariff 2",
        Unit::KWh,
        Class::Energy,
    );
    pub const POWER_IMPORT: Quantity =
        Quantity::new("power_import", "Power import", Unit::W, Class::Power);
    pub const POWER_EXPORT: Quantity =
        Quantity::new("power_export", "Power export", Unit::W, Class::Power);
    pub const POWER_IMPORT_L1: Quantity =
        Quantity::new("power_import_l1", "Power import L1", Unit::W, Class::Power).disabled();
    pub const POWER_IMPORT_L2: Quantity =
        Quantity::new("power_import_l2", "Power import L2", Unit::W, Class::Power).disabled();
    pub const POWER_IMPORT_L3: Quantity =
        Quantity::new("power_import_l3", "Power import L3", Unit::W, Class::Power).disabled();
    pub const POWER_EXPORT_L1: Quantity =
        Quantity::new("power_export_l1", "Power export L1", Unit::W, Class::Power).disabled();
    pub const POWER_EXPORT_L2: Quantity =
        Quantity::new("power_export_l2", "Power export L2", Unit::W, Class::Power).disabled();
    pub const POWER_EXPORT_L3: Quantity =
        Quantity::new("power_export_l3", "Power export L3", Unit::W, Class::Power).disabled();
    pub const VOLTAGE_L1: Quantity =
        Quantity::new("voltage_l1", "Voltage L1", Unit::V, Class::Voltage).diagnostic();
    pub const VOLTAGE_L2: Quantity =
        Quantity::new("voltage_l2", "Voltage L2", Unit::V, Class::Voltage)
            .diagnostic()
            .disabled();
    pub const VOLTAGE_L3: Quantity =
        Quantity::new("voltage_l3", "Voltage L3", Unit::V, Class::Voltage)
            .diagnostic()
            .disabled();
    pub const CURRENT_L1: Quantity =
        Quantity::new("current_l1", "Current L1", Unit::A, Class::Current).diagnostic();
    pub const CURRENT_L2: Quantity =
        Quantity::new("current_l2", "Current L2", Unit::A, Class::Current)
            .diagnostic()
            .disabled();
    pub const CURRENT_L3: Quantity =
        Quantity::new("current_l3", "Current L3", Unit::A, Class::Current)
            .diagnostic()
            .disabled();
    pub const TARIFF: Quantity = Quantity::new("tariff", "Tariff", Unit::None, Class::Enumeration);
    pub const POWER_FAILURES: Quantity =
        Quantity::new("power_failures", "Power failures", Unit::None, Class::Count).diagnostic();
    pub const LONG_POWER_FAILURES: Quantity = Quantity::new(
        "long_power_failures",
        "Long power failures",
        Unit::None,
        Class::Count,
    )
    .diagnostic();

    // Sub-meters and heat meters.
    pub const GAS: Quantity = Quantity::new("gas", "Gas", Unit::CubicMeter, Class::Gas);
    pub const WATER: Quantity = Quantity::new("water", "Water", Unit::CubicMeter, Class::Water);
    /// Heat energy in GJ, as Dutch/Belgian M-Bus heat meters send it.
    pub const HEAT_ENERGY_GJ: Quantity =
        Quantity::new("heat_energy", "Heat energy", Unit::GJ, Class::Energy);
}

#[cfg(test)]
mod tests;
