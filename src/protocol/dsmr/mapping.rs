//! Mapping the objects of one telegram to readings: electricity values here, M-Bus channels in
//! [`super::mbus`].

mod failure_log;

use super::mbus::Channels;
use super::obis::Obis;
use super::parser::{self, Object};
use super::quantities as dq;
use super::timestamp;
use super::units::{self, Kind};
use super::warning::TelegramWarning;
use crate::decimal::Decimal;
use crate::reading::{q, Measurement, Quantity, RawField, Value};
use crate::time::Timestamp;

/// Warnings kept per telegram (a broken telegram must not allocate without bound).
pub const MAX_WARNINGS: usize = 32;
/// Raw (unknown) fields kept per telegram, and the longest raw value kept.
const MAX_RAW: usize = 64;
const MAX_RAW_LEN: usize = 256;

/// Whether `o` is one of the energy registers the computed totals are made from (1.8.0-4,
/// 2.8.0-4; see [`Builder::computed_totals`]).
fn tracks_energy(o: Obis) -> bool {
    o.a == 1 && o.d == 8 && o.e <= 4 && matches!(o.c, 1 | 2)
}

/// Where `o` is an active power the computed net power is made from (see
/// [`Builder::computed_net_power`]): `(slot, import)`, slot 0 the total (`1-0:1.7.0` /
/// `1-0:2.7.0`), 1..3 the phases (`21/22`, `41/42`, `61/62.7.0`; DSMR 5.0.2 §6.12).
fn tracks_power(o: Obis) -> Option<(usize, bool)> {
    if o.a != 1 || o.d != 7 || o.e != 0 {
        return None;
    }
    Some(match o.c {
        1 => (0, true),
        2 => (0, false),
        21 => (1, true),
        22 => (1, false),
        41 => (2, true),
        42 => (2, false),
        61 => (3, true),
        62 => (3, false),
        _ => return None,
    })
}

/// Everything collected from one telegram before the readings are built.
pub struct Builder<'a> {
    pub time: Option<Timestamp>,
    pub values: Vec<Measurement>,
    pub raw: Vec<RawField>,
    pub warnings: Vec<TelegramWarning>,
    /// The ids of `0-0:96.1.1`, `0-0:96.1.0`, `0-0:96.1.255`, `0-0:42.0.0`, in that order of
    /// preference: each slot holds the last non-blank id group its code sent, as sent (see
    /// [`set_id`]; decoded by `telegram::meter_info` only when the meter's identity changed).
    pub ids: [Option<&'a [u8]>; 4],
    /// `1-3:0.2.8` (DSMR version) and `0-0:96.1.4` (e-MUCS version) as sent (the first group;
    /// read when the telegram is done).
    pub dsmr_version: Option<&'a [u8]>,
    pub emucs_version: Option<&'a [u8]>,
    pub channels: Channels<'a>,
    /// Which of 1.8.0, 1.8.1..4, 2.8.0, 2.8.1..4 were seen (for the computed totals).
    pub import: [Option<Decimal>; 5],
    pub export: [Option<Decimal>; 5],
    /// Active power delivered to (import) and received from (export) the grid, in W: the
    /// total, then L1..L3 (for the computed net power).
    pub power_import: [Option<Decimal>; 4],
    pub power_export: [Option<Decimal>; 4],
}

impl<'a> Builder<'a> {
    /// Room for `values` values (more grow the list).
    pub fn new(values: usize) -> Self {
        Builder {
            time: None,
            values: Vec::with_capacity(values),
            raw: Vec::new(),
            warnings: Vec::new(),
            ids: [None, None, None, None],
            dsmr_version: None,
            emucs_version: None,
            channels: Channels::default(),
            import: [None; 5],
            export: [None; 5],
            power_import: [None; 4],
            power_export: [None; 4],
        }
    }

    /// Keep a warning (made only while fewer than [`MAX_WARNINGS`] are kept).
    pub fn warn(&mut self, w: impl FnOnce() -> TelegramWarning) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w());
        }
    }

    fn push(&mut self, quantity: Quantity, value: Value) {
        self.values.push(Measurement { quantity, value });
    }

    /// Keep an object we do not map, as sent.
    pub fn keep_raw(&mut self, o: &Object<'_>) {
        if self.raw.len() >= MAX_RAW {
            return;
        }
        let v = &o.values[..o.values.len().min(MAX_RAW_LEN)];
        self.raw.push(RawField {
            code: o.obis.to_string(),
            value: String::from_utf8_lossy(v).into_owned(),
        });
    }

    pub fn bad_value(&mut self, o: &Object<'_>) {
        let text = &o.text[..o.text.len().min(MAX_RAW_LEN)];
        self.warn(|| TelegramWarning::MalformedLine {
            line: String::from_utf8_lossy(text).trim().to_string(),
        });
    }

    /// One number group converted to `kind` and stored as `quantity`.
    #[inline(always)]
    fn number(&mut self, o: &Object<'_>, quantity: Quantity, kind: Kind) {
        debug_assert_eq!(quantity.unit, kind.unit(), "{}", quantity.key);
        let parsed = o.number.or_else(|| {
            let mut g = parser::groups(o.values);
            let n = g.next().and_then(parser::number);
            if g.malformed() {
                None
            } else {
                n
            }
        });
        match parsed.and_then(|(d, u)| units::convert(d, u, kind)) {
            Some(v) => {
                self.track_energy(o.obis, v);
                self.push(quantity, Value::Number(v));
            }
            _ => self.bad_value(o),
        }
    }

    fn track_energy(&mut self, o: Obis, v: Decimal) {
        if tracks_energy(o) {
            match o.c {
                1 => self.import[o.e as usize] = Some(v),
                2 => self.export[o.e as usize] = Some(v),
                _ => {}
            }
        } else if let Some((slot, import)) = tracks_power(o) {
            let regs = if import {
                &mut self.power_import
            } else {
                &mut self.power_export
            };
            if let Some(r) = regs.get_mut(slot) {
                *r = Some(v);
            }
        }
    }

    fn text(&mut self, o: &Object<'_>, quantity: Quantity, message: bool) {
        let g = parser::groups(o.values).next().unwrap_or(&[]);
        let t = if message {
            parser::message(g)
        } else {
            parser::text(g)
        };
        self.push(quantity, Value::Text(t.into_owned()));
    }

    /// A meter timestamp group, or `None` with a warning naming `what`.
    pub fn time(&mut self, g: &[u8], what: &'static str) -> Option<Timestamp> {
        match timestamp::parse(g) {
            Ok(t) => Some(t),
            Err(error) => {
                let g = &g[..g.len().min(20)];
                self.warn(|| TelegramWarning::BadTime {
                    what,
                    time: String::from_utf8_lossy(g).into_owned(),
                    error,
                });
                None
            }
        }
    }

    /// Map one object of the telegram.
    pub fn object(&mut self, o: &Object<'a>) {
        let Obis { a, b, c, d, e } = o.obis;
        match (a, b) {
            // B is the measurement channel (IEC 62056-61 §5.3); Sagemcom XT211 numbers its
            // registers `1-1:…` (corpus athombv 22), everyone else `1-0:…`.
            (1, 0 | 1) => self.electricity(o, c, d, e),
            (0, 0) => self.abstract_object(o, c, d, e),
            (1, 3) if (c, d, e) == (0, 2, 8) => {
                // DSMR 5.0.2 §6.12: `1-3:0.2.8` version information for P1 output.
                self.dsmr_version = Some(parser::groups(o.values).next().unwrap_or(&[]));
            }
            (0, 1..=u8::MAX) => super::mbus::object(self, o, b),
            _ => self.keep_raw(o),
        }
    }

    /// `0-0:…` objects: identity, clock, tariff, messages, events (DSMR 5.0.2 §6.12).
    fn abstract_object(&mut self, o: &Object<'a>, c: u8, d: u8, e: u8) {
        let first = || parser::groups(o.values).next().unwrap_or(&[]);
        match (c, d, e) {
            (1, 0, 0) => self.time = self.time(first(), "meter"),
            (96, 1, 1) => set_id(&mut self.ids[0], first()),
            (96, 1, 0) => set_id(&mut self.ids[1], first()),
            (96, 1, 255) => set_id(&mut self.ids[2], first()),
            (42, 0, 0) => set_id(&mut self.ids[3], first()),
            // e-MUCS P1 §…: version information `50217`.
            (96, 1, 4) => self.emucs_version = Some(first()),
            (96, 14, 0) => {
                // The tariff's names depend on the country: Belgian e-MUCS meters send their
                // `0-0:96.1.4` version line first (e-MUCS P1 1.7.1, corpus ndokter 07/08,
                // dsmrreader 07-11).
                let tariff = if self.emucs_version.is_some() {
                    dq::TARIFF_EMUCS
                } else {
                    q::TARIFF
                };
                self.number(o, tariff, Kind::Plain);
            }
            (96, 13, 0) => self.text(o, dq::MESSAGE, true),
            (96, 13, 1) => self.text(o, dq::MESSAGE_CODE, true),
            (96, 13, 2) => self.text(o, dq::MESSAGE_2, true),
            (96, 13, 3) => self.text(o, dq::MESSAGE_3, true),
            (96, 13, 4) => self.text(o, dq::MESSAGE_4, true),
            (96, 13, 5) => self.text(o, dq::MESSAGE_5, true),
            (96, 3, 10) => self.number(o, dq::BREAKER_STATE, Kind::Plain),
            (96, 7, 21) => self.number(o, q::POWER_FAILURES, Kind::Plain),
            (96, 7, 9) => self.number(o, q::LONG_POWER_FAILURES, Kind::Plain),
            (17, 0, 0) => self.limiter(o),
            (98, 1, 0) => super::mbus::peaks(self, o),
            _ => self.keep_raw(o),
        }
    }

    /// `0-0:17.0.0`: the unit decides the quantity (kW NL/BE, A DSMR 3.0, kVA Luxembourg).
    fn limiter(&mut self, o: &Object<'_>) {
        let unit = parser::groups(o.values)
            .next()
            .and_then(parser::number)
            .map(|(_, u)| u);
        use parser::RawUnit as R;
        match unit {
            Some(R::KW | R::W | R::None) => self.number(o, dq::POWER_LIMIT, Kind::Power),
            Some(R::A) => self.number(o, dq::CURRENT_LIMIT, Kind::Ampere),
            Some(R::Kva | R::VA) => self.number(o, dq::APPARENT_POWER_LIMIT, Kind::ApparentPower),
            _ => self.bad_value(o),
        }
    }

    /// `1-0:…` electricity objects (DSMR 5.0.2 §6.12, e-MUCS, Smarty, IEC 62056-61 C codes).
    fn electricity(&mut self, o: &Object<'_>, c: u8, d: u8, e: u8) {
        use Kind as K;
        let (quantity, kind) = match (c, d, e) {
            (1, 8, 0) => (q::ENERGY_IMPORT_TOTAL, K::Energy),
            (1, 8, 1) => (q::ENERGY_IMPORT_T1, K::Energy),
            (1, 8, 2) => (q::ENERGY_IMPORT_T2, K::Energy),
            (1, 8, 3) => (dq::ENERGY_IMPORT_T3, K::Energy),
            (1, 8, 4) => (dq::ENERGY_IMPORT_T4, K::Energy),
            (2, 8, 0) => (q::ENERGY_EXPORT_TOTAL, K::Energy),
            (2, 8, 1) => (q::ENERGY_EXPORT_T1, K::Energy),
            (2, 8, 2) => (q::ENERGY_EXPORT_T2, K::Energy),
            (2, 8, 3) => (dq::ENERGY_EXPORT_T3, K::Energy),
            (2, 8, 4) => (dq::ENERGY_EXPORT_T4, K::Energy),
            (15, 8, 0) => (dq::ENERGY_ABSOLUTE_TOTAL, K::Energy),
            (3, 8, 0) => (dq::REACTIVE_ENERGY_IMPORT_TOTAL, K::ReactiveEnergy),
            (3, 8, 1) => (dq::REACTIVE_ENERGY_IMPORT_T1, K::ReactiveEnergy),
            (3, 8, 2) => (dq::REACTIVE_ENERGY_IMPORT_T2, K::ReactiveEnergy),
            (4, 8, 0) => (dq::REACTIVE_ENERGY_EXPORT_TOTAL, K::ReactiveEnergy),
            (4, 8, 1) => (dq::REACTIVE_ENERGY_EXPORT_T1, K::ReactiveEnergy),
            (4, 8, 2) => (dq::REACTIVE_ENERGY_EXPORT_T2, K::ReactiveEnergy),
            (5, 8, 0) => (dq::REACTIVE_ENERGY_Q1, K::ReactiveEnergy),
            (6, 8, 0) => (dq::REACTIVE_ENERGY_Q2, K::ReactiveEnergy),
            (7, 8, 0) => (dq::REACTIVE_ENERGY_Q3, K::ReactiveEnergy),
            (8, 8, 0) => (dq::REACTIVE_ENERGY_Q4, K::ReactiveEnergy),
            (1, 7, 0) => (q::POWER_IMPORT, K::Power),
            (2, 7, 0) => (q::POWER_EXPORT, K::Power),
            (21, 7, 0) => (q::POWER_IMPORT_L1, K::Power),
            (41, 7, 0) => (q::POWER_IMPORT_L2, K::Power),
            (61, 7, 0) => (q::POWER_IMPORT_L3, K::Power),
            (22, 7, 0) => (q::POWER_EXPORT_L1, K::Power),
            (42, 7, 0) => (q::POWER_EXPORT_L2, K::Power),
            (62, 7, 0) => (q::POWER_EXPORT_L3, K::Power),
            (3, 7, 0) => (dq::REACTIVE_POWER_IMPORT, K::ReactivePower),
            (4, 7, 0) => (dq::REACTIVE_POWER_EXPORT, K::ReactivePower),
            (23, 7, 0) => (dq::REACTIVE_POWER_IMPORT_L1, K::ReactivePower),
            (43, 7, 0) => (dq::REACTIVE_POWER_IMPORT_L2, K::ReactivePower),
            (63, 7, 0) => (dq::REACTIVE_POWER_IMPORT_L3, K::ReactivePower),
            (24, 7, 0) => (dq::REACTIVE_POWER_EXPORT_L1, K::ReactivePower),
            (44, 7, 0) => (dq::REACTIVE_POWER_EXPORT_L2, K::ReactivePower),
            (64, 7, 0) => (dq::REACTIVE_POWER_EXPORT_L3, K::ReactivePower),
            (5, 7, 0) => (dq::REACTIVE_POWER_Q1, K::ReactivePower),
            (6, 7, 0) => (dq::REACTIVE_POWER_Q2, K::ReactivePower),
            (7, 7, 0) => (dq::REACTIVE_POWER_Q3, K::ReactivePower),
            (8, 7, 0) => (dq::REACTIVE_POWER_Q4, K::ReactivePower),
            (9, 7, 0) => (dq::APPARENT_POWER_IMPORT, K::ApparentPower),
            (10, 7, 0) => (dq::APPARENT_POWER_EXPORT, K::ApparentPower),
            (13, 7, 0) => (dq::POWER_FACTOR, K::Plain),
            (33, 7, 0) => (dq::POWER_FACTOR_L1, K::Plain),
            (53, 7, 0) => (dq::POWER_FACTOR_L2, K::Plain),
            (73, 7, 0) => (dq::POWER_FACTOR_L3, K::Plain),
            (14, 7, 0) => (dq::FREQUENCY, K::Hertz),
            (32, 7, 0) => (q::VOLTAGE_L1, K::Volt),
            (52, 7, 0) => (q::VOLTAGE_L2, K::Volt),
            (72, 7, 0) => (q::VOLTAGE_L3, K::Volt),
            (31, 7, 0) => (q::CURRENT_L1, K::Ampere),
            (51, 7, 0) => (q::CURRENT_L2, K::Ampere),
            (71, 7, 0) => (q::CURRENT_L3, K::Ampere),
            (32, 32, 0) => (dq::VOLTAGE_SAGS_L1, K::Plain),
            (52, 32, 0) => (dq::VOLTAGE_SAGS_L2, K::Plain),
            (72, 32, 0) => (dq::VOLTAGE_SAGS_L3, K::Plain),
            (32, 36, 0) => (dq::VOLTAGE_SWELLS_L1, K::Plain),
            (52, 36, 0) => (dq::VOLTAGE_SWELLS_L2, K::Plain),
            (72, 36, 0) => (dq::VOLTAGE_SWELLS_L3, K::Plain),
            (1, 4, 0) => (dq::POWER_AVERAGE_15MIN, K::Power),
            (31, 4, 0) => (dq::CURRENT_LIMIT_L1, K::Ampere),
            (51, 4, 0) => (dq::CURRENT_LIMIT_L2, K::Ampere),
            (71, 4, 0) => (dq::CURRENT_LIMIT_L3, K::Ampere),
            (1, 6, 0) => return self.peak_month(o),
            (99, 97, 0) => return self.failure_log(o),
            _ => return self.keep_raw(o),
        };
        self.number(o, quantity, kind);
    }

    /// `1-0:1.6.0(time)(value*kW)`: this month's peak (e-MUCS).
    fn peak_month(&mut self, o: &Object<'_>) {
        let mut g = parser::groups(o.values);
        let (Some(t), Some(v)) = (g.next(), g.next()) else {
            return self.bad_value(o);
        };
        match parser::number(v).and_then(|(d, u)| units::convert(d, u, Kind::Power)) {
            Some(p) => self.push(dq::PEAK_POWER_MONTH, Value::Number(p)),
            None => return self.bad_value(o),
        }
        if let Some(t) = self.time(t, "peak power") {
            self.push(dq::PEAK_POWER_MONTH_TIME, Value::Time(t));
        }
    }

    /// Append totals the meter did not send: `t1 + t2` when 1.8.0 (2.8.0) is absent and the
    /// meter has exactly two tariffs.
    pub fn computed_totals(&mut self) {
        for (regs, quantity) in [
            (self.import, q::ENERGY_IMPORT_TOTAL),
            (self.export, q::ENERGY_EXPORT_TOTAL),
        ] {
            if let [None, Some(t1), Some(t2), None, None] = regs {
                if let Some(sum) = units::add(t1, t2) {
                    self.push(quantity, Value::Number(sum));
                }
            }
        }
    }
}

impl Builder<'_> {
    /// Append the net power the meter does not send: import minus export (W, signed: negative
    /// while the house exports), for the total and for each phase, wherever the telegram has
    /// both directions. A P1 meter sends import and export power as two non-negative registers
    /// (`1-0:1.7.0` "Actual electricity power delivered (+P)" and `1-0:2.7.0` "... received
    /// (-P)", per phase `21/22`, `41/42`, `61/62.7.0`: DSMR 5.0.2 §6.12), of which at most one
    /// is non-zero; automations ("boiler on while exporting") and dashboards want one number.
    /// Computed here, next to the registers and exact (no float), so every output gets the
    /// same value and data still flows one way.
    pub fn computed_net_power(&mut self) {
        const NET: [crate::reading::Quantity; 4] = [
            dq::POWER_NET,
            dq::POWER_NET_L1,
            dq::POWER_NET_L2,
            dq::POWER_NET_L3,
        ];
        for (i, quantity) in NET.into_iter().enumerate() {
            let (Some(Some(import)), Some(Some(export))) =
                (self.power_import.get(i), self.power_export.get(i))
            else {
                continue;
            };
            if let Some(net) = units::sub(*import, *export) {
                self.push(quantity, Value::Number(net.normalize()));
            }
        }
    }
}

/// An id object's first group into its slot: a blank id (`()`, or hex of spaces) names nothing
/// and leaves what an earlier object of the same code set.
fn set_id<'a>(slot: &mut Option<&'a [u8]>, group: &'a [u8]) {
    if !parser::is_blank_id(group) {
        *slot = Some(group);
    }
}

#[cfg(test)]
mod tests;
