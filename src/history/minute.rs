//! One minute of readings, summed up in memory: pure code, the time passed in.
//!
//! Every numeric value of a reading becomes a *scaled integer*: `63.44` with 2 decimals is
//! `6344` at scale 2. Integers keep the meter's digits exactly (no `f64` anywhere), SQLite
//! adds and compares them exactly, and they are smaller on disk than text (`docs` has the
//! figures). A measurement keeps the count, sum, min and max of the minute (the mean is
//! computed when asked: `sum / n`); a counter keeps its last value.

use std::collections::HashMap;
use std::sync::Arc;

use crate::decimal::Decimal;
use crate::reading::order::Cursor;
use crate::reading::{Quantity, Reading, Value};

/// More decimals than this are not kept (no meter sends them; `10^18` is the edge of `i64`).
pub const MAX_SCALE: u8 = 12;

/// A value as `int × 10^-scale`, `scale` ≥ 0. `None` when it does not fit (a value with more
/// than [`MAX_SCALE`] decimals, or too large for `i64` at its scale).
pub fn scaled(d: Decimal) -> Option<(i128, u8)> {
    let e = i32::from(d.exponent());
    if e >= 0 {
        let v = i128::from(d.mantissa()).checked_mul(10i128.checked_pow(e as u32)?)?;
        fits(v).then_some((v, 0))
    } else {
        let scale = u8::try_from(-e).ok().filter(|s| *s <= MAX_SCALE)?;
        Some((i128::from(d.mantissa()), scale))
    }
}

/// `v` (at scale `from`) at the finer scale `to`; `None` if it no longer fits an `i64`.
pub fn rescale(v: i128, from: u8, to: u8) -> Option<i128> {
    let f = 10i128.checked_pow(u32::from(to.checked_sub(from)?))?;
    v.checked_mul(f).filter(|v| fits(*v))
}

fn fits(v: i128) -> bool {
    i64::try_from(v).is_ok()
}

/// One quantity of one meter in one minute.
///
/// 40 bytes, kept for every quantity of every meter (200 000 at 10 000 meters: issue 17), so
/// every field is an `i64`: [`scaled`] only gives values that fit one, and a sum that would
/// not fit is refused by `Acc::add` (the value is counted as skipped, the row keeps the
/// others): the store writes `sum` as an SQLite `INTEGER`, a 64-bit integer (SQLite's
/// documentation, "Datatypes In SQLite" §2), so a larger sum could not be written anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acc {
    pub scale: u8,
    /// Readings summed up (measurements); 0 in a meter's kept slot that had no value yet
    /// in the minute in progress ([`Minute::take`] leaves such slots out).
    pub n: u32,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    /// The newest value (counters; kept for measurements too, it costs nothing here).
    pub last: i64,
}

impl Acc {
    /// An accumulator of no reading yet, at the scale of its first value.
    const EMPTY: Acc = Acc {
        scale: 0,
        n: 0,
        sum: 0,
        min: 0,
        max: 0,
        last: 0,
    };

    /// Bring every field to the finer `scale`; `false` (unchanged) if one would not fit.
    fn set_scale(&mut self, scale: u8) -> bool {
        let r = |v: i64| rescale(i128::from(v), self.scale, scale).and_then(narrow);
        let (Some(sum), Some(min), Some(max), Some(last)) =
            (r(self.sum), r(self.min), r(self.max), r(self.last))
        else {
            return false;
        };
        *self = Acc {
            scale,
            n: self.n,
            sum,
            min,
            max,
            last,
        };
        true
    }

    /// Sum up `v` at `scale`; `false` (unchanged) if it does not fit.
    fn add(&mut self, v: i128, scale: u8) -> bool {
        if self.n == 0 {
            let Some(v) = narrow(v) else { return false };
            *self = Acc {
                scale,
                n: 1,
                sum: v,
                min: v,
                max: v,
                last: v,
            };
            return true;
        }
        // A quantity keeps its scale from one reading to the next (a DSMR object has a fixed
        // number of decimals, DSMR 5.0.2 §6.4 value formats), so the usual case skips the
        // 128-bit rescale (≈ 1 700 instructions per telegram, issue 17).
        let v = if scale == self.scale {
            v
        } else if scale > self.scale {
            if !self.set_scale(scale) {
                return false;
            }
            v
        } else {
            match rescale(v, scale, self.scale) {
                Some(v) => v,
                None => return false,
            }
        };
        let Some(v) = narrow(v) else { return false };
        let Some(sum) = self.sum.checked_add(v) else {
            return false;
        };
        self.n += 1;
        self.sum = sum;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.last = v;
        true
    }
}

fn narrow(v: i128) -> Option<i64> {
    i64::try_from(v).ok()
}

/// One row of a finished minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Shared by the meter's rows: one copy of the id per meter and minute, not per row (at
    /// 10 000 meters a minute is ≈ 200 000 rows: issue 17).
    pub meter: Arc<str>,
    pub quantity: Quantity,
    pub acc: Acc,
}

impl Row {
    pub fn counter(&self) -> bool {
        self.quantity.class.is_counter()
    }
}

/// A finished minute: its start (Unix seconds, a multiple of 60) and its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinuteBatch {
    pub start: i64,
    pub rows: Vec<Row>,
    /// Readings summed up in it.
    pub readings: u64,
}

/// The minute in progress (or another step: [`Minute::with_step`]).
#[derive(Debug, Default)]
pub struct Minute {
    /// Seconds per step; 0 means 60.
    step: i64,
    start: Option<i64>,
    /// By meter id: its quantities in the order first seen (a meter has a few dozen, a
    /// linear search by key beats hashing them). Kept from one minute to the next, emptied
    /// ([`Acc::EMPTY`]) instead of freed: a meter sends the same quantities every minute, so
    /// its list is allocated once at its size and its id is the rows' shared `Arc` every
    /// minute, not a new copy (issue 17: 10 000 meters). A meter or a quantity without a
    /// value in a whole minute is dropped when that minute ends.
    meters: HashMap<Arc<str>, Vec<Slot>>,
    readings: u64,
    /// Values skipped because they do not fit a scaled integer (logged by the caller).
    pub skipped: u64,
}

/// One quantity of a meter in [`Minute`]: 56 bytes.
#[derive(Debug)]
struct Slot {
    quantity: Quantity,
    acc: Acc,
}

/// The start of the UTC minute holding `unix_secs`.
pub fn minute_of(unix_secs: i64) -> i64 {
    unix_secs - unix_secs.rem_euclid(60)
}

impl Minute {
    pub fn new() -> Minute {
        Minute::default()
    }

    /// Steps of `step` seconds instead of minutes (a backfill sums up whole hours and days
    /// at once, instead of merging each minute into them).
    pub fn with_step(step: i64) -> Minute {
        Minute {
            step: step.max(1),
            ..Minute::default()
        }
    }

    fn step_of(&self, t: i64) -> i64 {
        let step = if self.step == 0 { 60 } else { self.step };
        t - t.rem_euclid(step)
    }

    /// The start of the minute in progress, if it has a reading.
    pub fn start(&self) -> Option<i64> {
        self.start
    }

    /// Add `reading`, received at `now` (Unix seconds). A reading of a later minute than the
    /// one in progress finishes that one first: it is returned, to be written.
    pub fn add(&mut self, reading: &Reading, now: i64) -> Option<MinuteBatch> {
        let m = self.step_of(now);
        let done = match self.start {
            Some(s) if s != m => self.take(),
            _ => None,
        };
        self.start = Some(m);
        self.readings += 1;
        let series = match self.meters.get_mut(reading.meter.id.as_str()) {
            Some(s) => s,
            None => self
                .meters
                .entry(Arc::from(reading.meter.id.as_str()))
                .or_default(),
        };
        // In the order the meter sends them: one comparison per value (`reading::order`).
        let mut at = Cursor::default();
        for v in &reading.values {
            let Value::Number(d) = &v.value else { continue };
            let Some((x, scale)) = scaled(*d) else {
                self.skipped += 1;
                continue;
            };
            let i = match at.find(series, |s| s.quantity.same_key(&v.quantity)) {
                Some(i) => i,
                None => {
                    series.push(Slot {
                        quantity: v.quantity.clone(),
                        acc: Acc::EMPTY,
                    });
                    at.added(series.len() - 1);
                    series.len() - 1
                }
            };
            if !series[i].acc.add(x, scale) {
                self.skipped += 1;
            }
        }
        done
    }

    /// The minute in progress if it started before `now`'s minute (the minute has ended).
    pub fn take_ended(&mut self, now: i64) -> Option<MinuteBatch> {
        match self.start {
            Some(s) if s < self.step_of(now) => self.take(),
            _ => None,
        }
    }

    /// The minute in progress, finished now (at shutdown), if it has a reading.
    pub fn take(&mut self) -> Option<MinuteBatch> {
        let start = self.start.take()?;
        let rows = self
            .meters
            .values()
            .map(|s| s.iter().filter(|s| s.acc.n > 0).count())
            .sum();
        let mut rows = Vec::with_capacity(rows);
        self.meters.retain(|meter, series| {
            rows.extend(series.iter().filter(|s| s.acc.n > 0).map(|s| Row {
                meter: meter.clone(),
                quantity: s.quantity.clone(),
                acc: s.acc.clone(),
            }));
            // Kept for the next minute: what had a value in this one, emptied, at its size.
            series.retain(|s| s.acc.n > 0);
            series.shrink_to_fit();
            for s in series.iter_mut() {
                s.acc = Acc::EMPTY;
            }
            !series.is_empty()
        });
        Some(MinuteBatch {
            start,
            rows,
            readings: std::mem::take(&mut self.readings),
        })
    }
}

/// The mean `sum / n` at scale `scale`, rounded half away from zero to one more decimal than
/// the meter sends (`scale + 1`): the mean of whole watts is given to 0.1 W. One more digit
/// keeps a mean of two readings exact (`(1 + 2) / 2 = 1.5`) without inventing precision the
/// meter never had.
pub fn mean(sum: i128, n: i64, scale: u8) -> Option<Decimal> {
    if n <= 0 {
        return None;
    }
    let num = sum.checked_mul(10)?;
    let n = i128::from(n);
    let q = num / n;
    let r = num % n;
    let q = if 2 * r.abs() >= n {
        q + num.signum()
    } else {
        q
    };
    let m = i64::try_from(q).ok()?;
    Some(Decimal::new(m, -(i8::try_from(scale).ok()? + 1)))
}

/// A stored integer at `scale` as the decimal it came from.
pub fn decimal(v: i64, scale: u8) -> Option<Decimal> {
    Some(Decimal::new(v, -i8::try_from(scale).ok()?))
}
