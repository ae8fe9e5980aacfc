//! Units as IEC 62056-21 meters spell them, exact conversions, and the heat-meter quantities
//! shared by the IEC readout and the MULTICAL `/#n` decoder.
//!
//! One quantity key has one unit (see `crate::reading`): a value that arrives in another unit
//! of the same family is converted by moving the decimal point ([`convert`]); a unit that
//! cannot be converted exactly (GJ ↔ kWh is ×277.7…) is not forced into the key. The one
//! exception is `heat_energy`, whose unit is the meter's own (GJ, kWh, MWh, Gcal): it is fixed
//! per meter by its sealed program (MC66C manual 5511-634 §2.2 "B" code), so it never changes
//! for one Home Assistant entity.

use crate::decimal::Decimal;
use crate::reading::Unit;

/// A unit string from a data set (`kWh`, `m3`, `C`, `m3ph` ...). `None` for units the model
/// has no unit for (Ultraheat `6.35(60*m)`, minutes) and unknown spellings.
pub fn parse_unit(s: &str) -> Option<Unit> {
    Some(match s {
        "Wh" => Unit::Wh,
        "kWh" | "KWH" | "kwh" => Unit::KWh,
        "MWh" | "MWH" => Unit::MWh,
        "GJ" => Unit::GJ,
        "MJ" => Unit::MJ,
        "Gcal" => Unit::Gcal,
        "W" => Unit::W,
        "kW" | "KW" => Unit::KW,
        "MW" => Unit::MW,
        "kvarh" | "kvArh" => Unit::Kvarh,
        "kvar" => Unit::Kvar,
        "V" => Unit::V,
        "A" => Unit::A,
        "Hz" => Unit::Hz,
        "m3" | "m³" => Unit::CubicMeter,
        "l" | "L" => Unit::Liter,
        // Landis+Gyr Ultraheat writes m³/h as "m3ph" (corpus iec62056_ultraheat_*.txt).
        "m3h" | "m3/h" | "m3ph" => Unit::CubicMeterPerHour,
        "l/h" | "lh" | "lph" => Unit::LiterPerHour,
        "C" | "°C" | "degC" => Unit::Celsius,
        "K" => Unit::Kelvin,
        "h" => Unit::Hour,
        "s" => Unit::Second,
        "bar" => Unit::Bar,
        _ => return None,
    })
}

/// `value` in unit `from` expressed in unit `to`, exactly (decimal shift, the crate's one
/// table: [`crate::reading::unit::convert`]), or `None` if the units are not powers of ten
/// apart. Converted values are normalised: the meter's trailing zeros carry no meaning after
/// a unit change (`240 l/h` → `0.24 m³/h`).
pub fn convert(value: Decimal, from: Unit, to: Unit) -> Option<Decimal> {
    if from == to {
        return Some(value);
    }
    crate::reading::unit::convert(value, from, to).map(Decimal::normalize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn exact_conversions() {
        let c = |v, f, t| convert(d(v), f, t).map(|x| x.to_string());
        assert_eq!(
            c("000.840", Unit::CubicMeterPerHour, Unit::LiterPerHour),
            Some("840".into())
        );
        assert_eq!(
            c("245", Unit::LiterPerHour, Unit::CubicMeterPerHour),
            Some("0.245".into())
        );
        assert_eq!(c("01.193", Unit::KW, Unit::W), Some("1193".into()));
        assert_eq!(c("1500", Unit::Wh, Unit::KWh), Some("1.5".into()));
        assert_eq!(c("0328.871", Unit::GJ, Unit::GJ), Some("328.871".into()));
        assert_eq!(c("1", Unit::GJ, Unit::KWh), None);
        assert_eq!(c("1", Unit::Celsius, Unit::Kelvin), None);
    }

    fn conv(
        f: fn(Decimal, Unit, Unit) -> Option<Decimal>,
        v: &str,
        from: Unit,
        to: Unit,
    ) -> Option<String> {
        f(Decimal::parse(v).ok()?, from, to).map(|d| d.to_string())
    }

    /// KMP and IEC 62056-21 convert through this one table: what one protocol can convert,
    /// the other can (IEC's own table lacked the reactive and apparent units). Only the
    /// normalisation after a down-shift is the protocol's choice.
    #[test]
    fn one_table_for_every_protocol() {
        let iec = convert;
        let kmp = crate::protocol::kmp::units::convert;
        assert_eq!(
            conv(iec, "1500", Unit::Varh, Unit::Kvarh),
            Some("1.5".into())
        );
        assert_eq!(
            conv(kmp, "1500", Unit::Varh, Unit::Kvarh),
            Some("1.500".into())
        );
        assert_eq!(conv(iec, "2.5", Unit::KVA, Unit::VA), Some("2500".into()));
        assert_eq!(conv(kmp, "1.193", Unit::KW, Unit::W), Some("1193".into()));
        for f in [iec, kmp] {
            assert_eq!(conv(f, "1", Unit::GJ, Unit::KWh), None);
            assert_eq!(conv(f, "1", Unit::Celsius, Unit::Kelvin), None);
            assert_eq!(conv(f, "3", Unit::MJ, Unit::GJ), Some("0.003".into()));
        }
    }
}
