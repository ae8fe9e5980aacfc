//! What the web output remembers: per meter the last reading the rules let through and its
//! availability, per input the last raw telegram. One entry per meter and per input, each
//! replaced (never appended to), so memory stays bounded by the number of meters.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::event::{ByMeter, Event, FastIndexMap, MeterReading, RawTelegram};
use crate::naming::Naming;
use crate::reading::{Class, MeterInfo, Quantity};

/// Meters remembered at most. Far above issue 17's 10 000 meters per bridge; beyond it new
/// meters are left out of the API (logged once) rather than growing without bound.
pub(crate) const MAX_METERS: usize = 100_000;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One meter as the API shows it.
#[derive(Debug, Clone)]
pub(crate) struct MeterEntry {
    pub info: Arc<MeterInfo>,
    pub input: Arc<str>,
    pub online: bool,
    /// When its last reading arrived (the bridge's clock, Unix ms).
    pub last_seen_ms: u64,
    /// The last reading (shared with the event: nothing is copied).
    pub last: Arc<MeterReading>,
}

/// The last raw telegram of a P1 input.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub telegram: Arc<RawTelegram>,
    pub at_ms: u64,
}

/// What an event changed, for the event stream: the meter's id borrowed from the event, so
/// nothing is allocated per reading while no event-stream client listens (issue 17).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change<'e> {
    State(&'e str),
    Availability { meter: &'e str, online: bool },
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    /// [`Store::meters_by_id`] for listings.
    pub meters: ByMeter<MeterEntry>,
    /// By input name (one per P1 input: as many as meters in a fan-in).
    pub raw: FastIndexMap<Arc<str>, RawEntry>,
    full_logged: bool,
}

impl Store {
    /// Every meter, ordered by id (what the API and `/metrics` list): copies of the entries
    /// (reference counts), so the caller builds its answer after the lock.
    pub fn meters_by_id(&self) -> Vec<MeterEntry> {
        let mut v: Vec<MeterEntry> = self.meters.values().cloned().collect();
        v.sort_unstable_by(|a, b| a.info.id.cmp(&b.info.id));
        v
    }

    /// Take one event in; what changed (for the event stream), if anything.
    pub fn apply<'e>(&mut self, ev: &'e Event, now_ms: u64) -> Option<Change<'e>> {
        match ev {
            Event::Raw(t) => {
                self.raw.insert(
                    t.input.clone(),
                    RawEntry {
                        telegram: t.clone(),
                        at_ms: now_ms,
                    },
                );
                None
            }
            Event::Reading(r) => {
                let id = r.meter();
                if let Some(e) = self.meters.get_mut(id) {
                    e.info = r.reading.meter.clone();
                    e.input = r.input.clone();
                    e.last_seen_ms = now_ms;
                    e.last = r.clone();
                    // The rules send `online` before a meter's first reading; a reading is
                    // proof of life in any case.
                    e.online = true;
                } else if self.meters.len() >= MAX_METERS {
                    if !self.full_logged {
                        self.full_logged = true;
                        tracing::warn!(
                            meter = id,
                            limit = MAX_METERS,
                            "http: too many meters, new ones are not shown in the API"
                        );
                    }
                    return None;
                } else {
                    self.meters.insert(
                        id.to_string(),
                        MeterEntry {
                            info: r.reading.meter.clone(),
                            input: r.input.clone(),
                            online: true,
                            last_seen_ms: now_ms,
                            last: r.clone(),
                        },
                    );
                }
                Some(Change::State(id))
            }
            Event::Availability { meter, online } => {
                // A meter is shown from its first reading on (before it, nothing is known
                // about it but its id).
                let e = self.meters.get_mut(meter)?;
                if e.online == *online {
                    return None;
                }
                e.online = *online;
                Some(Change::Availability {
                    meter,
                    online: *online,
                })
            }
            // Event kinds added later (inputs' health, ...) are not shown here.
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// `reading::Class` as the API names it: its name in snake_case (`ReactiveEnergy` →
/// `reactive_energy`), so a new class needs no table here.
pub(crate) fn class_name(c: Class) -> String {
    let debug = format!("{c:?}");
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, ch) in debug.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

fn quantity_json(q: &Quantity) -> Value {
    json!({
        "key": q.key,
        "name": q.name,
        "unit": q.unit.as_str(),
        "class": class_name(q.class),
        "counter": q.class.is_counter(),
    })
}

/// The Meter object of the API and the event stream (`docs/http-api.md`). `state` is built
/// by the same function as the MQTT state payload (`Reading::state_json`), so the two are
/// identical; the quantities are the reading's and those the rules held back in it (MQTT
/// discovery announces both).
pub(crate) fn meter_json(naming: &Naming, e: &MeterEntry) -> Value {
    let m = &e.info;
    let quantities: Vec<Value> = e
        .last
        .reading
        .values
        .iter()
        .map(|v| &v.quantity)
        .chain(e.last.held.iter())
        .map(quantity_json)
        .collect();
    json!({
        "id": m.id,
        "kind": m.kind.as_str(),
        "name": naming.device_name(&e.input, m),
        "manufacturer": m.manufacturer,
        "model": m.model,
        "serial": m.serial,
        "firmware": m.firmware,
        "protocol": m.protocol,
        "input": &*e.input,
        "parent": m.parent,
        "online": e.online,
        "last_seen_ms": e.last_seen_ms,
        "state": e.last.reading.state_json(),
        "quantities": quantities,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::reading::{q, MeterKind, Reading};
    use crate::time::Timestamp;
    use std::time::Duration;

    pub(crate) fn reading(id: &str, input: &str, power: &str) -> Event {
        let mut r = Reading::new(
            MeterInfo::new(id, MeterKind::Electricity),
            Timestamp::from_unix_seconds(1_700_000_000),
        );
        r.push_number(q::POWER_IMPORT, power.parse().unwrap());
        Event::Reading(Arc::new(MeterReading {
            input: input.into(),
            interval: Duration::from_secs(1),
            reading: r,
            held: vec![q::ENERGY_IMPORT_T1],
        }))
    }

    #[test]
    fn keeps_the_last_reading_and_availability() {
        let mut s = Store::default();
        let off = Event::Availability {
            meter: "E1".into(),
            online: false,
        };
        assert_eq!(s.apply(&off, 1), None, "unknown meters are not invented");
        assert_eq!(
            s.apply(&reading("E1", "p1", "1.5"), 2),
            Some(Change::State("E1"))
        );
        s.apply(&reading("E1", "p1", "63.44"), 3);
        assert_eq!(
            s.apply(&off, 4),
            Some(Change::Availability {
                meter: "E1",
                online: false
            })
        );
        let e = &s.meters["E1"];
        let v = meter_json(&Naming::default(), e);
        assert_eq!(v["state"]["power_import"].to_string(), "63.44");
        assert_eq!(v["online"], false);
        assert_eq!(v["last_seen_ms"], 3);
        assert_eq!(v["name"], "Electricity meter");
        assert_eq!(v["quantities"][1]["key"], "energy_import_t1");
        assert_eq!(v["quantities"][1]["counter"], true);
        assert_eq!(v["quantities"][0]["class"], "power");
        assert_eq!(class_name(Class::ReactiveEnergy), "reactive_energy");
        assert_eq!(
            class_name(Class::TemperatureDifference),
            "temperature_difference"
        );
    }
}
