//! The rules every output relies on, run once before any output sees a reading.
//!
//! - Counters: every counter value (energy, gas, water, hours, failures) passes the
//!   [`crate::guard`]: a drop or an implausible rise is held back until the meter confirms it
//!   as a lasting change, so no consumer (Home Assistant's Energy dashboard, a history store,
//!   a Prometheus counter) ever sees a spike. An all-zero telegram (a meter restarting, a
//!   relay's filler: `docs/reliability.md`, `tests/faults.rs`) is a drop of every counter and
//!   is held back by the same rule; its other values (power 0) go out.
//! - Availability: a meter is online from its first reading; it goes offline when it stops
//!   reporting for `offline_after_intervals` of its intervals (never sooner than
//!   [`MIN_OFFLINE_AFTER`]), or at once when its poll fails ([`InputEvent::Unavailable`]).
//!
//! Pure logic with the clock passed in, so every rule is unit-tested without a runtime. The
//! guard's hints (the values of an earlier run) come from the outputs at start
//! ([`Rules::seed`]), so the rules never import an output.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CounterHint, Event, Hints, InputEvent, MeterReading, RawTelegram};
use crate::guard::{Guard, Verdict};
use crate::reading::{QuantityDef, Reading, Value};

/// Availability never flips faster than this, whatever the interval (DSMR 5 sends every 1 s).
pub const MIN_OFFLINE_AFTER: Duration = Duration::from_secs(5);

/// Settings of the rules (from the configuration's `publish` section).
#[derive(Debug, Clone)]
pub struct RulesSettings {
    /// A meter silent for this many of its intervals goes offline.
    pub offline_after_intervals: u32,
}

struct MeterState {
    /// What the counters may publish.
    guard: Guard,
    last_seen: Instant,
    interval: Duration,
    online: bool,
}

/// See the module docs.
pub struct Rules {
    s: RulesSettings,
    meters: super::ByMeter<MeterState>,
    /// Hints for meters not yet seen in this run.
    hints: HashMap<String, CounterHint>,
    /// Input names, shared by every event of that input (one per configured input).
    inputs: HashSet<Arc<str>>,
    /// The last event's input (one of `inputs`).
    last_input: Option<Arc<str>>,
    /// Counter values held back by the guard, for tests and logs.
    pub held_back: u64,
}

impl CounterHint {
    /// When, on the monotonic clock, the hinted values were the meter's: its first reading
    /// in this run at `now`, less the difference of the two meter times. `None` where unknown
    /// (no or bad time, a meter clock that went back), which leaves the hints undated.
    fn taken_at(&self, first: &Reading, now: Instant) -> Option<Instant> {
        let age = first.time.unix_seconds().checked_sub(self.unix_time?)?;
        now.checked_sub(Duration::from_secs(u64::try_from(age).ok()?))
    }
}

impl Rules {
    pub fn new(s: RulesSettings) -> Self {
        Rules {
            s,
            meters: Default::default(),
            hints: HashMap::new(),
            inputs: HashSet::new(),
            last_input: None,
            held_back: 0,
        }
    }

    /// Hints from the outputs, given before the first input event: the guard of a meter
    /// starts from them when it is first seen.
    pub fn seed(&mut self, hints: Hints) {
        self.hints.extend(hints.counters);
    }

    fn input_name(&mut self, input: String) -> Arc<str> {
        // The input of the event before, compared without hashing (one input sends many
        // telegrams; SipHash of the name was ≈ 150 instructions a telegram, issue 17).
        if let Some(a) = self.last_input.as_ref().filter(|a| ***a == *input) {
            return a.clone();
        }
        let a = match self.inputs.get(input.as_str()) {
            Some(a) => a.clone(),
            None => {
                let a: Arc<str> = input.into();
                self.inputs.insert(a.clone());
                a
            }
        };
        self.last_input = Some(a.clone());
        a
    }

    /// Apply the rules to what an input sent; the events for the outputs go to `out`.
    pub fn on_input(&mut self, now: Instant, event: InputEvent, out: &mut Vec<Event>) {
        match event {
            InputEvent::Readings {
                input,
                readings,
                interval,
                raw,
            } => {
                let input = self.input_name(input);
                if let Some(bytes) = raw {
                    out.push(Event::Raw(Arc::new(RawTelegram {
                        input: input.clone(),
                        bytes,
                    })));
                }
                for r in readings {
                    self.on_reading(now, &input, r, interval, out);
                }
            }
            InputEvent::Unavailable { meters, reason } => {
                for id in meters {
                    if let Some(m) = self.meters.get_mut(&id) {
                        if m.online {
                            tracing::warn!(meter = %id, %reason, "meter unavailable");
                            m.online = false;
                            out.push(Event::Availability {
                                meter: id,
                                online: false,
                            });
                        }
                    }
                }
            }
        }
    }

    fn on_reading(
        &mut self,
        now: Instant,
        input: &Arc<str>,
        mut reading: Reading,
        interval: Duration,
        out: &mut Vec<Event>,
    ) {
        let id = &reading.meter.id;
        let m = match self.meters.get_mut(id) {
            Some(m) => m,
            None => {
                let seeded = self.hints.remove(id).unwrap_or_default();
                let hint_at = seeded.taken_at(&reading, now);
                let guard = Guard::with_hints(seeded.values, hint_at, now);
                self.meters.entry(id.clone()).or_insert(MeterState {
                    guard,
                    last_seen: now,
                    interval,
                    online: false,
                })
            }
        };
        m.last_seen = now;
        m.interval = interval;
        if !m.online {
            m.online = true;
            out.push(Event::Availability {
                meter: id.clone(),
                online: true,
            });
        }
        let mut held = Vec::new();
        // Where the held values are: a value is held back rarely, so the values are judged in
        // one plain pass and removed afterwards, only then (`Vec::retain`'s bookkeeping for
        // every value was ≈ 25 instructions a value, issue 17).
        let mut holes: Vec<usize> = Vec::new();
        let guard = &mut m.guard;
        let id = &reading.meter.id;
        for (i, meas) in reading.values.iter().enumerate() {
            let q: &QuantityDef = &meas.quantity;
            if !q.class.is_counter() {
                continue;
            }
            let Value::Number(v) = meas.value else {
                continue;
            };
            let key = q.key.as_ref();
            match guard.check_key(&q.key, q.class, q.unit, v, now) {
                Verdict::Accept => {}
                Verdict::Confirmed {
                    previous,
                    hint: false,
                } => {
                    tracing::warn!(meter = %id, quantity = key, %previous, value = %v,
                        "counter changed for good (meter replaced or register corrected): publishing the meter's value from now on (Home Assistant reads a drop below 90 % as a new meter cycle)");
                }
                Verdict::Confirmed {
                    previous,
                    hint: true,
                } => {
                    tracing::warn!(meter = %id, quantity = key, retained = %previous, value = %v,
                        "the retained state read back at start disagrees with the meter: publishing the meter's value");
                }
                Verdict::Hold {
                    previous,
                    reason,
                    first,
                } => {
                    held.push(meas.quantity.clone());
                    holes.push(i);
                    if first {
                        tracing::warn!(meter = %id, quantity = key, %previous, received = %v, %reason,
                            "implausible counter value: holding it back until the meter confirms it");
                    }
                }
            }
        }
        if !holes.is_empty() {
            let mut i = 0;
            let mut next = holes.iter().peekable();
            reading.values.retain(|_| {
                let keep = next.next_if_eq(&&i).is_none();
                i += 1;
                keep
            });
        }
        self.held_back += held.len() as u64;
        out.push(Event::Reading(Arc::new(MeterReading {
            input: input.clone(),
            interval,
            reading,
            held,
        })));
    }

    /// Periodic work (once a second): meters that stopped reporting go offline.
    pub fn on_tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        for (id, m) in self.meters.iter_mut() {
            let limit = (m.interval * self.s.offline_after_intervals).max(MIN_OFFLINE_AFTER);
            if m.online && now.duration_since(m.last_seen) > limit {
                tracing::warn!(meter = %id, silent_for = ?now.duration_since(m.last_seen), "meter stopped reporting: offline");
                m.online = false;
                out.push(Event::Availability {
                    meter: id.clone(),
                    online: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
