//! Quantities of heat meters read over IEC 62056-21 (Ultraheat, MULTICAL mode C) and the
//! MULTICAL `/#n` protocol. Their keys and units are the state payload's contract like
//! [`super::q`]'s (documented in `docs/readings.md`); the KMP register table
//! (`protocol::kmp::registers`) uses the same keys for the same quantities.

use super::{Class, Quantity, QuantityDef, Unit};

/// Heat energy in the unit the meter sends (GJ, MWh, kWh or Gcal, IEC 62056-21 / MULTICAL
/// `/#n`): a meter never changes its unit, so the entity keeps one unit as HA requires.
pub fn heat_energy(unit: Unit) -> Quantity {
    Quantity::shared(QuantityDef::new(
        "heat_energy",
        "Heat energy",
        unit,
        Class::Energy,
    ))
}
pub const VOLUME: Quantity = Quantity::Static(&QuantityDef::new(
    "volume",
    "Volume",
    Unit::CubicMeter,
    Class::Volume,
));
pub const OPERATING_HOURS: Quantity = Quantity::Static(
    &QuantityDef::new(
        "operating_hours",
        "Operating hours",
        Unit::Hour,
        Class::Duration,
    )
    .diagnostic(),
);
pub const TEMPERATURE_FLOW: Quantity = Quantity::Static(&QuantityDef::new(
    "temperature_flow",
    "Flow temperature",
    Unit::Celsius,
    Class::Temperature,
));
pub const TEMPERATURE_RETURN: Quantity = Quantity::Static(&QuantityDef::new(
    "temperature_return",
    "Return temperature",
    Unit::Celsius,
    Class::Temperature,
));
pub const TEMPERATURE_DIFFERENCE: Quantity = Quantity::Static(&QuantityDef::new(
    "temperature_difference",
    "Temperature difference",
    Unit::Kelvin,
    Class::TemperatureDifference,
));
/// Ultraheat `9.4`: the highest flow/return temperatures, not the current ones.
pub const TEMPERATURE_FLOW_MAX: Quantity = Quantity::Static(
    &QuantityDef::new(
        "temperature_flow_max",
        "Maximum flow temperature",
        Unit::Celsius,
        Class::Temperature,
    )
    .diagnostic(),
);
pub const TEMPERATURE_RETURN_MAX: Quantity = Quantity::Static(
    &QuantityDef::new(
        "temperature_return_max",
        "Maximum return temperature",
        Unit::Celsius,
        Class::Temperature,
    )
    .diagnostic(),
);
pub const TEMPERATURE_T3: Quantity = Quantity::Static(
    &QuantityDef::new(
        "temperature_t3",
        "Temperature T3",
        Unit::Celsius,
        Class::Temperature,
    )
    .disabled(),
);
pub const POWER: Quantity =
    Quantity::Static(&QuantityDef::new("power", "Power", Unit::KW, Class::Power));
pub const PEAK_POWER: Quantity = Quantity::Static(
    &QuantityDef::new("peak_power", "Peak power", Unit::KW, Class::Power).diagnostic(),
);
/// Flow in L/h: household heat meters show l/h; m³/h values are converted exactly.
pub const FLOW: Quantity = Quantity::Static(&QuantityDef::new(
    "flow",
    "Flow",
    Unit::LiterPerHour,
    Class::Flow,
));
pub const FLOW_V2: Quantity = Quantity::Static(
    &QuantityDef::new("flow_v2", "Flow V2", Unit::LiterPerHour, Class::Flow).disabled(),
);
pub const PEAK_FLOW: Quantity = Quantity::Static(
    &QuantityDef::new("peak_flow", "Peak flow", Unit::LiterPerHour, Class::Flow).diagnostic(),
);
pub const PRESSURE_P1: Quantity = Quantity::Static(
    &QuantityDef::new("pressure_p1", "Pressure P1", Unit::Bar, Class::Pressure).disabled(),
);
pub const PRESSURE_P2: Quantity = Quantity::Static(
    &QuantityDef::new("pressure_p2", "Pressure P2", Unit::Bar, Class::Pressure).disabled(),
);
pub const INFO_CODE: Quantity = Quantity::Static(
    &QuantityDef::new("info_code", "Info code", Unit::None, Class::Enumeration).diagnostic(),
);
