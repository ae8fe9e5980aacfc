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

/// `pub const` [`Quantity`]s on `static` definitions, and `ALL`, every one of them (for docs
/// and tests): `NAME = ("key", "Name", Unit, Class).diagnostic().disabled();`
/// (`.options(&[(1, "low"), ...])` names an enumeration's values).
macro_rules! quantities {
    ($($(#[$doc:meta])* $name:ident = ($key:literal, $label:literal, $unit:ident, $class:ident) $(.$m:ident($($arg:expr),*))*;)*) => {
        $(
            $(#[$doc])*
            pub const $name: $crate::reading::Quantity = $crate::reading::Quantity::Static(
                &$crate::reading::QuantityDef::new(
                    $key,
                    $label,
                    $crate::reading::Unit::$unit,
                    $crate::reading::Class::$class,
                )
                $(.$m($($arg),*))*,
            );
        )*
        /// Every quantity defined here (for docs and tests).
        pub const ALL: &[$crate::reading::Quantity] = &[$($name),*];
    };
}
pub(crate) use quantities;

pub mod heat;
mod json;
pub mod order;
pub mod q;
pub mod unit;

pub use unit::Unit;

/// What a quantity measures. The MQTT layer derives Home Assistant's `device_class` and
/// `state_class` from this (see `mqtt::discovery`), so protocol code never names HA concepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// A length of time that is not a counter (the last power failure's duration).
    TimeSpan,
    /// An event counter (power failures, sags): only goes up.
    Count,
    /// A number that is neither a counter nor a physical measurement (tariff, info code).
    /// With [`QuantityDef::options`] each value has a name, and Home Assistant shows the name.
    Enumeration,
    /// Free text (the meter's message).
    Text,
    /// A point in time (last failure, peak time).
    Timestamp,
    /// Any other measurement (a register the user listed by number).
    Measurement,
}

impl Class {
    /// Every class, for the tests that check every (class, unit) pair against Home
    /// Assistant's tables (`mqtt::discovery`).
    pub const ALL: &'static [Class] = &[
        Class::Energy,
        Class::Gas,
        Class::Water,
        Class::Volume,
        Class::ReactiveEnergy,
        Class::Power,
        Class::ReactivePower,
        Class::ApparentPower,
        Class::Voltage,
        Class::Current,
        Class::Frequency,
        Class::PowerFactor,
        Class::Temperature,
        Class::TemperatureDifference,
        Class::Flow,
        Class::Pressure,
        Class::Duration,
        Class::TimeSpan,
        Class::Count,
        Class::Enumeration,
        Class::Text,
        Class::Timestamp,
        Class::Measurement,
    ];

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

/// What a quantity is: its key, name, fixed unit and meaning. Fixed quantities are `static`
/// definitions ([`q`], the protocol modules' tables); [`Quantity`] points at one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuantityDef {
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
    /// An [`Class::Enumeration`]'s values and their names, as the meter's specification
    /// defines them (DSMR tariff 1 = `low`). The state payload keeps the number the meter sent
    /// (it is the public contract); Home Assistant shows the name (`mqtt::discovery`).
    pub options: &'static [(i64, &'static str)],
}

impl QuantityDef {
    pub const fn new(key: &'static str, name: &'static str, unit: Unit, class: Class) -> Self {
        QuantityDef {
            key: Cow::Borrowed(key),
            name: Cow::Borrowed(name),
            unit,
            class,
            diagnostic: false,
            enabled_by_default: true,
            options: &[],
        }
    }

    /// Names for an enumeration's values (see [`QuantityDef::options`]).
    pub const fn options(mut self, options: &'static [(i64, &'static str)]) -> Self {
        self.options = options;
        self
    }

    /// The name of `value` among [`QuantityDef::options`].
    pub fn option_name(&self, value: i64) -> Option<&'static str> {
        self.options
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, name)| *name)
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
}

/// A named quantity with its fixed unit and meaning: a pointer to its [`QuantityDef`] (fields
/// are read through it, `q.key`, `q.unit`).
///
/// Why a pointer: a P1 meter sends ~30 values a second and every one names its quantity, so
/// carrying the definition inline (56 bytes) made each value 80 bytes to build, copy and
/// drop; as a pointer a value is 40 bytes and the telegram's values fit glibc's small-block
/// cache (`docs/benchmarks.md`). Known quantities point at a `static` definition; those only
/// known at run time (a register's unit from the reply, a user-listed register) share one
/// allocated definition.
///
/// Two quantities are equal when their definitions are, wherever those live.
#[derive(Clone)]
pub enum Quantity {
    /// A definition known at compile time: `Quantity::Static(&QuantityDef::new(..))` in a
    /// `const` or `static` item.
    Static(&'static QuantityDef),
    Shared(Arc<QuantityDef>),
}

impl Quantity {
    /// A quantity defined at run time.
    pub fn shared(def: QuantityDef) -> Self {
        Quantity::Shared(Arc::new(def))
    }

    /// A quantity whose key and name are only known at run time (user-listed registers).
    pub fn dynamic(key: String, name: String, unit: Unit, class: Class) -> Self {
        Quantity::shared(QuantityDef {
            key: Cow::Owned(key),
            name: Cow::Owned(name),
            unit,
            class,
            diagnostic: false,
            enabled_by_default: true,
            options: &[],
        })
    }

    /// Whether the two have the same key. The same definition (a meter's quantities are the
    /// same `static`s every telegram) is seen from the pointers without comparing the text:
    /// the MQTT publisher asks this of every value of every telegram (issue 17).
    #[inline]
    pub fn same_key(&self, other: &Quantity) -> bool {
        let (a, b): (&QuantityDef, &QuantityDef) = (self, other);
        std::ptr::eq(a, b) || a.key == b.key
    }

    /// This quantity with another unit (and so a definition of its own), for inputs whose
    /// meters choose the unit of a register (KMP, IEC 62056-21 heat energy).
    pub fn with_unit(&self, unit: Unit) -> Self {
        if self.unit == unit {
            return self.clone();
        }
        let mut def = QuantityDef::clone(self);
        def.unit = unit;
        Quantity::shared(def)
    }
}

impl std::ops::Deref for Quantity {
    type Target = QuantityDef;

    #[inline]
    fn deref(&self) -> &QuantityDef {
        match self {
            Quantity::Static(d) => d,
            Quantity::Shared(d) => d,
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq::<QuantityDef>(&**self, &**other) || **self == **other
    }
}

impl Eq for Quantity {}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
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
#[non_exhaustive]
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
    /// The meter's firmware version where it reports one (KMP GetType's software revision,
    /// `F1`); never the protocol.
    pub firmware: Option<String>,
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
            firmware: None,
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
    /// Shared: the publisher keeps each meter's latest identity with its state (`mqtt::publish`)
    /// and takes it by reference count, not by copying its strings.
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

#[cfg(test)]
mod tests;
