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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acc {
    pub scale: u8,
    /// Readings summed up (measurements).
    pub n: u32,
    pub sum: i128,
    pub min: i128,
    pub max: i128,
    /// The newest value (counters; kept for measurements too, it costs nothing here).
    pub last: i128,
}

impl Acc {
    fn new(v: i128, scale: u8) -> Acc {
        Acc {
            scale,
            n: 1,
            sum: v,
            min: v,
            max: v,
            last: v,
        }
    }

    /// Bring every field to the finer `scale`; `false` (unchanged) if one would not fit.
    fn set_scale(&mut self, scale: u8) -> bool {
        let r = |v| rescale(v, self.scale, scale);
        // `sum` is an i128 in memory: only min/max/last must stay i64-sized.
        let (Some(min), Some(max), Some(last)) = (r(self.min), r(self.max), r(self.last)) else {
            return false;
        };
        let Some(sum) = 10i128
            .checked_pow(u32::from(scale - self.scale))
            .and_then(|f| self.sum.checked_mul(f))
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

    fn add(&mut self, v: i128, scale: u8) -> bool {
        let v = if scale > self.scale {
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
    /// linear search by key beats hashing them).
    meters: HashMap<String, Vec<(Quantity, Acc)>>,
    readings: u64,
    /// Values skipped because they do not fit a scaled integer (logged by the caller).
    pub skipped: u64,
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
            None => self.meters.entry(reading.meter.id.clone()).or_default(),
        };
        for v in &reading.values {
            let Value::Number(d) = &v.value else { continue };
            let Some((x, scale)) = scaled(*d) else {
                self.skipped += 1;
                continue;
            };
            match series.iter_mut().find(|(q, _)| q.key == v.quantity.key) {
                Some((_, acc)) => {
                    if !acc.add(x, scale) {
                        self.skipped += 1;
                    }
                }
                None => series.push((v.quantity.clone(), Acc::new(x, scale))),
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
        let mut rows = Vec::with_capacity(self.meters.values().map(Vec::len).sum());
        for (meter, series) in self.meters.drain() {
            let meter: Arc<str> = meter.into();
            rows.extend(series.into_iter().map(|(quantity, acc)| Row {
                meter: meter.clone(),
                quantity,
                acc,
            }));
        }
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
