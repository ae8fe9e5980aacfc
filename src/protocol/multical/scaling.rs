//! Where the decimal point goes in `/#1` fields: program number A-B-CCC or configuration.
//!
//! MULTICAL 66C manual 5511-634 §2.2 "Prog., A-B-CCC-CCC" (p. 18): A = flow sensor position
//! (3 flow pipe, 4 return pipe), B = energy unit (2 GJ, 3 kWh, 4 MWh, 5 Gcal), CCC = flow
//! sensor coding, which fixes the number of decimals shown for energy, volume, flow and power.
//! The MULTICAL 401 manual 5512-091 has the same program number in its §3.2 "PROG (A-B-CCC)"
//! (its table of contents); that section's table could not be consulted (see [`super::ccc`]). Peers disagree on the decimals (GJ/100 vs GJ/1000), so this module
//! never guesses: the decimals come from the manual's CCC table ([`super::ccc`]), and a code
//! that is not in it makes [`Scaling::from_program`] fail with the code and the way to
//! configure it.

use super::ccc;
use crate::reading::Unit;

/// The meter's program number A-B-CCC as sent in `/#2` field 8 (`0044119` = 4-4-119).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgramNumber {
    pub a: u8,
    pub b: u8,
    pub ccc: u16,
}

impl ProgramNumber {
    /// Parse the 7-digit `/#2` field `00ABCCC` (also accepts the bare `ABCCC`).
    pub fn parse(s: &str) -> Option<Self> {
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let s = match s.len() {
            7 if s.starts_with("00") => s.get(2..)?,
            5 => s,
            _ => return None,
        };
        let d: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
        match d.as_slice() {
            [a, b, c1, c2, c3] => Some(ProgramNumber {
                a: *a,
                b: *b,
                ccc: *c1 as u16 * 100 + *c2 as u16 * 10 + *c3 as u16,
            }),
            _ => None,
        }
    }
}

impl ProgramNumber {
    /// The 7-digit `/#2` field `00ABCCC` for this program number (what a meter sends; the
    /// simulator uses it). Digits above 9 in `a` or `b` are not a program number and give a
    /// field that [`ProgramNumber::parse`] rejects.
    pub fn hash2_field(&self) -> String {
        format!("00{}{}{:03}", self.a, self.b, self.ccc)
    }
}

impl std::fmt::Display for ProgramNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{:03}", self.a, self.b, self.ccc)
    }
}

/// Energy unit, from the B digit (manual 5511-634 §2.2: 2 GJ, 3 kWh, 4 MWh, 5 Gcal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub enum EnergyUnit {
    #[serde(rename = "GJ")]
    Gj,
    #[serde(rename = "kWh")]
    KWh,
    #[serde(rename = "MWh")]
    MWh,
    #[serde(rename = "Gcal")]
    Gcal,
}

impl EnergyUnit {
    pub fn from_b(b: u8) -> Option<Self> {
        match b {
            2 => Some(EnergyUnit::Gj),
            3 => Some(EnergyUnit::KWh),
            4 => Some(EnergyUnit::MWh),
            5 => Some(EnergyUnit::Gcal),
            _ => None,
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            EnergyUnit::Gj => Unit::GJ,
            EnergyUnit::KWh => Unit::KWh,
            EnergyUnit::MWh => Unit::MWh,
            EnergyUnit::Gcal => Unit::Gcal,
        }
    }
}

impl std::fmt::Display for EnergyUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.unit().as_str())
    }
}

/// Unit of the flow fields: small meters show l/h, large ones m³/h (CCC table columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub enum FlowUnit {
    #[serde(rename = "l/h")]
    LiterPerHour,
    #[serde(rename = "m3/h")]
    CubicMeterPerHour,
}

impl FlowUnit {
    pub fn unit(self) -> Unit {
        match self {
            FlowUnit::LiterPerHour => Unit::LiterPerHour,
            FlowUnit::CubicMeterPerHour => Unit::CubicMeterPerHour,
        }
    }
}

/// Unit of the power fields: kW up to qp 40 m³/h, MW for larger flow sensors (the CCC
/// table's kW and MW columns, 5511-634 §2.2.1).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize,
)]
pub enum PowerUnit {
    #[default]
    #[serde(rename = "kW")]
    Kw,
    #[serde(rename = "MW")]
    Mw,
}

impl PowerUnit {
    pub fn unit(self) -> Unit {
        match self {
            PowerUnit::Kw => Unit::KW,
            PowerUnit::Mw => Unit::MW,
        }
    }
}

/// How to turn `/#1` integers into values. Users whose CCC code is not in the table give
/// this in the configuration: the decimals are the ones the meter's own display shows. A
/// negative count means the display counts in tens (the table's "x10", `-1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Scaling {
    pub energy_unit: EnergyUnit,
    pub energy_decimals: i8,
    pub volume_decimals: i8,
    pub flow_unit: FlowUnit,
    pub flow_decimals: i8,
    /// kW unless configured (every configuration written before MW rows existed meant kW).
    #[serde(default)]
    pub power_unit: PowerUnit,
    pub power_decimals: i8,
    /// `/#C` pressures P1/P2 in bar: no source gives their resolution, so they are only
    /// published when this is configured (otherwise kept raw).
    #[serde(default)]
    pub pressure_decimals: Option<u8>,
}

/// Why no scaling could be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScalingError {
    #[error(
        "the /#1 reply has no decimal point and no unit, and neither the meter's program number \
         (from /#2) nor a configured scaling is known: configure `scaling` (energy_unit, \
         energy_decimals, volume_decimals, flow_unit, flow_decimals, power_unit, power_decimals \
         as shown on the meter's display) or let the session read /#2"
    )]
    NotConfigured,
    #[error("program number {0}: energy unit code B={1} is not one of 2 GJ, 3 kWh, 4 MWh, 5 Gcal")]
    UnknownEnergyUnit(ProgramNumber, u8),
    #[error(
        "program number {0}: CCC {1:03} is not in the built-in CCC table (MULTICAL 66C manual \
         5511-634 §2.2.1): configure `scaling` with the decimals the meter's display shows"
    )]
    UnknownCcc(ProgramNumber, u16),
    #[error(
        "program number {0}: the CCC table (5511-634 §2.2.1) has no {1} decimals for CCC {2:03} \
         (a blank cell: the meter does not offer that unit with this code): check the program \
         number, or configure `scaling` with the decimals the meter's display shows"
    )]
    UnitNotInTable(ProgramNumber, EnergyUnit, u16),
}

impl Scaling {
    /// Scaling from the meter's program number, or why not.
    pub fn from_program(p: ProgramNumber) -> Result<Scaling, ScalingError> {
        let energy_unit = EnergyUnit::from_b(p.b).ok_or(ScalingError::UnknownEnergyUnit(p, p.b))?;
        let row = ccc::lookup(p.ccc).ok_or(ScalingError::UnknownCcc(p, p.ccc))?;
        let energy_decimals = match energy_unit {
            EnergyUnit::KWh => row.kwh,
            // One column in the manual's table ("MWh Gcal").
            EnergyUnit::MWh | EnergyUnit::Gcal => row.mwh_gcal,
            EnergyUnit::Gj => row.gj,
        }
        .ok_or(ScalingError::UnitNotInTable(p, energy_unit, p.ccc))?;
        Ok(Scaling {
            energy_unit,
            energy_decimals,
            volume_decimals: row.m3,
            flow_unit: row.flow_unit,
            flow_decimals: row.flow,
            power_unit: row.power_unit,
            power_decimals: row.power,
            pressure_decimals: None,
        })
    }

    /// Configured scaling wins (the user read it off the display); else the program number;
    /// else [`ScalingError::NotConfigured`]. Never a guess.
    pub fn resolve(
        configured: Option<&Scaling>,
        program: Option<ProgramNumber>,
    ) -> Result<Scaling, ScalingError> {
        match (configured, program) {
            (Some(s), _) => Ok(*s),
            (None, Some(p)) => Scaling::from_program(p),
            (None, None) => Err(ScalingError::NotConfigured),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_number_from_hash2_field() {
        let p = ProgramNumber::parse("0044119").unwrap();
        assert_eq!((p.a, p.b, p.ccc), (4, 4, 119));
        assert_eq!(p.to_string(), "4-4-119");
        assert_eq!(ProgramNumber::parse("1044119"), None);
        assert_eq!(ProgramNumber::parse("00441x9"), None);
    }

    #[test]
    fn unknown_ccc_is_an_error_not_a_guess() {
        let p = ProgramNumber::parse("0042190").unwrap();
        let e = Scaling::from_program(p).unwrap_err();
        assert_eq!(e, ScalingError::UnknownCcc(p, 190));
        assert!(e.to_string().contains("CCC 190"), "{e}");
        assert!(e.to_string().contains("configure `scaling`"), "{e}");
        assert_eq!(
            Scaling::resolve(None, None),
            Err(ScalingError::NotConfigured)
        );
    }

    #[test]
    fn configured_scaling_defaults_to_kw_and_takes_tens() {
        // Configurations written before the MW rows have no `power_unit`: they meant kW.
        let old: Scaling = serde_json::from_str(
            r#"{"energy_unit":"GJ","energy_decimals":2,"volume_decimals":2,
                "flow_unit":"l/h","flow_decimals":0,"power_decimals":1}"#,
        )
        .unwrap();
        assert_eq!(old.power_unit, PowerUnit::Kw);
        let big: Scaling = serde_json::from_str(
            r#"{"energy_unit":"GJ","energy_decimals":-1,"volume_decimals":-1,
                "flow_unit":"m3/h","flow_decimals":1,"power_unit":"MW","power_decimals":2}"#,
        )
        .unwrap();
        let p = ProgramNumber::parse("0042172").unwrap();
        assert_eq!(Scaling::from_program(p), Ok(big));
    }
}
