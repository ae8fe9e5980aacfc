//! From readings to messages: the publishing policy, availability and discovery memory.
//!
//! [`Publisher`] is pure logic with the clock passed in, so every rule here is unit-tested
//! without a broker:
//! - every counter value (energy, gas, water, hours, failures) passes the [`crate::guard`]
//!   first: a drop or an implausible rise is held back until the meter confirms it as a
//!   lasting change, so Home Assistant's Energy dashboard never shows a spike;
//! - at most one state per meter per `min_interval` (the newest in between is sent when the
//!   interval ends), optionally only on change;
//! - a meter that stops reporting for `offline_after_intervals` intervals goes `offline`;
//! - retained topics are the memory: discovery configs and last states read back at start
//!   give the counter guard its (weak) hints and tell which entities to remove.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::discovery::{self, DiscoveryContext};
use super::outbox::Message;
use super::topics;
use crate::guard::{Guard, Verdict};
use crate::reading::{MeterInfo, Quantity, Reading, Value};

/// What the inputs tell the publisher.
#[derive(Debug, Clone)]
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

/// Publisher settings (from the configuration).
#[derive(Debug, Clone)]
pub struct PublishSettings {
    pub base: String,
    pub discovery_prefix: Option<String>,
    pub min_interval: Duration,
    pub on_change: bool,
    pub offline_after_intervals: u32,
    pub per_quantity_topics: bool,
    pub raw_topic: bool,
    pub stale_meter_timeout: Duration,
    /// How Home Assistant devices are named (from the configured inputs).
    pub naming: discovery::Naming,
}

/// Availability never flips faster than this, whatever the interval (DSMR 5 sends every 1 s).
const MIN_OFFLINE_AFTER: Duration = Duration::from_secs(5);

struct MeterState {
    info: std::sync::Arc<MeterInfo>,
    /// The input that reads this meter (device names depend on it).
    input: String,
    /// Every quantity this meter reported in this run, in first-seen order.
    quantities: Vec<Quantity>,
    discovered: BTreeSet<String>,
    /// What the counters may publish.
    guard: Guard,
    last_values: Option<serde_json::Value>,
    last_state: Option<Vec<u8>>,
    last_publish: Option<Instant>,
    pending: Option<Reading>,
    last_seen: Instant,
    interval: Duration,
    online: bool,
}

/// This bridge's retained discovery configs of one node (one meter).
#[derive(Default)]
struct NodeMemory {
    /// The meter, from the configs' own state topic (never guessed from the node id).
    meter: Option<String>,
    objects: BTreeSet<String>,
}

/// See the module docs.
pub struct Publisher {
    s: PublishSettings,
    meters: BTreeMap<String, MeterState>,
    /// Our discovery configs that exist on the broker (read back or published), by node id.
    retained_discovery: BTreeMap<String, NodeMemory>,
    /// Values read back from retained states, for meters not yet seen in this run.
    retained_counters: HashMap<String, memory::RetainedState>,
    started: Instant,
    stale_checked: bool,
    /// Counter values held back by the guard, for tests and logs.
    pub held_back: u64,
}

impl Publisher {
    pub fn new(s: PublishSettings, now: Instant) -> Self {
        Publisher {
            s,
            meters: BTreeMap::new(),
            retained_discovery: BTreeMap::new(),
            retained_counters: HashMap::new(),
            started: now,
            stale_checked: false,
            held_back: 0,
        }
    }

    fn ctx(&self) -> Option<DiscoveryContext<'_>> {
        self.s
            .discovery_prefix
            .as_deref()
            .map(|prefix| DiscoveryContext {
                prefix,
                base: &self.s.base,
                naming: &self.s.naming,
            })
    }

    /// Handle readings from an input.
    pub fn on_event(&mut self, now: Instant, event: InputEvent) -> Vec<Message> {
        match event {
            InputEvent::Readings {
                input,
                readings,
                interval,
                raw,
            } => {
                let mut out = Vec::new();
                if self.s.raw_topic {
                    if let Some(raw) = raw {
                        out.push(Message::transient(topics::raw(&self.s.base, &input), raw));
                    }
                }
                for r in readings {
                    self.on_reading(now, &input, r, interval, &mut out);
                }
                out
            }
            InputEvent::Unavailable { meters, reason } => {
                let mut out = Vec::new();
                for id in meters {
                    if let Some(m) = self.meters.get_mut(&id) {
                        if m.online {
                            tracing::warn!(meter = %id, %reason, "meter unavailable");
                            m.online = false;
                            out.push(Message::retained(
                                topics::availability(&self.s.base, &id),
                                "offline",
                            ));
                        }
                    }
                }
                out
            }
        }
    }

    fn on_reading(
        &mut self,
        now: Instant,
        input: &str,
        reading: Reading,
        interval: Duration,
        out: &mut Vec<Message>,
    ) {
        let id = reading.meter.id.clone();
        let seeded = self.retained_counters.remove(&id).unwrap_or_default();
        let hint_at = seeded.taken_at(&reading, now);
        let m = self.meters.entry(id.clone()).or_insert_with(|| MeterState {
            info: reading.meter.clone(),
            input: input.to_string(),
            quantities: Vec::new(),
            discovered: BTreeSet::new(),
            guard: Guard::with_hints(seeded.values, hint_at, now),
            last_values: None,
            last_state: None,
            last_publish: None,
            pending: None,
            last_seen: now,
            interval,
            online: false,
        });
        m.info = reading.meter.clone();
        m.last_seen = now;
        m.interval = interval;
        if !m.online {
            m.online = true;
            out.push(Message::retained(
                topics::availability(&self.s.base, &id),
                "online",
            ));
        }
        let due = match m.last_publish {
            Some(t) => now.duration_since(t) >= self.s.min_interval,
            None => true,
        };
        if due {
            self.publish_reading(now, reading, out);
        } else if let Some(m) = self.meters.get_mut(&id) {
            m.pending = Some(reading);
        }
    }

    /// Publish one reading: counter guard, discovery for new quantities, state.
    fn publish_reading(&mut self, now: Instant, mut reading: Reading, out: &mut Vec<Message>) {
        let id = reading.meter.id.clone();
        let Some(m) = self.meters.get_mut(&id) else {
            return;
        };
        // Entities exist even while a counter is held back, so HA keeps showing the last value.
        for meas in &reading.values {
            if !m.quantities.iter().any(|q| q.key == meas.quantity.key) {
                m.quantities.push(meas.quantity.clone());
            }
        }
        let mut held = 0u64;
        reading.values.retain(|meas| {
            if !meas.quantity.class.is_counter() {
                return true;
            }
            let Value::Number(v) = meas.value else {
                return true;
            };
            let (key, q) = (meas.quantity.key.as_ref(), &meas.quantity);
            match m.guard.check(key, q.class, q.unit, v, now) {
                Verdict::Accept => true,
                Verdict::Confirmed { previous, hint: false } => {
                    tracing::warn!(meter = %id, quantity = key, %previous, value = %v,
                        "counter changed for good (meter replaced or register corrected): publishing the meter's value from now on (Home Assistant reads a drop below 90 % as a new meter cycle)");
                    true
                }
                Verdict::Confirmed { previous, hint: true } => {
                    tracing::warn!(meter = %id, quantity = key, retained = %previous, value = %v,
                        "the retained state read back at start disagrees with the meter: publishing the meter's value");
                    true
                }
                Verdict::Hold { previous, reason, first } => {
                    held += 1;
                    if first {
                        tracing::warn!(meter = %id, quantity = key, %previous, received = %v, %reason,
                            "implausible counter value: holding it back until the meter confirms it");
                    }
                    false
                }
            }
        });
        self.held_back += held;
        let state = reading.state_json();
        if self.s.on_change {
            let mut values = state.clone();
            if let Some(o) = values.as_object_mut() {
                o.remove("time");
            }
            if m.last_values.as_ref() == Some(&values) {
                return;
            }
            m.last_values = Some(values);
        }
        m.last_publish = Some(now);
        m.pending = None;
        // Discovery first, so HA has the entity before its first state arrives.
        let new: Vec<Quantity> = m
            .quantities
            .iter()
            .filter(|q| !m.discovered.contains(q.key.as_ref()))
            .cloned()
            .collect();
        let info = m.info.clone();
        let input = m.input.clone();
        for q in &new {
            m.discovered.insert(q.key.to_string());
        }
        let first_discovery = !new.is_empty() && m.discovered.len() == new.len();
        if let Some(ctx) = self.ctx() {
            for q in &new {
                let (topic, payload) = discovery::entity(&ctx, &input, &info, q);
                out.push(Message::retained(topic, payload.to_string()));
            }
        }
        if let (true, Some(prefix)) = (first_discovery, self.s.discovery_prefix.clone()) {
            self.clear_ghost_entities(&prefix, &id, out);
        }
        if self.s.discovery_prefix.is_some() {
            let node = topics::node_id(&self.s.base, &id);
            let n = self.retained_discovery.entry(node).or_default();
            n.meter = Some(id.clone());
            for q in &new {
                n.objects.insert(q.key.to_string());
            }
        }
        let payload = state.to_string().into_bytes();
        if let Some(m) = self.meters.get_mut(&id) {
            m.last_state = Some(payload.clone());
        }
        out.push(Message::reading(topics::state(&self.s.base, &id), payload));
        if self.s.per_quantity_topics {
            for meas in &reading.values {
                let text = match &meas.value {
                    Value::Number(d) => d.to_string(),
                    Value::Text(t) => t.clone(),
                    Value::Time(t) => t.to_string(),
                };
                out.push(Message::reading(
                    topics::quantity(&self.s.base, &id, &meas.quantity.key),
                    text,
                ));
            }
        }
    }

    /// Remove retained configs of a meter's entities that this run does not report.
    fn clear_ghost_entities(&mut self, prefix: &str, id: &str, out: &mut Vec<Message>) {
        let node = topics::node_id(&self.s.base, id);
        let Some(m) = self.meters.get(id) else { return };
        if let Some(n) = self.retained_discovery.get_mut(&node) {
            let set = &mut n.objects;
            let ghosts: Vec<String> = set
                .iter()
                .filter(|o| !m.discovered.contains(o.as_str()))
                .cloned()
                .collect();
            for g in ghosts {
                tracing::info!(meter = %id, entity = %g, "removing entity the meter no longer reports");
                set.remove(&g);
                out.push(Message::retained(
                    topics::discovery(prefix, &node, &g),
                    Vec::new(),
                ));
            }
        }
    }

    /// Periodic work: flush readings held by `min_interval`, availability timeouts, removal
    /// of meters that did not come back after start.
    pub fn on_tick(&mut self, now: Instant) -> Vec<Message> {
        let mut out = Vec::new();
        let due: Vec<String> = self
            .meters
            .iter()
            .filter(|(_, m)| {
                m.pending.is_some()
                    && m.last_publish
                        .is_none_or(|t| now.duration_since(t) >= self.s.min_interval)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            if let Some(r) = self.meters.get_mut(&id).and_then(|m| m.pending.take()) {
                self.publish_reading(now, r, &mut out);
            }
        }
        for (id, m) in self.meters.iter_mut() {
            let limit = (m.interval * self.s.offline_after_intervals).max(MIN_OFFLINE_AFTER);
            if m.online && now.duration_since(m.last_seen) > limit {
                tracing::warn!(meter = %id, silent_for = ?now.duration_since(m.last_seen), "meter stopped reporting: offline");
                m.online = false;
                out.push(Message::retained(
                    topics::availability(&self.s.base, id),
                    "offline",
                ));
            }
        }
        if !self.stale_checked && now.duration_since(self.started) >= self.s.stale_meter_timeout {
            self.stale_checked = true;
            self.clear_stale_meters(&mut out);
        }
        out
    }

    fn clear_stale_meters(&mut self, out: &mut Vec<Message>) {
        let Some(prefix) = self.s.discovery_prefix.clone() else {
            return;
        };
        let live: BTreeSet<String> = self
            .meters
            .keys()
            .map(|id| topics::node_id(&self.s.base, id))
            .collect();
        let stale: Vec<String> = self
            .retained_discovery
            .keys()
            .filter(|n| !live.contains(*n))
            .cloned()
            .collect();
        for node in stale {
            let Some(n) = self.retained_discovery.remove(&node) else {
                continue;
            };
            tracing::info!(node = %node, "removing entities of a meter not seen since start");
            for o in n.objects {
                out.push(Message::retained(
                    topics::discovery(&prefix, &node, &o),
                    Vec::new(),
                ));
            }
            if let Some(meter) = n.meter {
                out.push(Message::retained(
                    topics::state(&self.s.base, &meter),
                    Vec::new(),
                ));
                out.push(Message::retained(
                    topics::availability(&self.s.base, &meter),
                    Vec::new(),
                ));
            }
        }
    }

    /// Home Assistant (or Domoticz) came online: send every discovery config and the last
    /// state of every meter again.
    pub fn republish_all(&self) -> Vec<Message> {
        let mut out = Vec::new();
        for (id, m) in &self.meters {
            if let Some(ctx) = self.ctx() {
                for q in &m.quantities {
                    let (topic, payload) = discovery::entity(&ctx, &m.input, &m.info, q);
                    out.push(Message::retained(topic, payload.to_string()));
                }
            }
            out.push(Message::retained(
                topics::availability(&self.s.base, id),
                if m.online { "online" } else { "offline" },
            ));
            if let Some(s) = &m.last_state {
                out.push(Message::reading(topics::state(&self.s.base, id), s.clone()));
            }
        }
        out
    }

    /// `offline` for every meter, sent at shutdown before the bridge's own status.
    pub fn all_offline(&self) -> Vec<Message> {
        self.meters
            .keys()
            .map(|id| Message::retained(topics::availability(&self.s.base, id), "offline"))
            .collect()
    }
}

mod memory;
#[cfg(test)]
mod tests;
