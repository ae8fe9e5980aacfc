//! The CCC table: how many decimals the meter shows (and sends in `/#1`) for each flow sensor
//! code CCC of the program number A-B-CCC.
//!
//! Source: Kamstrup, *MULTICAL® Type 66-CDE Technical Description*, 5511-634 GB/06.2006/Rev. C1,
//! §2.2.1 "CCC-Table for MULTICAL® Type 66-CDE" (pp. 19–21), columns "Number of decimals
//! displayed": kWh, MWh/Gcal (one column), GJ, m³, l/h, m³/h, kW, MW. §4 of the same document
//! (p. 33, note 1) says the `/#n` data strings carry no units and no decimal point and that
//! their placing "can be seen in the CCC-table", which is why the display decimals are the
//! `/#1` decimals. The real MC66C capture (`tests/fixtures/iec62056/mc66c_kenanv_demo_output.txt`,
//! program 4-4-119) checks this for CCC 119: 79 l/h × 34.45 K × 1.16 Wh/(l·K) = 3.16 kW against
//! the power field's 3.1 kW.
//!
//! The MULTICAL 401 technical description 5512-091 §3.2 has its own CCC table; it could not be
//! read here, so no row is backed by it. The 401 speaks the same `/#n` strings as the 66C; where
//! a 401's CCC code would mean other decimals than the 66C's, configure `scaling`.
//!
//! The manual's table has one line per flow sensor type, and many codes appear in several of
//! its sub-tables (116, 119, 136, 147, ...), always with the same decimals. The rows here group
//! the codes by their decimals, so each code is in exactly one row (a unit test checks this);
//! `section` names the sub-tables a row's codes come from.

use super::scaling::{FlowUnit, PowerUnit};

/// Codes whose display counts in tens ("x10" in the manual's GJ and m³ columns for the
/// largest flow sensors) have `-1` decimals.
pub const TENS: i8 = -1;

/// The decimals one group of CCC codes shows. `None` where the manual's cell is blank: that
/// energy unit is not available for that flow sensor size (7 digits would overflow or lose
/// the resolution the type approval requires).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CccRow {
    pub codes: &'static [u16],
    pub kwh: Option<i8>,
    /// The manual's "MWh Gcal" column: both units share it.
    pub mwh_gcal: Option<i8>,
    pub gj: Option<i8>,
    pub m3: i8,
    /// Flow is shown in l/h (small meters) or m³/h (large ones): the column with a value.
    pub flow_unit: FlowUnit,
    pub flow: i8,
    /// Power is shown in kW or MW: the column with a value.
    pub power_unit: PowerUnit,
    pub power: i8,
    /// The sub-tables of 5511-634 §2.2.1 the codes come from.
    pub section: &'static str,
}

use FlowUnit::{CubicMeterPerHour as M3H, LiterPerHour as LH};
use PowerUnit::{Kw, Mw};

/// All codes of 5511-634 §2.2.1, grouped by decimals.
pub const CCC_TABLE: &[CccRow] = &[
    CccRow {
        codes: &[
            102, 103, 108, 109, 110, 111, 112, 115, 116, 117, 118, 119, 121, 122, 123, 124, 125,
            126, 132, 133, 134, 136, 138, 139, 156, 163, 164, 165, 183, 185, 197, 198,
        ],
        kwh: Some(0),
        mwh_gcal: Some(3),
        gj: Some(2),
        m3: 2,
        flow_unit: LH,
        flow: 0,
        power_unit: Kw,
        power: 1,
        section: "§2.2.1.1 ULTRAFLOW II, §2.2.1.2 ULTRAFLOW 65-X, §2.2.1.3 test codes, \
                  §2.2.1.6 vane wheel meters (qp 0.6 to 3.0 m³/h)",
    },
    CccRow {
        codes: &[
            104, 105, 106, 113, 114, 120, 127, 128, 129, 130, 131, 135, 137, 140, 141, 151, 152,
            153, 157, 168, 178, 179,
        ],
        kwh: None,
        mwh_gcal: Some(2),
        gj: Some(1),
        m3: 1,
        flow_unit: LH,
        flow: 0,
        power_unit: Kw,
        power: 1,
        section: "§2.2.1.1, §2.2.1.2, §2.2.1.6 (qp 3.5 to 25 m³/h)",
    },
    CccRow {
        codes: &[158, 169],
        kwh: None,
        mwh_gcal: Some(1),
        gj: Some(0),
        m3: 0,
        flow_unit: M3H,
        flow: 2,
        power_unit: Kw,
        power: 0,
        section: "§2.2.1.1, §2.2.1.2, §2.2.1.6 (qp 40 m³/h)",
    },
    CccRow {
        codes: &[144, 145, 146, 147, 148, 170, 175, 176, 177, 180, 181],
        kwh: None,
        mwh_gcal: Some(1),
        gj: Some(0),
        m3: 0,
        flow_unit: M3H,
        flow: 2,
        power_unit: Mw,
        power: 3,
        section: "§2.2.1.1, §2.2.1.2, §2.2.1.5 passive output, §2.2.1.6 (qp 25 to 300 m³/h)",
    },
    CccRow {
        codes: &[166, 167, 171, 172, 182],
        kwh: None,
        mwh_gcal: Some(0),
        gj: Some(TENS),
        m3: TENS,
        flow_unit: M3H,
        flow: 1,
        power_unit: Mw,
        power: 2,
        section: "§2.2.1.1, §2.2.1.2, §2.2.1.5 (qp 400 to 3000 m³/h)",
    },
    CccRow {
        codes: &[107, 184, 199],
        kwh: Some(1),
        mwh_gcal: None,
        gj: Some(3),
        m3: 3,
        flow_unit: LH,
        flow: 0,
        power_unit: Kw,
        power: 1,
        section: "§2.2.1.3 test codes (qp 0.6 to 1.5 m³/h)",
    },
    CccRow {
        codes: &[186],
        kwh: None,
        mwh_gcal: Some(2),
        gj: Some(1),
        m3: 1,
        flow_unit: M3H,
        flow: 2,
        power_unit: Kw,
        power: 0,
        section: "§2.2.1.3 test codes (qp 40 m³/h)",
    },
    CccRow {
        codes: &[142, 143, 187, 188, 189],
        kwh: None,
        mwh_gcal: Some(2),
        gj: Some(1),
        m3: 1,
        flow_unit: M3H,
        flow: 2,
        power_unit: Mw,
        power: 3,
        section: "§2.2.1.3 test codes, §2.2.1.6 (qp 10 to 150 m³/h)",
    },
    CccRow {
        codes: &[5, 173, 191, 192, 193],
        kwh: None,
        mwh_gcal: Some(1),
        gj: Some(0),
        m3: 0,
        flow_unit: M3H,
        flow: 1,
        power_unit: Mw,
        power: 2,
        section: "§2.2.1.3 test codes, §2.2.1.4 Reed contact, §2.2.1.6 (Qmax 60 to 1000 m³/h)",
    },
    CccRow {
        codes: &[0, 1],
        kwh: None,
        mwh_gcal: Some(3),
        gj: Some(2),
        m3: 2,
        flow_unit: M3H,
        flow: 2,
        power_unit: Mw,
        power: 3,
        section: "§2.2.1.4 mechanical flow meters with Reed contact (Qmax 3 to 6 m³/h)",
    },
    CccRow {
        codes: &[2],
        kwh: None,
        mwh_gcal: Some(3),
        gj: Some(2),
        m3: 2,
        flow_unit: M3H,
        flow: 1,
        power_unit: Mw,
        power: 2,
        section: "§2.2.1.4 Reed contact (Qmax 30 m³/h)",
    },
    CccRow {
        codes: &[3, 4],
        kwh: None,
        mwh_gcal: Some(2),
        gj: Some(1),
        m3: 1,
        flow_unit: M3H,
        flow: 1,
        power_unit: Mw,
        power: 2,
        section: "§2.2.1.4 Reed contact (Qmax 30 to 60 m³/h)",
    },
    CccRow {
        codes: &[6],
        kwh: None,
        mwh_gcal: Some(2),
        gj: Some(1),
        m3: 1,
        flow_unit: M3H,
        flow: 0,
        power_unit: Mw,
        power: 1,
        section: "§2.2.1.4 Reed contact (Qmax 300 m³/h)",
    },
    CccRow {
        codes: &[7, 8],
        kwh: None,
        mwh_gcal: Some(1),
        gj: Some(0),
        m3: 0,
        flow_unit: M3H,
        flow: 0,
        power_unit: Mw,
        power: 1,
        section: "§2.2.1.4 Reed contact (Qmax 600 to 2500 m³/h)",
    },
    CccRow {
        codes: &[9],
        kwh: Some(0),
        mwh_gcal: Some(3),
        gj: Some(2),
        m3: 2,
        flow_unit: M3H,
        flow: 2,
        power_unit: Mw,
        power: 3,
        section: "§2.2.1.4 Reed contact (Qmax 1.5 m³/h)",
    },
];

/// The row holding `ccc`, if the table has it.
pub fn lookup(ccc: u16) -> Option<&'static CccRow> {
    CCC_TABLE.iter().find(|r| r.codes.contains(&ccc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_one_row_only() {
        let mut seen = std::collections::BTreeSet::new();
        for r in CCC_TABLE {
            for c in r.codes {
                assert!(seen.insert(*c), "CCC {c:03} is in two rows");
            }
        }
        // 5511-634 §2.2.1 lists 95 distinct codes.
        assert_eq!(seen.len(), 95);
    }

    #[test]
    fn the_capture_meters_code() {
        let r = lookup(119).unwrap();
        assert_eq!(
            (r.kwh, r.mwh_gcal, r.gj, r.m3),
            (Some(0), Some(3), Some(2), 2)
        );
        assert_eq!((r.flow_unit, r.flow, r.power_unit, r.power), (LH, 0, Kw, 1));
        assert_eq!(lookup(190), None);
    }
}
