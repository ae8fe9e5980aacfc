//! The counter guard: which counter values are plausible enough to publish.
//!
//! A counter (energy, volume, hours, failure counts) is a register in the meter that only ever
//! grows, at most as fast as the meter's physics allow. Consumers rely on that: Home Assistant's
//! `total_increasing` state class takes every decrease as a new meter cycle and adds every rise
//! to the Energy dashboard, so one bad value costs a user a spike in their statistics for good.
//! This module decides, per counter, whether a value goes out; it is pure code with the clock
//! passed in (no I/O, no logging): the bridge's rules (`event::Rules`) call it once, before
//! any output, and tests drive it with made-up instants. The caller logs what the
//! [`Verdict`] says.
//!
//! The rules (issue 18 §1):
//! - the first value of a counter in this run is taken as it is: there is nothing to compare it
//!   with (a value read back from the broker at start is only a *hint*, see below);
//! - a value is plausible when it is not lower than the last published one and rose by no more
//!   than [`max_rate`] allows for the time since then, plus [`SLACK`] of that rate and one
//!   step of the value's last digit ([`Guard::check`]). A plausible value is published;
//! - an implausible value (a drop, or a rise faster than physics) is held back and remembered
//!   as a *candidate*. Values consistent with the candidate (plausible when compared with it)
//!   confirm it; after [`CONFIRM_READINGS`] of them spanning at least [`CONFIRM_SPAN`] it is a
//!   lasting change (a replaced meter, a corrected register) and is published
//!   ([`Verdict::Confirmed`]). A single outlier is never confirmed: the next normal value is
//!   plausible against the last published one and clears the candidate;
//! - a hint (a retained state read back at start: written by an earlier run, or by anybody
//!   else with access to the topic) is never stronger than the meter: a value above it is taken
//!   (if the hint's time is known, only a plausible rise for the time since), and the meter's
//!   own values below it win once [`CONFIRM_READINGS`] of them agree over
//!   [`HINT_CONFIRM_SPAN`].
//!
//! A confirmed decrease reaches Home Assistant as a decrease, which its recorder reads as
//! a new meter cycle when the value falls below 90 % of the previous one
//! (`homeassistant/components/sensor/recorder.py`, `reset_detected`: `fstate < 0.9 *
//! previous_fstate`): the statistics sum continues from the new value without a spike. A
//! smaller confirmed decrease (a register corrected down by a few percent) is a "dip" there and
//! lowers the sum by the correction, which is what the corrected register says.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use crate::decimal::Decimal;
use crate::reading::order::Cursor;
use crate::reading::{Class, Unit};

/// How many consistent readings confirm a lasting change.
pub const CONFIRM_READINGS: u32 = 5;
/// The least time those readings must span for a change against a value the meter itself sent
/// in this run: long enough that a burst of bad telegrams (a flaky cable, a relay replaying a
/// buffer) is not a "lasting" change, short enough that a replaced meter is back within minutes.
pub const CONFIRM_SPAN: Duration = Duration::from_secs(300);
/// The same against a hint read back at start: the meter is the authority, so a few seconds of
/// agreeing values suffice (5 telegrams of a DSMR 5 meter; for a polled meter the 5 readings
/// take longer anyway).
pub const HINT_CONFIRM_SPAN: Duration = Duration::from_secs(10);
/// Time added to the elapsed time before applying [`max_rate`]: telegrams that a TCP relay or
/// a serial buffer delivers in a burst arrive faster than the meter made them.
pub const SLACK: Duration = Duration::from_secs(120);

/// The largest plausible rise of a counter in `unit` per hour, or `None` where there is no
/// physical bound the guard can know (then only decreases are held back).
///
/// Energy: 200 kW. The largest household ("kleinverbruik") electricity connection is 3 × 80 A;
/// at 400 V that is ≈ 100 kW (issue 18 §1), doubled for margin; a household heat connection
/// is far below it. Volume: 50 m³/h, far above a household gas meter (G6: Qmax 10 m³/h,
/// EN 1359) or water meter (Q4 = 1.25 × Q3, Q3 ≤ 4 m³/h for households, EN ISO 4064-1), and
/// above the flow of a household heat meter. Mass follows volume (water: 1 t per m³), volume ×
/// temperature (Kamstrup's m³·°C) takes 150 °C on top. Hours: 1 h per h; seconds 3600 per h.
/// Counts (power failures and the like, no unit): one a second.
pub fn max_rate(class: Class, unit: Unit) -> Option<Decimal> {
    Some(match unit {
        Unit::Wh | Unit::Varh => Decimal::from_int(200_000),
        Unit::KWh | Unit::Kvarh => Decimal::from_int(200),
        Unit::MWh => Decimal::new(2, -1),
        Unit::MJ => Decimal::from_int(720),
        Unit::GJ => Decimal::new(72, -2),
        // 200 kW = 0.172 Gcal/h (1 Gcal = 1.163 MWh).
        Unit::Gcal => Decimal::new(172, -3),
        Unit::CubicMeter | Unit::Tonne => Decimal::from_int(50),
        Unit::Liter => Decimal::from_int(50_000),
        Unit::CubicMeterCelsius => Decimal::from_int(7_500),
        Unit::Hour => Decimal::from_int(1),
        Unit::Second => Decimal::from_int(3_600),
        Unit::None if class == Class::Count => Decimal::from_int(3_600),
        _ => return None,
    })
}

/// What to do with one counter value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Plausible: publish it.
    Accept,
    /// A lasting change: publish it; it replaces `previous`. Log it (once per change).
    Confirmed {
        previous: Decimal,
        /// `previous` was only a hint read back at start.
        hint: bool,
    },
    /// Implausible: do not publish it. `first` is set for the first value held back since
    /// the last published one, so the caller logs one line per episode, not one per telegram.
    Hold {
        previous: Decimal,
        reason: HoldReason,
        first: bool,
    },
}

/// Why a value is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldReason {
    /// Lower than the last published value.
    Backwards,
    /// Rose faster than [`max_rate`] allows.
    TooFast,
}

impl std::fmt::Display for HoldReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HoldReason::Backwards => "went backwards",
            HoldReason::TooFast => "rose faster than the meter can count",
        })
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    first_at: Instant,
    last: Decimal,
    last_at: Instant,
    readings: u32,
}

#[derive(Debug, Clone)]
struct Track {
    /// The quantity key: borrowed for the decoders' static keys (no allocation per meter).
    key: Cow<'static, str>,
    /// The last published value (or the hint) and when it was taken.
    value: Decimal,
    at: Instant,
    /// Boxed: rare (only while a value is held back), and 56 bytes inline in every track.
    candidate: Option<Box<Candidate>>,
    hint: bool,
    /// A hint whose time is known (see [`Guard::with_hints`]).
    dated: bool,
    holding: bool,
}

impl Track {
    /// `value` (at `at`) is published: the track is as [`Track::new`] makes it, in place (no
    /// move of the key, no drop of a whole track: once per counter per telegram).
    fn publish(&mut self, value: Decimal, at: Instant) {
        self.value = value;
        self.at = at;
        self.candidate = None;
        self.hint = false;
        self.dated = false;
        self.holding = false;
    }

    fn new(key: Cow<'static, str>, value: Decimal, at: Instant) -> Self {
        Track {
            key,
            value,
            at,
            candidate: None,
            hint: false,
            dated: false,
            holding: false,
        }
    }
}

/// The guard of one meter's counters, by quantity key. Memory: one track (72 bytes) per
/// counter key, in a list sized exactly (a DSMR 5 meter with gas: 13 counters, 936 bytes; the
/// hash map of owned keys it replaces took ≈ 2.4 KiB, issue 17).
///
/// A list, not a map: a meter has few counters and sends them in the same order in every
/// telegram, so the lookup starts where the last one ended and is one key comparison.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    tracks: Vec<Track>,
    /// Where the next lookup starts (after the last track found).
    next: Cursor,
}

impl Guard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Seed weak hints (a retained state read back at start). `taken_at`: when the meter had
    /// these values, if known (from the retained state's meter time); then a rise above a hint
    /// must be plausible for the time since, as after a published value. Undated hints take
    /// any rise: the bridge may have been down for months.
    pub fn with_hints(
        hints: impl IntoIterator<Item = (String, Decimal)>,
        taken_at: Option<Instant>,
        now: Instant,
    ) -> Self {
        let mut g = Guard::new();
        for (k, value) in hints {
            let mut t = Track::new(Cow::Owned(k), value, taken_at.unwrap_or(now));
            t.hint = true;
            t.dated = taken_at.is_some();
            match g.find(&t.key) {
                Some(i) => g.tracks[i] = t,
                None => g.tracks.push(t),
            }
        }
        g.tracks.shrink_to_fit();
        g
    }

    /// Heap bytes held (for the memory tests and figures; owned keys not included).
    pub fn heap_bytes(&self) -> usize {
        self.tracks.capacity() * std::mem::size_of::<Track>()
    }

    /// The index of `key`'s track, looked up from where the last lookup ended.
    #[inline]
    fn find(&mut self, key: &str) -> Option<usize> {
        self.next.find(&self.tracks, |t| same_key(&t.key, key))
    }

    /// The last published value of a counter (or its hint), if any.
    pub fn last(&self, key: &str) -> Option<Decimal> {
        self.tracks.iter().find(|t| t.key == key).map(|t| t.value)
    }

    /// Judge one value of the counter `key` (with `class` and `unit`) received at `now`.
    pub fn check(
        &mut self,
        key: &str,
        class: Class,
        unit: Unit,
        value: Decimal,
        now: Instant,
    ) -> Verdict {
        self.judge(key, || Cow::Owned(key.to_owned()), class, unit, value, now)
    }

    /// [`check`](Self::check) with the reading's own key, kept without a copy when static.
    // A `Cow`, not a `&str`: a new track clones it, which keeps a static key borrowed.
    #[allow(clippy::ptr_arg)]
    pub fn check_key(
        &mut self,
        key: &Cow<'static, str>,
        class: Class,
        unit: Unit,
        value: Decimal,
        now: Instant,
    ) -> Verdict {
        self.judge(key, || key.clone(), class, unit, value, now)
    }

    fn judge(
        &mut self,
        key: &str,
        owned: impl FnOnce() -> Cow<'static, str>,
        class: Class,
        unit: Unit,
        value: Decimal,
        now: Instant,
    ) -> Verdict {
        let Some(i) = self.find(key) else {
            // Exactly sized: tracks are added on a meter's first telegram only.
            self.tracks.reserve_exact(1);
            self.tracks.push(Track::new(owned(), value, now));
            self.next.added(self.tracks.len() - 1);
            return Verdict::Accept;
        };
        let t = &mut self.tracks[i];
        let plausible = if t.hint && !t.dated {
            value >= t.value
        } else {
            rise_ok((class, unit), t.value, t.at, value, now)
        };
        if plausible {
            t.publish(value, now);
            return Verdict::Accept;
        }
        let reason = if value < t.value {
            HoldReason::Backwards
        } else {
            HoldReason::TooFast
        };
        let c = match t.candidate.take() {
            Some(c) if rise_ok((class, unit), c.last, c.last_at, value, now) => Candidate {
                last: value,
                last_at: now,
                readings: c.readings.saturating_add(1),
                ..*c
            },
            _ => Candidate {
                first_at: now,
                last: value,
                last_at: now,
                readings: 1,
            },
        };
        let span = if t.hint {
            HINT_CONFIRM_SPAN
        } else {
            CONFIRM_SPAN
        };
        if c.readings >= CONFIRM_READINGS && now.saturating_duration_since(c.first_at) >= span {
            let previous = t.value;
            let hint = t.hint;
            t.publish(value, now);
            return Verdict::Confirmed { previous, hint };
        }
        t.candidate = Some(Box::new(c));
        let first = !t.holding;
        t.holding = true;
        Verdict::Hold {
            previous: t.value,
            reason,
            first,
        }
    }
}

/// Equal keys; a decoder's static key is the same text at the same address every time, so
/// most lookups end at the pointer comparison.
fn same_key(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

/// `value` (at `now`) is not below `prev` (at `then`) and rose by at most `rate` per hour
/// over the elapsed time plus [`SLACK`], plus one step of `value`'s last digit (a register
/// shown in whole units steps by 1 however short the time). `rate`: the class and unit whose
/// [`max_rate`] applies, looked up only for a rise (a jump table per counter per telegram
/// otherwise).
#[inline]
fn rise_ok(
    rate: (Class, Unit),
    prev: Decimal,
    then: Instant,
    value: Decimal,
    now: Instant,
) -> bool {
    // A counter mostly repeats its value from one telegram to the next (at 1 Hz an energy
    // register steps every few seconds): no arithmetic then, the rise 0 is always allowed
    // (`allowed` is never negative). Issue 17: the i128 arithmetic for every counter was
    // ≈ 8 000 instructions per DSMR 5 telegram.
    match value.cmp(&prev) {
        std::cmp::Ordering::Less => return false,
        std::cmp::Ordering::Equal => return true,
        std::cmp::Ordering::Greater => {}
    }
    rise_within(rate, prev, then, value, now)
}

/// The rise of [`rise_ok`] once `value` is above `prev` (out of line: the rare half).
#[inline(never)]
fn rise_within(
    (class, unit): (Class, Unit),
    prev: Decimal,
    then: Instant,
    value: Decimal,
    now: Instant,
) -> bool {
    let Some(rate) = max_rate(class, unit) else {
        return true;
    };
    let elapsed_ms = now
        .saturating_duration_since(then)
        .saturating_add(SLACK)
        .as_millis();
    let elapsed_ms = i128::try_from(elapsed_ms).unwrap_or(i128::MAX);
    let allowed = nanos(rate)
        .saturating_mul(elapsed_ms)
        .checked_div(3_600_000)
        .unwrap_or(i128::MAX)
        .saturating_add(nanos(Decimal::new(1, value.exponent())));
    nanos(value).saturating_sub(nanos(prev)) <= allowed
}

/// `d` in units of 10⁻⁹, saturating (exact for every value a meter sends; the guard needs no
/// more than a comparison).
fn nanos(d: Decimal) -> i128 {
    let m = i128::from(d.mantissa());
    let e = i32::from(d.exponent()) + 9;
    // A table, not `checked_pow` (a loop of checked multiplications per call).
    let p = POW10.get(e.unsigned_abs() as usize).copied();
    if e >= 0 {
        p.map_or(if m < 0 { i128::MIN } else { i128::MAX }, |p| {
            m.saturating_mul(p)
        })
    } else {
        p.map_or(0, |p| m / p)
    }
}

/// 10⁰ ..= 10³⁸, every power of ten an `i128` holds.
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests;
