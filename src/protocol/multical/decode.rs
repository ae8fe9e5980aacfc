//! `/#1`, `/#2`, `/#C` replies → a normalised [`Reading`].

use super::reply::{Hash1, Hash2, HashC};
use super::scaling::{ProgramNumber, Scaling, ScalingError};
use crate::decimal::Decimal;
use crate::protocol::iec62056::units::convert;
use crate::reading::heat as heat_q;
use crate::reading::{MeterInfo, MeterKind, RawField, Reading, Unit};
use crate::time::Timestamp;

/// What a meter told about itself in `/#2`, kept by the caller between polls (like an identity
/// cache) so `/#2` need not be read every time: the program number is sealed (manual
/// 5511-634 §2.2), the customer number rarely changes. Read it again when stale (e.g. daily).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MulticalIdentity {
    pub customer: String,
    pub program: ProgramNumber,
}

impl MulticalIdentity {
    pub fn from_hash2(h: &Hash2) -> Self {
        MulticalIdentity {
            customer: h.customer.clone(),
            program: h.program,
        }
    }
}

/// The replies of one poll.
#[derive(Clone, Copy, Debug)]
pub struct Replies<'a> {
    pub hash1: &'a Hash1,
    pub hash2: Option<&'a Hash2>,
    pub hash_c: Option<&'a HashC>,
}

/// A decoded poll: the reading and the scaling that was used (for the log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub reading: Reading,
    pub scaling: Scaling,
}

/// The meter identity: `multical_<customer number>` when `/#2` (or the caller's cache) gave the
/// customer number, else the caller's fallback id.
pub fn heat_meter_info(customer: Option<&str>, fallback_id: &str) -> MeterInfo {
    let mut info = match customer {
        Some(c) => MeterInfo::new(format!("multical_{c}"), MeterKind::Heat),
        None => MeterInfo::new(fallback_id, MeterKind::Heat),
    };
    info.manufacturer = Some("Kamstrup".into());
    info.model = Some("MULTICAL 401/66C".into());
    info.serial = customer.map(str::to_owned);
    info.protocol = Some("Kamstrup /#n".into());
    info
}

/// A field value with `decimals` decimals: exact (`Decimal::new(mantissa, -decimals)`); a
/// negative count (the CCC table's "x10") multiplies.
fn scaled(raw: u64, decimals: i8) -> Decimal {
    // Fields are at most 11 digits (checked by the reply parser), so they fit an i64. The
    // decimals come from the CCC table (-1 to 3) or configuration: clamped so that negating
    // them cannot overflow and the value stays printable.
    Decimal::new(raw as i64, -decimals.clamp(-18, 18))
}

/// Flow in the `flow` key's unit (m³/h, see `crate::reading::heat::FLOW`: the one
/// `volume_flow_rate` unit every supported Home Assistant accepts), converted exactly from the
/// meter's flow unit (l/h on household meters: 245 l/h → 0.245).
fn flow_m3h(raw: u64, s: &Scaling) -> Option<Decimal> {
    convert(
        scaled(raw, s.flow_decimals),
        s.flow_unit.unit(),
        Unit::CubicMeterPerHour,
    )
}

/// Power in the `power` key's unit (kW), converted exactly from the meter's kW or MW.
fn power_kw(raw: u64, s: &Scaling) -> Option<Decimal> {
    convert(scaled(raw, s.power_decimals), s.power_unit.unit(), Unit::KW)
}

/// Build the reading. Scaling comes from `configured` or else `/#2`'s program number (or the
/// `known` identity's); with neither this fails with [`ScalingError::NotConfigured`], which says
/// how to configure it. Temperatures are always 0.01 °C (manual 5511-634; the capture checks:
/// 68.11 − 33.66 = 34.45).
pub fn decode(
    replies: Replies<'_>,
    configured: Option<&Scaling>,
    known: Option<&MulticalIdentity>,
    fallback_id: &str,
    now: Timestamp,
) -> Result<Decoded, ScalingError> {
    let Replies {
        hash1,
        hash2,
        hash_c,
    } = replies;
    let program = hash2.map(|h| h.program).or(known.map(|k| k.program));
    let s = Scaling::resolve(configured, program)?;
    let customer = hash2
        .map(|h| h.customer.as_str())
        .or(known.map(|k| k.customer.as_str()));
    let mut r = Reading::new(heat_meter_info(customer, fallback_id), now);
    let centi = |raw: u64| scaled(raw, 2);
    r.push_number(
        heat_q::heat_energy(s.energy_unit.unit()),
        scaled(hash1.energy, s.energy_decimals),
    );
    r.push_number(heat_q::VOLUME, scaled(hash1.volume, s.volume_decimals));
    r.push_number(
        heat_q::OPERATING_HOURS,
        Decimal::from_int(hash1.hours as i64),
    );
    r.push_number(heat_q::TEMPERATURE_FLOW, centi(hash1.t1));
    r.push_number(heat_q::TEMPERATURE_RETURN, centi(hash1.t2));
    r.push_number(heat_q::TEMPERATURE_DIFFERENCE, centi(hash1.t1_t2));
    if let Some(p) = power_kw(hash1.power, &s) {
        r.push_number(heat_q::POWER, p);
    }
    if let Some(f) = flow_m3h(hash1.flow, &s) {
        r.push_number(heat_q::FLOW, f);
    }
    if let Some(p) = power_kw(hash1.peak_power, &s) {
        r.push_number(heat_q::PEAK_POWER, p);
    }
    r.push_number(heat_q::INFO_CODE, Decimal::from_int(hash1.info as i64));
    if let Some(c) = hash_c {
        r.push_number(heat_q::TEMPERATURE_T3, centi(c.t3));
        if let Some(f) = flow_m3h(c.flow2, &s) {
            r.push_number(heat_q::FLOW_V2, f);
        }
        match s.pressure_decimals {
            Some(d) => {
                // At most 18 (as `scaled` clamps), so the cast keeps the value.
                let d = d.min(18) as i8;
                r.push_number(heat_q::PRESSURE_P1, scaled(c.p1, d));
                r.push_number(heat_q::PRESSURE_P2, scaled(c.p2, d));
            }
            None => {
                raw(&mut r, "/#C P1", c.p1);
                raw(&mut r, "/#C P2", c.p2);
            }
        }
    }
    if let Some(h) = hash2 {
        r.raw.push(RawField {
            code: "/#2 program".into(),
            value: h.program.to_string(),
        });
        for (code, v) in [
            ("/#2 TA2", h.ta2),
            ("/#2 TL2", h.tl2),
            ("/#2 TA3", h.ta3),
            ("/#2 TL3", h.tl3),
            ("/#2 In-A", h.input_a),
            ("/#2 In-B", h.input_b),
        ] {
            raw(&mut r, code, v);
        }
        r.raw.push(RawField {
            code: "/#2 config".into(),
            value: h.config.clone(),
        });
        r.raw.push(RawField {
            code: "/#2 date".into(),
            value: h.date.clone(),
        });
    }
    Ok(Decoded {
        reading: r,
        scaling: s,
    })
}

fn raw(r: &mut Reading, code: &str, v: u64) {
    r.raw.push(RawField {
        code: code.into(),
        value: format!("{v:07}"),
    });
}
