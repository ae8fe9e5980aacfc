//! Where the decimal point goes in `/#1` fields: program number A-B-CCC or configuration.
//!
//! MULTICAL 66C manual 5511-634 §2.2 and MULTICAL 401 manual 5512-091 §3.2 "PROG (A-B-CCC)":
//! A = flow sensor position (3 flow pipe, 4 return pipe), B = energy unit (2 GJ, 3 kWh, 4 MWh,
//! 5 Gcal), CCC = flow sensor coding, which fixes the number of decimals shown for energy,
//! volume, flow and power. Peers disagree on the decimals (GJ/100 vs GJ/1000), so this module
//! never guesses: a CCC code is only in [`CCC_TABLE`] when its decimals are backed by a source,
//! and every other code makes [`Scaling::from_program`] fail with the way to configure it.

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

/// Unit of the flow fields: small meters show l/h, large ones m³/h (CCC table columns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
pub enum FlowUnit {
    #[serde(rename = "l/h")]
    LiterPerHour,
    #[serde(rename = "m3/h")]
    CubicMeterPerHour,
}

/// How to turn `/#1` integers into values. Users whose CCC code is not in [`CCC_TABLE`] give
/// this in the configuration: the decimals are the ones the meter's own display shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Scaling {
    pub energy_unit: EnergyUnit,
    pub energy_decimals: u8,
    pub volume_decimals: u8,
    pub flow_unit: FlowUnit,
    pub flow_decimals: u8,
    /// Power is in kW on these meters (CCC table column "kW").
    pub power_decimals: u8,
    /// `/#C` pressures P1/P2 in bar: no source gives their resolution, so they are only
    /// published when this is configured (otherwise kept raw).
    #[serde(default)]
    pub pressure_decimals: Option<u8>,
}

/// The decimals one CCC code gives each column of the manual's table. `None` where the
/// table has "-" (combination not allowed) or where no source confirms the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CccRow {
    pub ccc: u16,
    pub kwh: Option<u8>,
    pub mwh: Option<u8>,
    pub gj: Option<u8>,
    pub gcal: Option<u8>,
    pub m3: u8,
    pub flow_unit: FlowUnit,
    pub flow: u8,
    pub kw: u8,
    /// Where this row comes from.
    pub source: &'static str,
}

/// CCC codes with decimals backed by a source. Deliberately short: the MC66C/401 CCC table is
/// only available to us as PDF text extraction, and a wrong row publishes values off by a
/// factor of 10. Add rows only with a capture that checks them.
pub const CCC_TABLE: &[CccRow] = &[CccRow {
    ccc: 119,
    kwh: Some(0),
    mwh: Some(3),
    gj: Some(2),
    // Gcal shares the MWh column in Kamstrup's later tables (MC603 5512-2029 §3.2.3) but the
    // 66C table is not confirmed for it: configure Gcal meters explicitly.
    gcal: None,
    m3: 2,
    flow_unit: FlowUnit::LiterPerHour,
    flow: 0,
    kw: 1,
    source: "MC66C manual 5511-634 CCC table, qp 1.5 ULTRAFLOW II (shared corpus \
             ascii_vectors.json mc66c_hash1); checked on the real capture: \
             79 l/h x 34.45 K x 1.16 Wh/(l K) = 3.16 kW vs power 3.1 kW, and \
             12966.26 m3 x ~34 K x 1.16 kWh/(m3 K) ~ 511 MWh vs energy 507.109 MWh",
}];

/// Why no scaling could be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScalingError {
    #[error(
        "the /#1 reply has no decimal point and no unit, and neither the meter's program number \
         (from /#2) nor a configured scaling is known: configure `scaling` (energy_unit, \
         energy_decimals, volume_decimals, flow_unit, flow_decimals, power_decimals as shown \
         on the meter's display) or let the session read /#2"
    )]
    NotConfigured,
    #[error("program number {0}: energy unit code B={1} is not one of 2 GJ, 3 kWh, 4 MWh, 5 Gcal")]
    UnknownEnergyUnit(ProgramNumber, u8),
    #[error(
        "program number {0}: CCC {1:03} is not in the built-in table (rows are only added when a \
         source confirms them): configure `scaling` with the decimals the meter's display shows"
    )]
    UnknownCcc(ProgramNumber, u16),
    #[error(
        "program number {0}: the table has no {1:?} decimals for CCC {2:03}: configure `scaling`"
    )]
    UnitNotInTable(ProgramNumber, EnergyUnit, u16),
}

impl Scaling {
    /// Scaling from the meter's program number, or why not.
    pub fn from_program(p: ProgramNumber) -> Result<Scaling, ScalingError> {
        let energy_unit = EnergyUnit::from_b(p.b).ok_or(ScalingError::UnknownEnergyUnit(p, p.b))?;
        let row = CCC_TABLE
            .iter()
            .find(|r| r.ccc == p.ccc)
            .ok_or(ScalingError::UnknownCcc(p, p.ccc))?;
        let energy_decimals = match energy_unit {
            EnergyUnit::KWh => row.kwh,
            EnergyUnit::MWh => row.mwh,
            EnergyUnit::Gj => row.gj,
            EnergyUnit::Gcal => row.gcal,
        }
        .ok_or(ScalingError::UnitNotInTable(p, energy_unit, p.ccc))?;
        Ok(Scaling {
            energy_unit,
            energy_decimals,
            volume_decimals: row.m3,
            flow_unit: row.flow_unit,
            flow_decimals: row.flow,
            power_decimals: row.kw,
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
        let p = ProgramNumber::parse("0042107").unwrap();
        let e = Scaling::from_program(p).unwrap_err();
        assert!(e.to_string().contains("configure `scaling`"), "{e}");
        assert_eq!(
            Scaling::resolve(None, None),
            Err(ScalingError::NotConfigured)
        );
    }
}
