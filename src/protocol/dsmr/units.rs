//! Converting values to the fixed unit of their quantity, exactly (decimal shifts only).

use super::parser::RawUnit;
use crate::decimal::Decimal;
use crate::reading::Unit;

/// What a value should be and which unit DSMR sends it in when no unit is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// kWh (accepts Wh, kWh, MWh). DSMR 5.0.2 §6.12: energy registers in kWh.
    Energy,
    /// W (accepts W, kW, MW); DSMR sends kW.
    Power,
    /// kvarh (accepts varh, kvarh).
    ReactiveEnergy,
    /// var (accepts var, kvar); Smarty sends kvar.
    ReactivePower,
    /// VA (accepts VA, kVA); Smarty sends kVA.
    ApparentPower,
    Volt,
    Ampere,
    Hertz,
    Second,
    /// m³ (accepts m3, dm3).
    Volume,
    /// GJ (accepts GJ, MJ).
    HeatEnergy,
    /// No unit (counters, tariff, power factor).
    Plain,
}

impl Kind {
    /// The unit the converted value has.
    pub fn unit(self) -> Unit {
        match self {
            Kind::Energy => Unit::KWh,
            Kind::Power => Unit::W,
            Kind::ReactiveEnergy => Unit::Kvarh,
            Kind::ReactivePower => Unit::Var,
            Kind::ApparentPower => Unit::VA,
            Kind::Volt => Unit::V,
            Kind::Ampere => Unit::A,
            Kind::Hertz => Unit::Hz,
            Kind::Second => Unit::Second,
            Kind::Volume => Unit::CubicMeter,
            Kind::HeatEnergy => Unit::GJ,
            Kind::Plain => Unit::None,
        }
    }
}

/// `value` in `unit` converted to `kind`'s unit, or `None` if the unit does not fit. A missing
/// unit means the DSMR default for that kind (kWh, kW, kvarh, kvar, kVA, V, A, Hz, s, m³, GJ).
pub fn convert(value: Decimal, unit: RawUnit, kind: Kind) -> Option<Decimal> {
    use RawUnit as R;
    // Power of ten from the sent unit to the target unit.
    let shift: i8 = match (kind, unit) {
        (Kind::Energy, R::Wh) => -3,
        (Kind::Energy, R::KWh | R::None) => 0,
        (Kind::Energy, R::MWh) => 3,
        (Kind::Power, R::W) => 0,
        (Kind::Power, R::KW | R::None) => 3,
        (Kind::Power, R::MW) => 6,
        (Kind::ReactiveEnergy, R::Varh) => -3,
        (Kind::ReactiveEnergy, R::Kvarh | R::None) => 0,
        (Kind::ReactivePower, R::Var) => 0,
        (Kind::ReactivePower, R::Kvar | R::None) => 3,
        (Kind::ApparentPower, R::VA) => 0,
        (Kind::ApparentPower, R::Kva | R::None) => 3,
        (Kind::Volt, R::V | R::None)
        | (Kind::Ampere, R::A | R::None)
        | (Kind::Hertz, R::Hz | R::None)
        | (Kind::Second, R::S | R::None)
        | (Kind::Volume, R::M3 | R::None)
        | (Kind::HeatEnergy, R::GJ | R::None)
        | (Kind::Plain, R::None) => 0,
        (Kind::Volume, R::Dm3) => -3,
        (Kind::HeatEnergy, R::MJ) => -3,
        _ => return None,
    };
    let v = value.shift(shift)?;
    // Instantaneous values in W/var/VA lose the meter's kW-scale zeros (1.193 kW → 1193 W);
    // counters keep their digits.
    Some(match kind {
        Kind::Power | Kind::ReactivePower | Kind::ApparentPower => v.normalize(),
        _ => v,
    })
}

/// `a + b`, exact, or `None` on overflow.
pub fn add(a: Decimal, b: Decimal) -> Option<Decimal> {
    let e = a.exponent().min(b.exponent());
    let scale = |d: Decimal| -> Option<i64> {
        let k = (d.exponent() as i32 - e as i32) as u32;
        10i64.checked_pow(k)?.checked_mul(d.mantissa())
    };
    Some(Decimal::new(scale(a)?.checked_add(scale(b)?)?, e))
}

/// `a - b`, exact, or `None` on overflow.
pub fn sub(a: Decimal, b: Decimal) -> Option<Decimal> {
    add(a, Decimal::new(b.mantissa().checked_neg()?, b.exponent()))
}

/// The mean of `values`, rounded half away from zero to 3 decimals.
pub fn mean(values: &[Decimal]) -> Option<Decimal> {
    let n = values.len() as i128;
    if n == 0 {
        return None;
    }
    let e = values.iter().map(|d| d.exponent()).min()?.min(-3) as i32;
    let mut sum: i128 = 0;
    for d in values {
        let k = (d.exponent() as i32 - e) as u32;
        sum = sum.checked_add(10i128.checked_pow(k)?.checked_mul(d.mantissa() as i128)?)?;
    }
    // Bring the sum to 3 decimals before dividing.
    let down = 10i128.checked_pow((-3 - e) as u32)?;
    let num = sum;
    let den = n.checked_mul(down)?;
    let q = num / den;
    let r = num % den;
    let q = if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    };
    Some(Decimal::new(i64::try_from(q).ok()?, -3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn conversions_are_exact() {
        assert_eq!(
            convert(d("01.193"), RawUnit::KW, Kind::Power)
                .unwrap()
                .to_string(),
            "1193"
        );
        assert_eq!(
            convert(d("006545766"), RawUnit::Wh, Kind::Energy)
                .unwrap()
                .to_string(),
            "6545.766"
        );
        assert_eq!(
            convert(d("00012"), RawUnit::Dm3, Kind::Volume)
                .unwrap()
                .to_string(),
            "0.012"
        );
        assert_eq!(convert(d("1"), RawUnit::V, Kind::Power), None);
    }

    #[test]
    fn add_and_mean() {
        assert_eq!(add(d("1.5"), d("2.25")).unwrap().to_string(), "3.75");
        assert_eq!(sub(d("0"), d("1.193")).unwrap().to_string(), "-1.193");
        assert_eq!(sub(d("2.5"), d("0.25")).unwrap().to_string(), "2.25");
        assert_eq!(sub(d("0"), Decimal::new(i64::MIN, 0)), None);
        assert_eq!(
            mean(&[d("4329"), d("4529")]).unwrap().to_string(),
            "4429.000"
        );
        assert_eq!(
            mean(&[d("1"), d("2"), d("2")]).unwrap().to_string(),
            "1.667"
        );
        assert_eq!(mean(&[]), None);
    }
}
