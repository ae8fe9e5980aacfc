//! Units of the reading model, and the one table of how they convert (issue 13: KMP and
//! IEC 62056-21 each had their own).

use std::fmt;

use crate::decimal::Decimal;

/// Units, spelled exactly as Home Assistant expects them (`m³`, `°C` with Unicode characters;
/// see HA's `homeassistant.const.UnitOf*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// Every unit, for the tests that check each one against Home Assistant's unit lists
    /// (`mqtt::discovery`); `tests::every_unit_is_listed` fails to compile when one is missing.
    pub const ALL: &'static [Unit] = &[
        Unit::None,
        Unit::Wh,
        Unit::KWh,
        Unit::MWh,
        Unit::GJ,
        Unit::MJ,
        Unit::Gcal,
        Unit::W,
        Unit::KW,
        Unit::MW,
        Unit::Varh,
        Unit::Kvarh,
        Unit::Var,
        Unit::Kvar,
        Unit::VA,
        Unit::KVA,
        Unit::V,
        Unit::A,
        Unit::Hz,
        Unit::CubicMeter,
        Unit::Liter,
        Unit::CubicMeterPerHour,
        Unit::LiterPerHour,
        Unit::Celsius,
        Unit::Kelvin,
        Unit::Hour,
        Unit::Second,
        Unit::Bar,
        Unit::Tonne,
        Unit::TonnePerHour,
        Unit::CubicMeterCelsius,
        Unit::Percent,
    ];

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

/// Physical dimension of a [`Unit`], with the power of ten of the unit relative to the
/// dimension's base (kWh = Wh × 10^3). Units of one dimension convert exactly by a shift.
/// The SI prefixes are powers of ten (BIPM SI Brochure §3); J, cal and Wh are kept apart
/// because their ratios are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dim {
    EnergyWh,
    EnergyJ,
    EnergyCal,
    ReactiveEnergy,
    Power,
    ReactivePower,
    ApparentPower,
    Voltage,
    Current,
    Volume,
    Flow,
    Mass,
    MassFlow,
    Temperature,
    TemperatureDifference,
    VolumeTemperature,
    Hours,
    Seconds,
    Pressure,
    /// Plain number (unit 0x00 / 0x33).
    Number,
    Other,
}

/// The dimension of `unit` and its power of ten relative to the dimension's base unit.
pub fn dimension(unit: Unit) -> (Dim, i8) {
    match unit {
        Unit::Wh => (Dim::EnergyWh, 0),
        Unit::KWh => (Dim::EnergyWh, 3),
        Unit::MWh => (Dim::EnergyWh, 6),
        Unit::MJ => (Dim::EnergyJ, 6),
        Unit::GJ => (Dim::EnergyJ, 9),
        Unit::Gcal => (Dim::EnergyCal, 9),
        Unit::Varh => (Dim::ReactiveEnergy, 0),
        Unit::Kvarh => (Dim::ReactiveEnergy, 3),
        Unit::W => (Dim::Power, 0),
        Unit::KW => (Dim::Power, 3),
        Unit::MW => (Dim::Power, 6),
        Unit::Var => (Dim::ReactivePower, 0),
        Unit::Kvar => (Dim::ReactivePower, 3),
        Unit::VA => (Dim::ApparentPower, 0),
        Unit::KVA => (Dim::ApparentPower, 3),
        Unit::V => (Dim::Voltage, 0),
        Unit::A => (Dim::Current, 0),
        Unit::Liter => (Dim::Volume, 0),
        Unit::CubicMeter => (Dim::Volume, 3),
        Unit::LiterPerHour => (Dim::Flow, 0),
        Unit::CubicMeterPerHour => (Dim::Flow, 3),
        Unit::Tonne => (Dim::Mass, 0),
        Unit::TonnePerHour => (Dim::MassFlow, 0),
        Unit::Celsius => (Dim::Temperature, 0),
        Unit::Kelvin => (Dim::TemperatureDifference, 0),
        Unit::CubicMeterCelsius => (Dim::VolumeTemperature, 0),
        Unit::Hour => (Dim::Hours, 0),
        Unit::Second => (Dim::Seconds, 0),
        Unit::Bar => (Dim::Pressure, 0),
        Unit::None => (Dim::Number, 0),
        _ => (Dim::Other, 0),
    }
}

/// `value` in `from` expressed exactly in `to`, when both have the same dimension: the digits
/// stay, only the decimal point moves (`271211.3 Wh` → `271.2113 kWh`). A shift that adds
/// zeros is normalised (`1.193 kW` → `1193 W`, not `1193.000`). The one conversion of the
/// crate: KMP registers and IEC 62056-21 / MULTICAL `/#n` values use it (issue 13).
pub fn convert(value: Decimal, from: Unit, to: Unit) -> Option<Decimal> {
    if from == to {
        return Some(value);
    }
    let (dim_from, exp_from) = dimension(from);
    let (dim_to, exp_to) = dimension(to);
    if dim_from != dim_to || dim_from == Dim::Other {
        return None;
    }
    let shift = exp_from - exp_to;
    let shifted = value.shift(shift)?;
    Some(if shift > 0 {
        shifted.normalize()
    } else {
        shifted
    })
}
