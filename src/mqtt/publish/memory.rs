//! Retained memory read back at start: our own discovery configs (which entities exist) and
//! the last states (weak hints for the counter guard, handed to the rules as
//! [`crate::event::Hints`]).

use super::{discovery, topics, Publisher};
use crate::decimal::Decimal;
use crate::event::Hints;

/// `2024-01-15T12:00:05+01:00` (or `Z`) in Unix seconds; `None` for anything else.
fn unix_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let offset = match s.get(19..)? {
        "Z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let m = i16::try_from(num(20..22)? * 60 + num(23..25)?).ok()?;
            if o.starts_with('-') {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let t = crate::time::Timestamp::new(
        u16::try_from(num(0..4)?).ok()?,
        u8::try_from(num(5..7)?).ok()?,
        u8::try_from(num(8..10)?).ok()?,
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
        offset,
    )?;
    Some(t.unix_seconds())
}

impl Publisher {
    /// Topics to subscribe to while reading back retained memory at start.
    pub fn readback_topics(&self) -> Vec<String> {
        let mut t = vec![format!("{}/+/state", self.s.base)];
        if let Some(p) = &self.s.discovery_prefix {
            t.push(topics::discovery_wildcard(p));
        }
        t
    }

    /// The counter values read back from retained states, for the rules' guard
    /// ([`crate::event::Rules::seed`]); called once, when the read-back ends.
    pub fn take_hints(&mut self) -> Hints {
        Hints {
            counters: std::mem::take(&mut self.retained_counters),
        }
    }

    /// A retained message read back from the broker.
    pub fn on_retained(&mut self, topic: &str, payload: &[u8]) {
        if let Some(prefix) = &self.s.discovery_prefix {
            if let Some((node, object)) = topics::parse_discovery(prefix, topic) {
                if payload.is_empty() {
                    if let Some(n) = self.retained_discovery.get_mut(node) {
                        n.objects.remove(object);
                    }
                    return;
                }
                // Ours only if the config names this bridge exactly (issue 18 §4).
                let owner = serde_json::from_slice::<serde_json::Value>(payload)
                    .ok()
                    .and_then(|v| discovery::owned_meter(&self.s.base, &v));
                if let Some(meter) = owner {
                    let n = self.retained_discovery.entry(node.to_string()).or_default();
                    n.meter = Some(meter);
                    n.objects.insert(object.to_string());
                }
                return;
            }
        }
        if let Some(meter) = topics::parse_state(&self.s.base, topic) {
            if self.meters.contains_key(meter) {
                return;
            }
            let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(payload) else {
                return;
            };
            let state = self.retained_counters.entry(meter.to_string()).or_default();
            state.unix_time = map
                .get("time")
                .and_then(|t| t.as_str())
                .and_then(unix_seconds);
            let counters = &mut state.values;
            for (k, v) in map {
                if let serde_json::Value::Number(n) = v {
                    if let Ok(d) = Decimal::parse(&n.to_string()) {
                        counters.insert(k, d);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unix_seconds;
    use crate::time::Timestamp;

    #[test]
    fn reads_back_the_time_the_bridge_writes() {
        let t = Timestamp::new(2024, 1, 15, 12, 0, 5, 60).unwrap();
        assert_eq!(unix_seconds(&t.to_string()), Some(t.unix_seconds()));
        assert_eq!(unix_seconds("2024-01-15T11:00:05Z"), Some(t.unix_seconds()));
        let west = Timestamp::new(2024, 1, 15, 6, 0, 5, -300).unwrap();
        assert_eq!(unix_seconds(&west.to_string()), Some(west.unix_seconds()));
        for bad in [
            "x",
            "",
            "2024-13-15T12:00:05+01:00",
            "2024-01-15T12:00:05",
            "2024-01-15T12:0a:05Z",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }
}
