//! The quantities the history output has *seen*, before any of their minutes is written.
//!
//! A meter's first row lands in the file only when its first minute ends (up to a minute
//! after the bridge started, or after a new meter appeared). Until then the file knows
//! nothing of it, yet the page already shows the meter and asks for its chart: the endpoint
//! answers such a meter with an empty series (200), and keeps 404 for a meter or a key the
//! bridge has never seen (issue 14). This is that memory: the output fills it, the endpoint
//! reads it.
//!
//! Bounded: at most [`MAX_METERS`] meters and [`MAX_KEYS`] keys each (a real bridge has a
//! few dozen of both); beyond that a new one is simply not remembered (its query stays 404
//! until its first minute is written, nothing is lost).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::reading::order::Cursor;
use crate::reading::{Quantity, Reading, Value};

/// Meters remembered at most.
pub const MAX_METERS: usize = 4096;
/// Keys remembered per meter at most.
pub const MAX_KEYS: usize = 256;

/// One quantity as the answer describes it (`unit`, `counter`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenKey {
    pub key: Cow<'static, str>,
    pub unit: &'static str,
    pub counter: bool,
}

/// What the output has seen, by meter id: per meter the quantities themselves, a pointer each
/// (16 bytes) to the definition the decoder uses anyway, nothing copied; [`SeenKey`] is made
/// when asked. One per meter and quantity, 20 per DSMR 5 meter (issue 17).
#[derive(Debug, Default)]
pub struct Seen {
    meters: Mutex<HashMap<Box<str>, Vec<Quantity>>>,
}

impl Seen {
    /// Remember the numeric quantities of `r` (those the history keeps: `minute.rs`).
    /// Cheap when nothing is new: one uncontended lock and a lookup without allocating.
    pub fn note(&self, r: &Reading) {
        let mut meters = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        let full = meters.len() >= MAX_METERS;
        let keys = match meters.get_mut(r.meter.id.as_str()) {
            Some(k) => k,
            None if full => return,
            None => meters.entry(r.meter.id.as_str().into()).or_default(),
        };
        let len = keys.len();
        // In the order the meter sends them: one comparison per value (`reading::order`).
        let mut at = Cursor::default();
        for v in &r.values {
            if !matches!(v.value, Value::Number(_)) {
                continue;
            }
            if at.find(keys, |k| k.same_key(&v.quantity)).is_none() && keys.len() < MAX_KEYS {
                keys.push(v.quantity.clone());
                at.added(keys.len() - 1);
            }
        }
        if keys.len() != len {
            // Kept for the process's life: no room left over from doubling.
            keys.shrink_to_fit();
        }
    }

    /// `Some(None)`: the meter was seen but not `key`; `None`: the meter was never seen.
    pub fn get(&self, meter: &str, key: &str) -> Option<Option<SeenKey>> {
        let meters = self.meters.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = meters.get(meter)?;
        Some(keys.iter().find(|q| q.key == key).map(|q| SeenKey {
            key: q.key.clone(),
            unit: q.unit.as_str(),
            counter: q.class.is_counter(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::Decimal;
    use crate::reading::{q, MeterInfo, MeterKind};
    use crate::time::Timestamp;

    fn reading(id: &str) -> Reading {
        let mut r = Reading::new(
            MeterInfo::new(id, MeterKind::Electricity),
            Timestamp::from_unix_seconds(1_705_320_000),
        );
        r.push_number(q::POWER_IMPORT, Decimal::parse("1.5").unwrap());
        r.push_number(q::ENERGY_IMPORT_T1, Decimal::parse("5.000").unwrap());
        r
    }

    #[test]
    fn remembers_meters_and_their_keys() {
        let s = Seen::default();
        assert_eq!(s.get("E1", "power_import"), None);
        s.note(&reading("E1"));
        s.note(&reading("E1"));
        let p = s.get("E1", "power_import").unwrap().unwrap();
        assert_eq!((p.unit, p.counter), ("W", false));
        let e = s.get("E1", "energy_import_t1").unwrap().unwrap();
        assert_eq!((e.unit, e.counter), ("kWh", true));
        assert_eq!(s.get("E1", "gas"), Some(None));
        assert_eq!(s.meters.lock().unwrap()["E1"].len(), 2);
    }

    #[test]
    fn keys_in_another_order_are_not_noted_twice() {
        let s = Seen::default();
        s.note(&reading("E1"));
        let mut r = Reading::new(
            MeterInfo::new("E1", MeterKind::Electricity),
            Timestamp::from_unix_seconds(1_705_320_000),
        );
        r.push_number(q::ENERGY_IMPORT_T1, Decimal::parse("5.001").unwrap());
        r.push_number(q::GAS, Decimal::parse("1.5").unwrap());
        r.push_number(q::POWER_IMPORT, Decimal::parse("2").unwrap());
        s.note(&r);
        assert_eq!(s.meters.lock().unwrap()["E1"].len(), 3);
        assert!(s.get("E1", "gas").unwrap().is_some());
    }

    #[test]
    fn is_bounded() {
        let s = Seen::default();
        for i in 0..MAX_METERS + 10 {
            s.note(&reading(&format!("M{i}")));
        }
        assert_eq!(s.meters.lock().unwrap().len(), MAX_METERS);
        assert_eq!(s.get(&format!("M{}", MAX_METERS + 5), "power_import"), None);
        assert!(s.get("M0", "power_import").is_some());
    }
}
