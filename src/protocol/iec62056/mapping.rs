//! Data sets → a normalised [`Reading`].
//!
//! Known codes map to quantities; every other data set, historical values (`6.8*01`) and
//! values that cannot be mapped are kept in `Reading::raw` exactly as sent, so nothing is lost.
//! A value that is not a number where a number is expected (the Ultraheat `_error_` capture's
//! `6.8(032A.062*MWh)`) is not an error of the data message: IEC 62056-21 §6.3 allows any
//! printable value text, and the message's BCC is intact. It is reported as a
//! [`MappingIssue`], kept raw, and its quantity is left out of the reading, so a bad register
//! never blanks the meter's other values and is never published as a number.

use std::fmt;

use super::dataset::DataSet;
use super::ident::{Identification, Mode};
use super::profile::Profile;
use super::units::{convert, parse_unit};
use crate::decimal::Decimal;
use crate::reading::heat as heat_q;
use crate::reading::{q, MeterInfo, MeterKind, Quantity, RawField, Reading, Unit};
use crate::time::Timestamp;

/// Something in the readout that could not be published as a quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingIssue {
    NotANumber {
        code: String,
        value: String,
    },
    MissingUnit {
        code: String,
    },
    UnitMismatch {
        code: String,
        unit: String,
        expected: Unit,
    },
}

impl fmt::Display for MappingIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MappingIssue::NotANumber { code, value } => {
                write!(f, "{code}: value {value:?} is not a number (kept raw)")
            }
            MappingIssue::MissingUnit { code } => write!(f, "{code}: no unit sent (kept raw)"),
            MappingIssue::UnitMismatch {
                code,
                unit,
                expected,
            } => write!(
                f,
                "{code}: unit {unit:?} cannot be converted to {expected} (kept raw)"
            ),
        }
    }
}

/// The reading of one readout and what could not be mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub reading: Reading,
    pub issues: Vec<MappingIssue>,
}

/// `A-B:C.D.E*F` → (`C.D.E`, is-current). `*255`/`*FF` is the current value (OBIS); any other
/// `*n` is a historical (billing period) value (`6.8*01`, Kamstrup 382 `1.6*1`).
pub fn split_address(addr: &str) -> (&str, bool) {
    let no_medium = addr.rsplit_once(':').map_or(addr, |(_, r)| r);
    match no_medium.split_once('*') {
        Some((base, f)) => (base, f == "255" || f.eq_ignore_ascii_case("FF")),
        None => (no_medium, true),
    }
}

/// What a code maps to: fixed quantity and unit, or the meter's own energy unit.
enum Target {
    Fixed(Quantity),
    HeatEnergy,
    /// Two `&` sub-values (Ultraheat 9.4).
    Pair(Quantity, Quantity),
}

/// The code table. Heat codes: Landis+Gyr Ultraheat readout (corpus UH50/T550 and the
/// `ascii_vectors.json` `ultraheat.expect`: 6.8 energy, 6.26 volume, 6.31 hours, 9.4 max
/// flow & return temperature, 6.6 max power, 6.33 max flow) and the MULTICAL 401 readout.
/// Electricity: OBIS (IEC 62056-61) 1.8.x import, 2.8.x export, 1.7.0/2.7.0 power.
fn target(code: &str) -> Option<Target> {
    use Target::*;
    Some(match code {
        "6.8" => HeatEnergy,
        "6.26" => Fixed(heat_q::VOLUME),
        "6.31" => Fixed(heat_q::OPERATING_HOURS),
        // The corpus names 9.4 "max flow/return temp"; publishing maxima as the current
        // temperatures would mislead, so they get their own keys.
        "9.4" => Pair(heat_q::TEMPERATURE_FLOW_MAX, heat_q::TEMPERATURE_RETURN_MAX),
        "6.6" => Fixed(heat_q::PEAK_POWER),
        "6.33" => Fixed(heat_q::PEAK_FLOW),
        "1.8.0" => Fixed(q::ENERGY_IMPORT_TOTAL),
        "1.8.1" => Fixed(q::ENERGY_IMPORT_T1),
        "1.8.2" => Fixed(q::ENERGY_IMPORT_T2),
        "2.8.0" => Fixed(q::ENERGY_EXPORT_TOTAL),
        "2.8.1" => Fixed(q::ENERGY_EXPORT_T1),
        "2.8.2" => Fixed(q::ENERGY_EXPORT_T2),
        "1.7.0" => Fixed(q::POWER_IMPORT),
        "2.7.0" => Fixed(q::POWER_EXPORT),
        _ => return None,
    })
}

/// Codes that carry the meter's serial or customer number, in order of preference: OBIS
/// 0.0.0 (382C), 0.0 (MULTICAL 401 customer number, 382, Ultraheat), 9.21 (Ultraheat).
const SERIAL_CODES: [&str; 3] = ["0.0.0", "0.0", "9.21"];

fn is_heat_code(code: &str) -> bool {
    code.starts_with("6.") || code == "9.4"
}

/// The value of `sub` in `to`, or the issue that prevents it.
fn value_in(
    code: &str,
    sub: &super::SubValue,
    to: Option<Unit>,
) -> Result<(Decimal, Unit), MappingIssue> {
    let v = Decimal::parse(&sub.value).map_err(|_| MappingIssue::NotANumber {
        code: code.into(),
        value: sub.value.clone(),
    })?;
    let unit_text = sub
        .unit
        .as_deref()
        .ok_or(MappingIssue::MissingUnit { code: code.into() })?;
    let mismatch = |expected| MappingIssue::UnitMismatch {
        code: code.into(),
        unit: unit_text.into(),
        expected,
    };
    let from = parse_unit(unit_text);
    match (from, to) {
        (Some(f), Some(t)) => convert(v, f, t).map(|x| (x, t)).ok_or(mismatch(t)),
        (Some(f), None)
            if matches!(f, Unit::GJ | Unit::KWh | Unit::MWh | Unit::Gcal | Unit::MJ) =>
        {
            Ok((v, f))
        }
        (_, t) => Err(mismatch(t.unwrap_or(Unit::GJ))),
    }
}

/// Map a readout's data sets. `fallback_id` names the meter when it sends no serial.
pub fn map_readout(
    ident: &Identification,
    sets: &[DataSet],
    profile: Profile,
    fallback_id: &str,
    now: Timestamp,
) -> Mapped {
    let serial = SERIAL_CODES.iter().find_map(|want| {
        sets.iter().find_map(|s| {
            let (code, current) = split_address(&s.address);
            let v = s.values.first()?.value.trim();
            (current && code == *want && !v.is_empty()).then(|| v.to_string())
        })
    });
    let kind = profile.kind().unwrap_or_else(|| {
        if sets
            .iter()
            .any(|s| is_heat_code(split_address(&s.address).0))
        {
            MeterKind::Heat
        } else {
            MeterKind::Electricity
        }
    });
    let id = match &serial {
        Some(s) => format!("{}_{}", ident.manufacturer.to_ascii_lowercase(), s),
        None => fallback_id.to_string(),
    };
    let mut info = MeterInfo::new(id, kind);
    info.manufacturer = Some(ident.manufacturer_name());
    info.model = Some(match profile.model() {
        Some(m) if !ident.ident.is_empty() => format!("{m} ({})", ident.ident),
        Some(m) => m.to_string(),
        None => ident.ident.clone(),
    });
    info.serial = serial;
    let mode = match ident.baud_code.mode() {
        Mode::A => "A",
        Mode::B => "B",
        Mode::C => "C",
    };
    info.protocol = Some(format!("IEC 62056-21 mode {mode}"));
    let mut r = Reading::new(info, now);
    let mut issues = Vec::new();
    for set in sets {
        let (code, current) = split_address(&set.address);
        let mapped = match (current, target(code)) {
            (true, Some(t)) => push_target(&mut r, code, set, t),
            _ => Ok(false),
        };
        match mapped {
            Ok(true) => {}
            Ok(false) => r.raw.push(raw(set)),
            Err(issue) => {
                issues.push(issue);
                r.raw.push(raw(set));
            }
        }
    }
    Mapped { reading: r, issues }
}

/// Push the quantities of one data set; `Ok(false)` if the key is already there.
fn push_target(
    r: &mut Reading,
    code: &str,
    set: &DataSet,
    t: Target,
) -> Result<bool, MappingIssue> {
    let first = set.values.first();
    match (t, first) {
        (_, None) => Ok(false),
        (Target::Fixed(qty), Some(sub)) => {
            if r.get(&qty.key).is_some() {
                return Ok(false);
            }
            let (v, _) = value_in(code, sub, Some(qty.unit))?;
            r.push_number(qty, v);
            Ok(true)
        }
        (Target::HeatEnergy, Some(sub)) => {
            if r.get("heat_energy").is_some() {
                return Ok(false);
            }
            let (v, unit) = value_in(code, sub, None)?;
            r.push_number(heat_q::heat_energy(unit), v);
            Ok(true)
        }
        (Target::Pair(a, b), Some(sub_a)) => {
            let Some(sub_b) = set.values.get(1) else {
                return Ok(false);
            };
            if r.get(&a.key).is_some() {
                return Ok(false);
            }
            let (va, _) = value_in(code, sub_a, Some(a.unit))?;
            let (vb, _) = value_in(code, sub_b, Some(b.unit))?;
            r.push_number(a, va);
            r.push_number(b, vb);
            Ok(true)
        }
    }
}

fn raw(set: &DataSet) -> RawField {
    RawField {
        code: set.address.clone(),
        value: set.value_text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(split_address("1-0:1.8.0*255"), ("1.8.0", true));
        assert_eq!(split_address("6.8*01"), ("6.8", false));
        assert_eq!(split_address("1.6*1"), ("1.6", false));
        assert_eq!(split_address("0.0"), ("0.0", true));
    }
}
