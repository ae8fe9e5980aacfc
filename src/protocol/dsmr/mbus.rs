//! M-Bus sub-meters (`0-n:…`, n = 1..4: DSMR 5.0.2 §6.12) and the e-MUCS peak history.
//!
//! A channel's meaning comes from its device type `0-n:24.1.0` (EN 13757-3 §5.7, table
//! "device type"), never from its number: Belgian meters put water on channel 2, others gas on
//! channel 2 (corpus dsmrreader 17), a Warmtelink heat meter on channel 1 (ndokter 06).

use std::sync::Arc;

use super::identity::Identities;
use super::mapping::Builder;
use super::parser::{self, Object, RawUnit};
use super::quantities as dq;
use super::units::{self, Kind};
use super::warning::TelegramWarning;
use crate::decimal::Decimal;
use crate::reading::{q, sanitize_id, MeterInfo, MeterKind, Quantity, RawField, Reading, Value};

use crate::time::Timestamp;

/// Labels for time warnings (no formatting on the hot path).
const MBUS_TIME: [&str; 6] = [
    "M-Bus channel 0",
    "M-Bus channel 1",
    "M-Bus channel 2",
    "M-Bus channel 3",
    "M-Bus channel 4",
    "M-Bus channel >4",
];

/// Channels kept per telegram (DSMR defines 1..4; junk channel numbers must not allocate).
const MAX_CHANNELS: usize = 8;

/// A value read from a channel, resolved against the device type once the telegram is read.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// `24.2.3` (not temperature-corrected) rather than `24.2.1`.
    uncorrected: bool,
    value: Decimal,
    unit: RawUnit,
}

/// One channel's objects.
#[derive(Debug, Default)]
pub struct Channel<'a> {
    pub n: u8,
    pub device_type: Option<u8>,
    /// The sub-meter's equipment id (`0-n:96.1.0`, or `0-n:96.1.1` on some meters): the last
    /// non-blank one sent, as sent (decoded when the sub-meter's identity is built).
    pub id: Option<&'a [u8]>,
    pub time: Option<Timestamp>,
    /// At most two values per channel (`24.2.1` and `24.2.3`, or a repeat); more are ignored.
    values: [Option<Pending>; 2],
    valve: Option<Decimal>,
    breaker: Option<Decimal>,
    raw: Vec<RawField>,
}

/// The channels of one telegram, in order of appearance (no allocation: at most
/// [`MAX_CHANNELS`]).
#[derive(Debug, Default)]
pub struct Channels<'a> {
    slots: [Option<Channel<'a>>; MAX_CHANNELS],
    len: usize,
}

impl<'a> Channels<'a> {
    /// Channels seen so far.
    pub fn len(&self) -> usize {
        self.len
    }

    fn get(&mut self, n: u8) -> Option<&mut Channel<'a>> {
        let seen = &self.slots[..self.len];
        let i = match seen
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.n == n))
        {
            Some(i) => i,
            None if self.len < MAX_CHANNELS => {
                self.slots[self.len] = Some(Channel {
                    n,
                    ..Channel::default()
                });
                self.len += 1;
                self.len - 1
            }
            None => return None,
        };
        self.slots[i].as_mut()
    }
}

/// EN 13757-3 device types: 0x03 gas; 0x06 warm water, 0x07 water, 0x15 hot water, 0x16 cold
/// water, 0x17 dual water; 0x04 heat (outlet), 0x0C heat (inlet), 0x0D heat/cooling, 0x05 steam
/// (a heat carrier); 0x0A/0x0B cooling (outlet/inlet). The NWA Warmtelink reports 0x04 with GJ
/// (corpus ndokter 06).
pub fn kind(device_type: Option<u8>) -> MeterKind {
    match device_type {
        Some(3) => MeterKind::Gas,
        Some(6 | 7 | 0x15..=0x17) => MeterKind::Water,
        Some(4 | 5 | 0x0C | 0x0D) => MeterKind::Heat,
        Some(0x0A | 0x0B) => MeterKind::Cooling,
        Some(t) => MeterKind::Other(t),
        None => MeterKind::Other(0),
    }
}

/// Map a `0-n:…` object.
pub fn object<'a>(b: &mut Builder<'a>, o: &Object<'a>, n: u8) {
    let (c, d, e) = (o.obis.c, o.obis.d, o.obis.e);
    let mut g = parser::groups(o.values);
    let first = g.clone().next().unwrap_or(&[]);
    let mut time = None;
    let mut pending = None;
    match (c, d, e) {
        // An empty `()` means "no device" (corpus wassasin 03).
        (24, 1, 0) if first.is_empty() => return,
        (24, 1, 0) => {
            return match parser::number(first).and_then(|(d, _)| u8::try_from(d.mantissa()).ok()) {
                Some(t) => with(b, n, |ch| ch.device_type = Some(t)),
                None => b.bad_value(o),
            };
        }
        (96, 1, 0) | (96, 1, 1) => {
            // A blank id (`()`, or hex of spaces) names no device: it must not take one of the
            // channel slots (`tests/dsmr_behaviour.rs` `blank_mbus_ids_take_no_channel_slot`).
            if !parser::is_blank_id(first) {
                with(b, n, |ch| ch.id = Some(first));
            }
            return;
        }
        // `0-n:24.2.1(time)(value*unit)`; e-MUCS `0-n:24.2.3` for uncorrected gas.
        (24, 2, 1) | (24, 2, 3) => {
            let (Some(t), Some(v)) = (g.next(), g.next()) else {
                return b.bad_value(o);
            };
            time = Some(t);
            pending = parser::number(v).map(|(value, unit)| Pending {
                uncorrected: e == 3,
                value,
                unit,
            });
        }
        // DSMR 2.2/3.0 §…: `0-n:24.3.0(time)(08)(60)(1)(0-n:24.2.1)(m3)` then `(value)` on the
        // next line (joined by the lexer).
        (24, 3, 0) => {
            let groups: Vec<&[u8]> = g.by_ref().take(8).collect();
            if let [t, _, _, _, _, unit, v, ..] = groups[..] {
                time = Some(t);
                pending = parser::number(v).map(|(value, u)| Pending {
                    uncorrected: false,
                    value,
                    unit: if u == RawUnit::None {
                        RawUnit::parse(unit)
                    } else {
                        u
                    },
                });
            }
        }
        (24, 4, 0) | (96, 3, 10) => {
            let Some((v, _)) = parser::number(first) else {
                return b.bad_value(o);
            };
            with(b, n, |ch| {
                if c == 24 {
                    ch.valve = Some(v)
                } else {
                    ch.breaker = Some(v)
                }
            });
            return;
        }
        _ => {
            let raw = RawField {
                code: o.obis.to_string(),
                value: String::from_utf8_lossy(&o.values[..o.values.len().min(256)]).into_owned(),
            };
            with(b, n, |ch| {
                if ch.raw.len() < 16 {
                    ch.raw.push(raw)
                }
            });
            return;
        }
    }
    let Some(p) = pending else {
        return b.bad_value(o);
    };
    let t = time.and_then(|t| b.time(t, MBUS_TIME[(n as usize).min(MBUS_TIME.len() - 1)]));
    with(b, n, |ch| {
        if let Some(slot) = ch.values.iter_mut().find(|v| v.is_none()) {
            *slot = Some(p);
        }
        if t.is_some() {
            ch.time = t;
        }
    });
}

fn with<'a>(b: &mut Builder<'a>, n: u8, f: impl FnOnce(&mut Channel<'a>)) {
    match b.channels.get(n) {
        Some(ch) => f(ch),
        None => b.warn(|| TelegramWarning::TooManyChannels { channel: n }),
    }
}

/// The quantity for a channel value, from the device type and the unit sent. `corrected_too`:
/// the channel also sent a temperature-corrected `24.2.1`.
///
/// Belgian e-MUCS gas meters send only `0-n:24.2.3`, the volume not corrected for temperature
/// (corpus ndokter 07/08, dsmrreader 07-11): it is that meter's reading, so it is published as
/// `gas` like every other gas meter's (issue 12 §3: dashboards and flows need no per-country
/// key); `docs/readings.md` says it is not temperature-corrected. Only next to a `24.2.1` does
/// it keep its own key, `gas_uncorrected`. e-MUCS 2.x water meters send their volume as
/// `24.2.3` too (corpus athombv 17): that is `water`.
fn quantity(kind: MeterKind, p: &Pending, corrected_too: bool) -> Option<(Quantity, Kind)> {
    use RawUnit as R;
    let volume = matches!(p.unit, R::M3 | R::Dm3)
        || (p.unit == R::None && !matches!(kind, MeterKind::Heat | MeterKind::Cooling));
    let energy = matches!(p.unit, R::GJ | R::MJ)
        || (p.unit == R::None && matches!(kind, MeterKind::Heat | MeterKind::Cooling));
    Some(match kind {
        MeterKind::Gas if volume && p.uncorrected && corrected_too => {
            (dq::GAS_UNCORRECTED, Kind::Volume)
        }
        // A second, uncorrected volume of a meter that is not a gas meter has no key.
        _ if p.uncorrected && corrected_too => return None,
        MeterKind::Gas if volume => (q::GAS, Kind::Volume),
        MeterKind::Water if volume => (q::WATER, Kind::Volume),
        MeterKind::Cooling if energy => (dq::COOLING_ENERGY, Kind::HeatEnergy),
        _ if energy => (q::HEAT_ENERGY_GJ, Kind::HeatEnergy),
        _ if volume => (dq::VOLUME, Kind::Volume),
        _ => return None,
    })
}

/// What a sub-meter is, by its device type (EN 13757-3, see [`kind`]).
fn sub_meter_model(kind: MeterKind) -> &'static str {
    match kind {
        MeterKind::Gas => "M-Bus gas meter",
        MeterKind::Water => "M-Bus water meter",
        MeterKind::Heat => "M-Bus heat meter",
        MeterKind::Cooling => "M-Bus cooling meter",
        MeterKind::Electricity => "M-Bus electricity meter",
        MeterKind::Other(_) => "M-Bus meter",
    }
}

/// The identity of the sub-meter on channel `n`: its own id (`serial`) when it sends one, else
/// one made from the parent's.
fn sub_meter_info(n: u8, serial: Option<String>, kind: MeterKind, parent: &MeterInfo) -> MeterInfo {
    let id = match &serial {
        Some(id) => sanitize_id(id),
        None => {
            // `format!("{}_mbus{}", parent.id, ch.n)` without the formatting machinery.
            let mut id = String::with_capacity(parent.id.len() + 8);
            id.push_str(&parent.id);
            id.push_str("_mbus");
            if n >= 100 {
                id.push((b'0' + n / 100) as char);
            }
            if n >= 10 {
                id.push((b'0' + n / 10 % 10) as char);
            }
            id.push((b'0' + n % 10) as char);
            id
        }
    };
    MeterInfo {
        id,
        kind,
        manufacturer: None,
        // The P1 telegram names neither the sub-meter's maker nor its model; what it is comes
        // from its EN 13757-3 device type ("M-Bus gas meter").
        model: Some(sub_meter_model(kind).into()),
        serial,
        protocol: parent.protocol.clone(),
        firmware: None,
        parent: Some(parent.id.clone()),
    }
}

/// Build one reading per channel that has values, in channel order.
pub fn readings(
    b: &mut Builder<'_>,
    parent: &Arc<MeterInfo>,
    identities: &mut Identities,
    fallback_time: Timestamp,
    out: &mut Vec<Reading>,
    out_channels: &mut Vec<Option<u8>>,
) {
    let len = std::mem::take(&mut b.channels.len);
    b.channels.slots[..len].sort_by_key(|c| c.as_ref().map(|c| c.n));
    for k in 0..len {
        let Some(ch) = b.channels.slots[k].take() else {
            continue;
        };
        if ch.values[0].is_none() && ch.valve.is_none() && ch.breaker.is_none() {
            continue;
        }
        let kind = kind(ch.device_type);
        let raw_id = ch.id;
        let info = identities.sub(ch.n, kind, raw_id, || {
            sub_meter_info(ch.n, raw_id.and_then(parser::id), kind, parent)
        });
        let mut r = Reading::new(info, ch.time.unwrap_or(fallback_time));
        r.values.reserve_exact(3);
        let corrected_too = ch.values.iter().flatten().any(|p| !p.uncorrected);
        for p in ch.values.iter().flatten() {
            match quantity(kind, p, corrected_too)
                .and_then(|(qty, k)| Some((qty, units::convert(p.value, p.unit, k)?)))
            {
                Some((qty, v)) => {
                    debug_assert!(matches!(
                        qty.unit,
                        crate::reading::Unit::CubicMeter | crate::reading::Unit::GJ
                    ));
                    r.push_number(qty, v)
                }
                None => b.warn(|| TelegramWarning::UnitDoesNotFit {
                    channel: ch.n,
                    kind,
                    value: p.value,
                    unit: format!("{:?}", p.unit),
                }),
            }
        }
        if let Some(v) = ch.valve {
            r.push(dq::VALVE_POSITION, Value::Number(v));
        }
        if let Some(v) = ch.breaker {
            r.push(dq::BREAKER_STATE, Value::Number(v));
        }
        r.raw = ch.raw;
        out.push(r);
        out_channels.push(Some(ch.n));
    }
}

/// `0-0:98.1.0(n)(1-0:1.6.0)(1-0:1.6.0)(month)(time)(value)…`: the monthly peaks of the last 13
/// months (e-MUCS P1 capacity tariff). Other layouts (Hungary's billing snapshot, corpus
/// ndokter 13) are kept raw.
pub fn peaks(b: &mut Builder<'_>, o: &Object<'_>) {
    let mut g = parser::groups(o.values);
    let count = g.next().and_then(parser::number);
    let code = g.clone().next();
    let (Some((count, RawUnit::None)), Some(code)) = (count, code) else {
        return b.keep_raw(o);
    };
    if code.get(..4) != Some(b"1-0:") || count.exponent() != 0 {
        return b.keep_raw(o);
    }
    g.next();
    g.next();
    let mut latest: Option<(Timestamp, Decimal, Option<Timestamp>)> = None;
    let mut all = Vec::new();
    while let (Some(month), Some(at), Some(v)) = (g.next(), g.next(), g.next()) {
        let Some(p) = parser::number(v).and_then(|(d, u)| units::convert(d, u, Kind::Power)) else {
            b.bad_value(o);
            continue;
        };
        if all.len() < 13 {
            all.push(p);
        }
        let Some(month) = b.time(month, "peak history month") else {
            continue;
        };
        let at = super::timestamp::parse(at).ok();
        if latest.is_none_or(|(m, _, _)| month.unix_seconds() > m.unix_seconds()) {
            latest = Some((month, p, at));
        }
    }
    if let Some((_, p, at)) = latest {
        b.values.push(crate::reading::Measurement {
            quantity: dq::PEAK_POWER_PREVIOUS_MONTH,
            value: Value::Number(p),
        });
        if let Some(at) = at {
            b.values.push(crate::reading::Measurement {
                quantity: dq::PEAK_POWER_PREVIOUS_MONTH_TIME,
                value: Value::Time(at),
            });
        }
    }
    if let Some(avg) = units::mean(&all) {
        b.values.push(crate::reading::Measurement {
            quantity: dq::PEAK_POWER_AVERAGE_13M,
            value: Value::Number(avg),
        });
    }
}
