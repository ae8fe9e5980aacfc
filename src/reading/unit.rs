//! Units of the reading model.

use std::fmt;

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
