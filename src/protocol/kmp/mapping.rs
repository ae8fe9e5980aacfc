//! From a decoded register to a [`Measurement`]: unit scaling, the register map's unit rules,
//! and `register_<id>` for registers the map does not know.

use super::codec::{RegisterEntry, RegisterValue};
use super::registers::{lookup, UnitRule, VOLUME};
use super::units::{self, Dim, UnitKind};
use crate::decimal::Decimal;
use crate::reading::{
    q, Class, Measurement, MeterKind, Quantity, QuantityDef, RawField, Unit, Value,
};

use UnitRule::{Any, AsSent, Convert, Text};

/// A number with its unit after the unit table's exact scaling; `symbol` is set when the
/// unit has no name in the crate.
struct Scaled {
    value: Decimal,
    unit: Unit,
    symbol: Option<&'static str>,
}

fn scale(unit_code: u8, value: Decimal) -> Option<Scaled> {
    let u = units::lookup(unit_code);
    match u.kind {
        // Flow is published in m³/h (`crate::reading::heat::FLOW`: the one `volume_flow_rate`
        // unit every supported Home Assistant accepts, issue 12 §2): the l/h household heat
        // meters send is exactly 10⁻³ m³/h, 245 l/h → 0.245.
        UnitKind::Number {
            unit: Unit::LiterPerHour,
            shift,
        } => Some(Scaled {
            value: value.shift(shift.checked_sub(3)?)?,
            unit: Unit::CubicMeterPerHour,
            symbol: None,
        }),
        UnitKind::Number { unit, shift } => {
            let v = value.shift(shift)?;
            Some(Scaled {
                value: if shift > 0 { v.normalize() } else { v },
                unit,
                symbol: None,
            })
        }
        _ => Some(Scaled {
            value,
            unit: Unit::None,
            symbol: Some(u.symbol),
        }),
    }
}

/// The class a unit suggests, for registers the map does not know.
pub fn class_for_unit(unit: Unit) -> Class {
    match units::dimension(unit).0 {
        Dim::EnergyWh | Dim::EnergyJ | Dim::EnergyCal => Class::Energy,
        Dim::ReactiveEnergy => Class::ReactiveEnergy,
        Dim::Power => Class::Power,
        Dim::ReactivePower => Class::ReactivePower,
        Dim::ApparentPower => Class::ApparentPower,
        Dim::Voltage => Class::Voltage,
        Dim::Current => Class::Current,
        Dim::Volume | Dim::Mass => Class::Volume,
        Dim::Flow | Dim::MassFlow => Class::Flow,
        Dim::Temperature => Class::Temperature,
        Dim::TemperatureDifference => Class::TemperatureDifference,
        Dim::Hours => Class::Duration,
        Dim::Pressure => Class::Pressure,
        _ => Class::Measurement,
    }
}

/// `register_<id>` with the unit from the reply.
fn dynamic(id: u16, unit: Unit, symbol: Option<&str>, class: Class) -> Quantity {
    let name = match symbol.filter(|s| !s.is_empty()) {
        Some(s) => format!("Register {id} ({id:#06x}, {s})"),
        None => format!("Register {id} ({id:#06x})"),
    };
    Quantity::dynamic(format!("register_{id}"), name, unit, class)
}

/// What a decoded register becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapped {
    /// Published under its own key.
    Value(Measurement),
    /// Published as `register_<id>` because the unit did not fit the map; `warning` says why.
    Fallback {
        measurement: Measurement,
        warning: String,
    },
    /// Not representable; kept as a raw field.
    Raw { raw: RawField, warning: String },
}

/// Map one register entry to a measurement for a meter of `kind`.
pub fn map_entry(kind: MeterKind, entry: &RegisterEntry) -> Mapped {
    let id = entry.id;
    let known = lookup(id);
    let template: Option<Quantity> = match (kind, id) {
        // A water meter's V1 is its water counter (the core `water` key).
        (MeterKind::Water, 0x0044) => Some(q::WATER),
        _ => known.map(|d| d.quantity.clone()),
    };
    let rule = match (kind, id) {
        (MeterKind::Water, 0x0044) => AsSent(VOLUME),
        _ => known.map_or(Any, |d| d.rule),
    };
    let fallback = |measurement: Measurement, why: String| Mapped::Fallback {
        measurement,
        warning: format!("register {id:#06x}: {why}; published as register_{id}"),
    };
    match &entry.value {
        RegisterValue::Invalid { error, .. } => Mapped::Raw {
            raw: RawField {
                code: format!("kmp:{id:#06x}"),
                value: entry.value.to_string(),
            },
            warning: format!("register {id:#06x}: {error}"),
        },
        RegisterValue::Clock { .. } | RegisterValue::Date { .. } => {
            let value = Value::Text(entry.value.to_string());
            match (template, rule) {
                (Some(t), Text) => Mapped::Value(Measurement { quantity: t, value }),
                (Some(_), _) => fallback(
                    Measurement {
                        quantity: dynamic(id, Unit::None, None, Class::Text),
                        value,
                    },
                    "a clock/date where a number was expected".into(),
                ),
                (None, _) => Mapped::Value(Measurement {
                    quantity: dynamic(id, Unit::None, None, Class::Text),
                    value,
                }),
            }
        }
        RegisterValue::Number(raw) => {
            let Some(s) = scale(entry.unit_code, *raw) else {
                return Mapped::Raw {
                    raw: RawField {
                        code: format!("kmp:{id:#06x}"),
                        value: raw.to_string(),
                    },
                    warning: format!("register {id:#06x}: exponent out of range after scaling"),
                };
            };
            let as_dynamic = || Measurement {
                quantity: dynamic(id, s.unit, s.symbol, class_for_unit(s.unit)),
                value: Value::Number(s.value),
            };
            let Some(t) = template else {
                return Mapped::Value(as_dynamic());
            };
            let (dim, _) = units::dimension(s.unit);
            let mismatch = || {
                format!(
                    "unit {} (code {:#04x}) does not fit {}",
                    s.symbol.unwrap_or(s.unit.as_str()),
                    entry.unit_code,
                    t.key
                )
            };
            match rule {
                AsSent(dims) if dims.contains(&dim) => Mapped::Value(Measurement {
                    quantity: t.with_unit(s.unit),
                    value: Value::Number(s.value),
                }),
                Convert => match units::convert(s.value, s.unit, t.unit) {
                    Some(v) => Mapped::Value(Measurement {
                        quantity: t,
                        value: Value::Number(v),
                    }),
                    None => fallback(as_dynamic(), mismatch()),
                },
                Any => {
                    let quantity = if dim == Dim::Number {
                        t.with_unit(s.unit)
                    } else {
                        let mut def = QuantityDef::clone(&t);
                        def.unit = s.unit;
                        def.class = class_for_unit(s.unit);
                        Quantity::shared(def)
                    };
                    Mapped::Value(Measurement {
                        quantity,
                        value: Value::Number(s.value),
                    })
                }
                AsSent(_) | Text => fallback(as_dynamic(), mismatch()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::kmp::codec::ValueError;
    use crate::protocol::kmp::number::NumberError;

    fn entry(id: u16, unit_code: u8, value: RegisterValue) -> RegisterEntry {
        RegisterEntry {
            id,
            unit_code,
            value,
        }
    }

    #[test]
    fn heat_energy_keeps_the_meters_unit_with_exact_scaling() {
        // GWh (0x04) has no unit of its own here: exactly ×1000 into MWh.
        let e = entry(
            0x003C,
            0x04,
            RegisterValue::Number(Decimal::new(12_345, -3)),
        );
        let Mapped::Value(m) = map_entry(MeterKind::Heat, &e) else {
            panic!()
        };
        assert_eq!(m.quantity.key, "heat_energy");
        assert_eq!(m.quantity.unit, Unit::MWh);
        assert_eq!(m.value, Value::Number(Decimal::new(12_345, 0)));
        let e = entry(0x003C, 0x08, RegisterValue::Number(Decimal::new(4566, -1)));
        let Mapped::Value(m) = map_entry(MeterKind::Heat, &e) else {
            panic!()
        };
        assert_eq!(m.quantity.unit, Unit::GJ);
    }

    /// Issue 12 §2: a MULTICAL's l/h flow (unit 0x29, corpus tasmota38_*) is published in
    /// m³/h, exactly; so is an unlisted register in l/h.
    #[test]
    fn flow_in_litres_per_hour_becomes_exact_cubic_metres_per_hour() {
        for id in [0x004A, 0x008B] {
            let e = entry(id, 0x29, RegisterValue::Number(Decimal::new(245, 0)));
            let Mapped::Value(m) = map_entry(MeterKind::Heat, &e) else {
                panic!()
            };
            assert_eq!(m.quantity.unit, Unit::CubicMeterPerHour, "{id:#06x}");
            let Value::Number(v) = m.value else { panic!() };
            assert_eq!(v.to_string(), "0.245");
        }
    }

    #[test]
    fn unrepresentable_values_become_raw_fields() {
        let e = entry(
            0x003C,
            0x03,
            RegisterValue::Invalid {
                siex: 0,
                bytes: vec![0xFF; 9],
                error: ValueError::Number(NumberError::TooLarge { len: 9 }),
            },
        );
        let Mapped::Raw { raw, warning } = map_entry(MeterKind::Heat, &e) else {
            panic!()
        };
        assert_eq!(raw.code, "kmp:0x003c");
        assert!(warning.contains("64-bit"), "{warning}");
    }
}
