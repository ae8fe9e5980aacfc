//! From events to messages: MQTT's publishing policy and discovery memory.
//!
//! The rules every output shares (counter guard, availability) ran before an event gets here
//! ([`crate::event::Rules`]); what is MQTT's own is decided here. [`Publisher`] is pure logic
//! with the clock passed in, so every rule here is unit-tested without a broker:
//! - at most one state per meter per `min_interval` (the newest in between is sent when the
//!   interval ends), optionally only on change (for Domoticz's log);
//! - discovery configs for every quantity a meter reports (also one whose value the guard
//!   holds back, so Home Assistant keeps the entity), availability and state topics;
//! - retained topics are the memory: discovery configs and last states read back at start
//!   tell which entities to remove and give the rules' counter guard its (weak) hints
//!   ([`Publisher::take_hints`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::discovery::{self, DiscoveryContext};
use super::outbox::Message;
use super::topics;
use crate::event::{ByMeter, CounterHint, Event, MeterReading};
use crate::reading::{MeterInfo, Quantity, Value};

/// Publisher settings (from the configuration).
#[derive(Debug, Clone)]
pub struct PublishSettings {
    pub base: String,
    pub discovery_prefix: Option<String>,
    pub min_interval: Duration,
    pub on_change: bool,
    pub per_quantity_topics: bool,
    pub raw_topic: bool,
    pub stale_meter_timeout: Duration,
    /// How Home Assistant devices are named (from the configured inputs).
    pub naming: discovery::Naming,
}

struct MeterState {
    info: Arc<MeterInfo>,
    /// The input that reads this meter (device names depend on it).
    input: Arc<str>,
    /// Every quantity this meter reported in this run, in first-seen order.
    quantities: Vec<Quantity>,
    /// Whether one of `quantities` is keyed `time` (a user-listed register can be): its state
    /// JSON then always takes the path that handles repeated keys.
    time_key: bool,
    /// How many of `quantities` (a prefix: each publish announces every quantity not yet
    /// announced) have their discovery config out. A count, not a set of keys: with 10 000
    /// meters the sets were ~2 KB each (issue 17).
    discovered: usize,
    /// The last published reading (for `republish_all` and `on_change`): the event's own
    /// `Arc`, which the web output keeps as well, so a meter's latest state is not held twice
    /// (a copy of its payload was ≈ 750 bytes a meter, issue 17). Its payload is written again
    /// when needed: it is a function of the reading alone (`Reading::write_state_json`).
    last: Option<Arc<MeterReading>>,
    /// The length of the last state payload: the next one's buffer is allocated once.
    last_len: usize,
    last_publish: Option<Instant>,
    /// The newest reading held back by `min_interval` (shared with the event, not copied).
    pending: Option<Arc<MeterReading>>,
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
    meters: ByMeter<MeterState>,
    /// Each meter's availability as the rules last said it.
    online: HashMap<String, bool>,
    /// Our discovery configs that exist on the broker (read back or published), by node id.
    retained_discovery: BTreeMap<String, NodeMemory>,
    /// Values read back from retained states, until the rules take them.
    retained_counters: HashMap<String, CounterHint>,
    started: Instant,
    stale_checked: bool,
}

impl Publisher {
    pub fn new(s: PublishSettings, now: Instant) -> Self {
        Publisher {
            s,
            meters: Default::default(),
            online: HashMap::new(),
            retained_discovery: BTreeMap::new(),
            retained_counters: HashMap::new(),
            started: now,
            stale_checked: false,
        }
    }

    fn ctx(&self) -> Option<DiscoveryContext<'_>> {
        self.s.ctx()
    }

    /// Handle one event from the rules.
    pub fn on_event(&mut self, now: Instant, event: &Event) -> Vec<Message> {
        let mut out = Vec::new();
        match event {
            Event::Raw(raw) => {
                if self.s.raw_topic {
                    out.push(Message::transient(
                        topics::raw(&self.s.base, &raw.input),
                        raw.bytes.clone(),
                    ));
                }
            }
            Event::Availability { meter, online } => {
                self.online.insert(meter.clone(), *online);
                out.push(Message::retained(
                    topics::availability(&self.s.base, meter),
                    if *online { "online" } else { "offline" },
                ));
            }
            Event::Reading(r) => self.on_reading(now, r, &mut out),
        }
        out
    }

    fn on_reading(&mut self, now: Instant, r: &Arc<MeterReading>, out: &mut Vec<Message>) {
        let reading = &r.reading;
        let Publisher {
            s,
            meters,
            retained_discovery,
            ..
        } = self;
        // One lookup per reading, the publish included (four were ≈ 250 instructions per
        // reading, issue 17); the meter id is copied once per meter, not per telegram.
        let m = match meters.get_mut(&reading.meter.id) {
            Some(m) => m,
            None => meters
                .entry(reading.meter.id.clone())
                .or_insert(MeterState {
                    info: reading.meter.clone(),
                    input: r.input.clone(),
                    quantities: Vec::new(),
                    time_key: false,
                    discovered: 0,
                    last: None,
                    last_len: 0,
                    last_publish: None,
                    pending: None,
                }),
        };
        if !Arc::ptr_eq(&m.info, &reading.meter) {
            m.info = reading.meter.clone();
        }
        let due = match m.last_publish {
            Some(t) => now.duration_since(t) >= s.min_interval,
            None => true,
        };
        if due {
            publish_reading(s, retained_discovery, m, now, r, out);
        } else {
            m.pending = Some(r.clone());
        }
    }

    /// Periodic work: flush readings held by `min_interval`, removal of meters that did not
    /// come back after start.
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
            let Some(m) = self.meters.get_mut(&id) else {
                continue;
            };
            if let Some(r) = m.pending.take() {
                publish_reading(&self.s, &mut self.retained_discovery, m, now, &r, &mut out);
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
            let online = self.online.get(id).copied().unwrap_or(false);
            out.push(Message::retained(
                topics::availability(&self.s.base, id),
                if online { "online" } else { "offline" },
            ));
            if let Some(last) = &m.last {
                let mut payload = Vec::with_capacity(m.last_len);
                last.reading.write_state_json(&mut payload);
                out.push(Message::reading(topics::state(&self.s.base, id), payload));
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

impl PublishSettings {
    fn ctx(&self) -> Option<DiscoveryContext<'_>> {
        self.discovery_prefix
            .as_deref()
            .map(|prefix| DiscoveryContext {
                prefix,
                base: &self.base,
                naming: &self.naming,
            })
    }
}

/// Publish one reading of the meter `m`: discovery for new quantities, state.
fn publish_reading(
    s: &PublishSettings,
    retained_discovery: &mut BTreeMap<String, NodeMemory>,
    m: &mut MeterState,
    now: Instant,
    r: &Arc<MeterReading>,
    out: &mut Vec<Message>,
) {
    let reading = &r.reading;
    let id = &reading.meter.id;
    // Entities exist even while a counter is held back, so HA keeps showing the last value.
    let held = r.held.iter();
    // A meter sends its quantities in the same order every time: each is looked for where
    // the last one was found (one comparison), the whole list only when that misses (the
    // search of every known quantity per value was 27 × 14 string comparisons per DSMR 5
    // telegram, issue 17).
    let mut at = 0;
    // Whether the values' quantities are, in order, the start of the known list (distinct
    // keys, none `time`): then the state JSON need not look for repeated keys.
    let mut distinct = !m.time_key;
    for (k, q) in reading
        .values
        .iter()
        .map(|meas| &meas.quantity)
        .chain(held)
        .enumerate()
    {
        if m.quantities.get(at).is_some_and(|known| known.same_key(q)) {
            at += 1;
            continue;
        }
        if k < reading.values.len() {
            distinct = false;
        }
        match m.quantities.iter().position(|known| known.key == q.key) {
            Some(i) => at = i + 1,
            None => {
                m.time_key |= q.key == "time";
                m.quantities.push(q.clone());
                at = m.quantities.len();
            }
        }
    }
    // The payload is written once (`Reading::write_state_json`), sized as the last one plus
    // room for values that gained a digit, so it is allocated once.
    let mut payload = Vec::with_capacity(m.last_len + 32);
    let values_at = if distinct {
        reading.write_state_json_distinct(&mut payload)
    } else {
        reading.write_state_json(&mut payload)
    };
    if s.on_change {
        // The last payload written again (on change only: the default publishes every
        // reading and needs no copy of it); the values, after the time, are compared.
        let same = m.last.as_ref().is_some_and(|last| {
            let mut before = Vec::with_capacity(m.last_len);
            let before_at = last.reading.write_state_json(&mut before);
            before.get(before_at..) == payload.get(values_at..)
        });
        if same {
            return;
        }
    }
    m.last_publish = Some(now);
    m.pending = None;
    m.last = Some(r.clone());
    m.last_len = payload.len();
    // Discovery first, so HA has the entity before its first state arrives.
    if m.discovered < m.quantities.len() {
        let first_discovery = m.discovered == 0;
        let from = m.discovered;
        m.discovered = m.quantities.len();
        if let Some(ctx) = s.ctx() {
            for q in m.quantities.get(from..).unwrap_or_default() {
                let (topic, payload) = discovery::entity(&ctx, &m.input, &m.info, q);
                out.push(Message::retained(topic, payload.to_string()));
            }
        }
        if let Some(prefix) = s.discovery_prefix.as_deref() {
            let node = topics::node_id(&s.base, id);
            if first_discovery {
                clear_ghost_entities(retained_discovery, prefix, &node, id, m, out);
            }
            // The keys just announced are not added to `objects`: for a meter of this run
            // they are only read by the ghost clean-up above, which runs once, before.
            let n = retained_discovery.entry(node).or_default();
            n.meter = Some(id.clone());
        }
    }
    out.push(Message::reading(topics::state(&s.base, id), payload));
    if s.per_quantity_topics {
        for meas in &reading.values {
            let text = match &meas.value {
                Value::Number(d) => {
                    // 32: `write_to` appends a 32-byte scratch and cuts it to the text.
                    let mut text = Vec::with_capacity(32);
                    d.write_to(&mut text);
                    text
                }
                Value::Text(t) => t.clone().into_bytes(),
                Value::Time(t) => t.to_string().into_bytes(),
            };
            out.push(Message::reading(
                topics::quantity(&s.base, id, &meas.quantity.key),
                text,
            ));
        }
    }
}

/// Remove retained configs of a meter's entities (node `node`) that this run does not report.
fn clear_ghost_entities(
    retained_discovery: &mut BTreeMap<String, NodeMemory>,
    prefix: &str,
    node: &str,
    id: &str,
    m: &MeterState,
    out: &mut Vec<Message>,
) {
    let Some(n) = retained_discovery.get_mut(node) else {
        return;
    };
    let set = &mut n.objects;
    let announced = m.quantities.get(..m.discovered).unwrap_or_default();
    let ghosts: Vec<String> = set
        .iter()
        .filter(|o| !announced.iter().any(|q| q.key == o.as_str()))
        .cloned()
        .collect();
    for g in ghosts {
        tracing::info!(meter = %id, entity = %g, "removing entity the meter no longer reports");
        set.remove(&g);
        out.push(Message::retained(
            topics::discovery(prefix, node, &g),
            Vec::new(),
        ));
    }
}

mod memory;
#[cfg(test)]
mod tests;
