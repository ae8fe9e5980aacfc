//! The output seam: what inputs send, the rules every consumer relies on, and what outputs
//! receive.
//!
//! ```text
//! inputs --InputEvent--> Rules (guard, availability) --Event--> outputs (MQTT, ...)
//! ```
//!
//! Inputs know nothing about outputs and outputs nothing about inputs: both only know this
//! module. The rules that protect *every* consumer run once, here, before any output sees a
//! reading ([`Rules`]): counters never go backwards nor jump ([`crate::guard`]; an all-zero
//! telegram is a drop of every counter, so its counters are held back with it), and a meter's
//! availability (online with a reading, offline when it falls silent or its poll fails). What
//! is particular to one output (MQTT's discovery, topics, `min_interval`/`on_change` for
//! Domoticz, the outbox) stays in that output's module. This is the shape of rtl_433's
//! `data_t` consumed by every `output_*.c`, and of zigbee2mqtt's extensions on one event bus
//! (`/work/shared/notes/architecture-anchors.md`).
//!
//! Pure code with the clock passed in (no tokio): the bridge runs [`Rules`] in one task and
//! fans the [`Event`]s out to the outputs (`bridge::outputs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::decimal::Decimal;
use crate::reading::{Quantity, Reading};

pub mod broker;
pub mod output;
mod rules;
pub mod status;
pub use rules::{Rules, RulesSettings, MIN_OFFLINE_AFTER};

/// A map with one hash lookup per reading, iterated in first-seen order, hashed with foldhash
/// (a meter id through SipHash was ≈ 100 instructions a lookup; seeded per map): for state
/// kept per meter or per input, of which a fan-in has 10 000 (issue 17).
pub(crate) type FastIndexMap<K, V> = indexmap::IndexMap<K, V, foldhash::fast::RandomState>;

/// Per-meter state by meter id, for the rules and every output that keeps some: one hash
/// lookup per reading (a B-tree of 10 000 string keys compared ≈ 40 ids a lookup, each a
/// cache miss: issue 17), iterated in first-seen order so periodic work and tests are stable.
pub(crate) type ByMeter<V> = FastIndexMap<String, V>;

/// What an input tells the bridge.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum InputEvent {
    /// Readings from one input; `interval` is how often this input is expected to report
    /// (observed telegram interval, or the poll interval).
    Readings {
        input: String,
        readings: Vec<Reading>,
        interval: Duration,
        raw: Option<Vec<u8>>,
    },
    /// A polled meter did not answer: mark its meters offline now.
    Unavailable { meters: Vec<String>, reason: String },
}

/// What an output receives, after the [`Rules`]. Cheap to clone: the payloads are shared
/// ([`Arc`]), so fanning one event out to several outputs copies no reading. More kinds will
/// come (the inputs' link health, for a health view): outputs ignore what they do not use.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A meter's raw telegram as its input received it (P1 only), before its readings.
    Raw(Arc<RawTelegram>),
    /// One meter's reading with every counter the rules accepted.
    Reading(Arc<MeterReading>),
    /// A meter came online (its first reading, or its first after being offline; sent just
    /// before that reading) or went offline (silent for too long, or its poll failed).
    Availability { meter: String, online: bool },
}

/// A raw telegram (see [`Event::Raw`]).
#[derive(Debug)]
pub struct RawTelegram {
    pub input: Arc<str>,
    pub bytes: Vec<u8>,
}

/// A reading that passed the [`Rules`] (see [`Event::Reading`]).
#[derive(Debug)]
pub struct MeterReading {
    /// The input that reads this meter (HA device names depend on it).
    pub input: Arc<str>,
    /// How often this meter's input is expected to report.
    pub interval: Duration,
    /// The reading without the counter values the guard held back.
    pub reading: Reading,
    /// Quantities whose value was held back in this reading: they still exist (an output that
    /// announces entities announces them, so Home Assistant keeps showing the last value),
    /// they only have no new value. Empty (no allocation) in the normal case.
    pub held: Vec<Quantity>,
}

impl MeterReading {
    /// The meter's id.
    pub fn meter(&self) -> &str {
        &self.reading.meter.id
    }
}

/// What an output read back at start that the rules should know (MQTT: the retained states
/// of its last run). Outputs hand it over before the rules take the first input event, so
/// the rules never import an output.
#[derive(Debug, Default)]
pub struct Hints {
    /// The last counter values of meters, by meter id.
    pub counters: HashMap<String, CounterHint>,
}

impl Hints {
    /// Merge `other` in; where both know a meter, `other`'s values win per key.
    pub fn merge(&mut self, other: Hints) {
        for (meter, hint) in other.counters {
            let h = self.counters.entry(meter).or_default();
            if hint.unix_time.is_some() {
                h.unix_time = hint.unix_time;
            }
            h.values.extend(hint.values);
        }
    }
}

/// One meter's counter values from an earlier run: weak hints for the guard
/// ([`crate::guard::Guard::with_hints`]), never stronger than the meter.
#[derive(Debug, Default, Clone)]
pub struct CounterHint {
    /// When the meter had these values (the meter's clock, in Unix seconds), if known.
    pub unix_time: Option<i64>,
    /// The values by quantity key.
    pub values: HashMap<String, Decimal>,
}
