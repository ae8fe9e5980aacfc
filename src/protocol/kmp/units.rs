//! KMP unit codes (the byte after the register id in a GetRegister reply).
//!
//! Source: the unit table of Kamstrup doc 5512-447 as quoted in the team notes
//! (`shared/notes/kamstrup.md`) and reproduced in full in PyKMP `src/pykmp/constants.py`
//! (`UNITS_NAMES`). Codes map to the crate's [`Unit`]; where the crate has no such unit but a
//! power of ten reaches one (GWh → MWh, J → MJ), the value is shifted exactly. Conversion
//! between units is the crate's one table ([`crate::reading::unit::convert`]).
//!
//! Disputed codes: 0x15 and 0x19. PyKamstrup prints both 0x15 and 0x16 as "kW" and both 0x19
//! and 0x1A as "kvar"; PyKMP has 0x15 = W and 0x19 = var. We follow PyKMP: the table runs in
//! blocks of four with the same prefix order (0x01-0x04 Wh kWh MWh GWh, 0x0D-0x10 varh..Gvarh,
//! 0x11-0x14 VAh..GVAh, 0x1D-0x20 VA..GVA), so 0x15-0x18 is W kW MW GW and 0x19-0x1C is
//! var kvar Mvar Gvar; the duplicates in PyKamstrup break that pattern.

use crate::reading::Unit;

/// What a unit code says about how to read the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnitKind {
    /// A number in `unit`, after multiplying by `10^shift`.
    Number { unit: Unit, shift: i8 },
    /// A number in a unit the crate does not name (VAh, minutes, bit fields): published
    /// without a unit; `KmpUnit::symbol` says what it was.
    Unnamed,
    /// Clock digits `hhmmss` in an integer (unit 0x2F; 5512-447 unit table, notes).
    Clock,
    /// Date digits `yymmdd` in an integer (unit 0x30; 5512-447 unit table, notes).
    Date,
    /// Date digits `yyyymmdd` in an integer (unit 0x31; PyKMP `UNITS_NAMES` 49).
    LongDate,
}

/// One entry of the unit table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KmpUnit {
    pub code: u8,
    /// The symbol the table gives (for logs and names of unnamed units).
    pub symbol: &'static str,
    pub kind: UnitKind,
}

const fn num(unit: Unit, shift: i8) -> UnitKind {
    UnitKind::Number { unit, shift }
}

/// Look up a unit code. Unknown codes come back as [`UnitKind::Unnamed`] with symbol `?`.
pub fn lookup(code: u8) -> KmpUnit {
    use UnitKind::{Clock, Date, LongDate, Unnamed};
    let (symbol, kind) = match code {
        0x00 => ("", num(Unit::None, 0)),
        0x01 => ("Wh", num(Unit::Wh, 0)),
        0x02 => ("kWh", num(Unit::KWh, 0)),
        0x03 => ("MWh", num(Unit::MWh, 0)),
        0x04 => ("GWh", num(Unit::MWh, 3)),
        0x05 => ("J", num(Unit::MJ, -6)),
        0x06 => ("kJ", num(Unit::MJ, -3)),
        0x07 => ("MJ", num(Unit::MJ, 0)),
        0x08 => ("GJ", num(Unit::GJ, 0)),
        0x09 => ("cal", num(Unit::Gcal, -9)),
        0x0A => ("kcal", num(Unit::Gcal, -6)),
        0x0B => ("Mcal", num(Unit::Gcal, -3)),
        0x0C => ("Gcal", num(Unit::Gcal, 0)),
        0x0D => ("varh", num(Unit::Varh, 0)),
        0x0E => ("kvarh", num(Unit::Kvarh, 0)),
        0x0F => ("Mvarh", num(Unit::Kvarh, 3)),
        0x10 => ("Gvarh", num(Unit::Kvarh, 6)),
        0x11 => ("VAh", Unnamed),
        0x12 => ("kVAh", Unnamed),
        0x13 => ("MVAh", Unnamed),
        0x14 => ("GVAh", Unnamed),
        0x15 => ("W", num(Unit::W, 0)),
        0x16 => ("kW", num(Unit::KW, 0)),
        0x17 => ("MW", num(Unit::MW, 0)),
        0x18 => ("GW", num(Unit::MW, 3)),
        0x19 => ("var", num(Unit::Var, 0)),
        0x1A => ("kvar", num(Unit::Kvar, 0)),
        0x1B => ("Mvar", num(Unit::Kvar, 3)),
        0x1C => ("Gvar", num(Unit::Kvar, 6)),
        0x1D => ("VA", num(Unit::VA, 0)),
        0x1E => ("kVA", num(Unit::KVA, 0)),
        0x1F => ("MVA", num(Unit::KVA, 3)),
        0x20 => ("GVA", num(Unit::KVA, 6)),
        0x21 => ("V", num(Unit::V, 0)),
        0x22 => ("A", num(Unit::A, 0)),
        0x23 => ("kV", num(Unit::V, 3)),
        0x24 => ("kA", num(Unit::A, 3)),
        0x25 => ("°C", num(Unit::Celsius, 0)),
        0x26 => ("K", num(Unit::Kelvin, 0)),
        0x27 => ("l", num(Unit::Liter, 0)),
        0x28 => ("m³", num(Unit::CubicMeter, 0)),
        0x29 => ("l/h", num(Unit::LiterPerHour, 0)),
        0x2A => ("m³/h", num(Unit::CubicMeterPerHour, 0)),
        0x2B => ("m³×°C", num(Unit::CubicMeterCelsius, 0)),
        0x2C => ("t", num(Unit::Tonne, 0)),
        0x2D => ("t/h", num(Unit::TonnePerHour, 0)),
        0x2E => ("h", num(Unit::Hour, 0)),
        0x2F => ("hh:mm:ss", Clock),
        0x30 => ("yy:mm:dd", Date),
        0x31 => ("yyyy:mm:dd", LongDate),
        0x32 => ("mm:dd", Unnamed),
        0x33 => ("", num(Unit::None, 0)),
        0x34 => ("bar", num(Unit::Bar, 0)),
        0x35 => ("RTC", Unnamed),
        0x36 => ("ASCII", Unnamed),
        0x37 => ("m³×10", num(Unit::CubicMeter, 1)),
        0x38 => ("t×10", num(Unit::Tonne, 1)),
        0x39 => ("GJ×10", num(Unit::GJ, 1)),
        0x3A => ("min", Unnamed),
        0x3B => ("bit field", Unnamed),
        0x3C => ("s", num(Unit::Second, 0)),
        0x3D => ("ms", num(Unit::Second, -3)),
        0x3E => ("days", Unnamed),
        _ => ("?", Unnamed),
    };
    KmpUnit { code, symbol, kind }
}

pub use crate::reading::unit::{convert, dimension, Dim};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Decimal;

    #[test]
    fn corpus_units() {
        // Units seen in the corpus replies (tasmota38_*, mc602_highres_009B, meterlogger_sim_*).
        for (code, unit) in [
            (0x01, Unit::Wh),
            (0x03, Unit::MWh),
            (0x16, Unit::KW),
            (0x25, Unit::Celsius),
            (0x26, Unit::Kelvin),
            (0x28, Unit::CubicMeter),
            (0x29, Unit::LiterPerHour),
            (0x2E, Unit::Hour),
        ] {
            assert_eq!(lookup(code).kind, num(unit, 0), "code {code:#04x}");
        }
        assert_eq!(lookup(0x15).kind, num(Unit::W, 0));
        assert_eq!(lookup(0x19).kind, num(Unit::Var, 0));
    }

    #[test]
    fn exact_conversions() {
        let kw = Decimal::parse("1.193").unwrap();
        assert_eq!(
            convert(kw, Unit::KW, Unit::W).map(|d| d.to_string()),
            Some("1193".into())
        );
        let wh = Decimal::parse("271211.3").unwrap();
        assert_eq!(
            convert(wh, Unit::Wh, Unit::KWh).map(|d| d.to_string()),
            Some("271.2113".into())
        );
        assert_eq!(convert(wh, Unit::Wh, Unit::GJ), None);
    }
}
