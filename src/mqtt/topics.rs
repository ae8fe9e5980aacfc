//! The topic layout (documented in README "Topics and payloads"). Changing any of these breaks
//! users' automations and Home Assistant entities.

use crate::reading::sanitize_id;

/// Bridge availability: `online` (retained) after connecting, `offline` as the last will.
pub fn status(base: &str) -> String {
    format!("{base}/status")
}

/// One retained JSON object per meter per reading.
pub fn state(base: &str, meter_id: &str) -> String {
    // One allocation of the exact size, no formatter: one per telegram (issue 17). Pushed
    // piece by piece: `concat`'s generic join was ≈ 180 instructions a topic.
    let mut t = String::with_capacity(base.len() + meter_id.len() + 7);
    t.push_str(base);
    t.push('/');
    t.push_str(meter_id);
    t.push_str("/state");
    t
}

/// Per-meter availability: `offline` when the meter stops sending.
pub fn availability(base: &str, meter_id: &str) -> String {
    format!("{base}/{meter_id}/availability")
}

/// Optional plain-number topic per quantity.
pub fn quantity(base: &str, meter_id: &str, key: &str) -> String {
    // As [`state`]: one exact allocation, pushed piece by piece (one per value per telegram).
    let mut t = String::with_capacity(base.len() + meter_id.len() + key.len() + 2);
    t.push_str(base);
    t.push('/');
    t.push_str(meter_id);
    t.push('/');
    t.push_str(key);
    t
}

/// Optional raw telegram topic per input.
pub fn raw(base: &str, input: &str) -> String {
    format!("{base}/{input}/raw")
}

/// The discovery `node_id` (also the device identifier and the `unique_id` prefix): the
/// bridge's base topic and the meter id, so two bridges with different bases reading meters
/// with the same id never write to the same discovery topic (issue 18 §4).
///
/// A base made only of `[A-Za-z0-9_-]` (the default `meter2mqtt`, `m2m`, `m2m2`) is used as it
/// is, so existing entities keep their ids: `meter2mqtt_E1`. HA allows only those characters
/// in a node id, so any other base (`m2m/garage`) is sanitized *and* gets 8 hex digits of a
/// hash of the exact base: `m2m_garage_ea7f9bb3_E1`. Otherwise `m2m/garage` and `m2m_garage`
/// (or `a b` and `a_b`) would share node ids; a base with a `/` therefore got new entity ids
/// once, with this rule, and its old configs are removed as stale by the bridge itself (they
/// name its status topic). The hash is FNV-1a 32 (stable across versions and platforms; not
/// for security: it only tells a user's few bases apart).
pub fn node_id(base: &str, meter_id: &str) -> String {
    format!("{}_{}", base_node(base), meter_id)
}

/// The base-topic part of [`node_id`].
fn base_node(base: &str) -> String {
    let clean = sanitize_id(base);
    if clean == base {
        return clean;
    }
    format!("{clean}_{:08x}", fnv1a(base.as_bytes()))
}

/// FNV-1a, 32 bits (offset basis 0x811c9dc5, prime 0x01000193).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// `<prefix>/sensor/<node_id>/<object_id>/config` (HA MQTT discovery, per-entity form).
pub fn discovery(prefix: &str, node_id: &str, object_id: &str) -> String {
    format!("{prefix}/sensor/{node_id}/{object_id}/config")
}

/// Subscription that reads back our own retained discovery configs at start.
pub fn discovery_wildcard(prefix: &str) -> String {
    format!("{prefix}/sensor/+/+/config")
}

/// Parse a discovery topic back into `(node_id, object_id)`.
pub fn parse_discovery<'a>(prefix: &str, topic: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix("/sensor/")?;
    let rest = rest.strip_suffix("/config")?;
    let (node, object) = rest.split_once('/')?;
    (!object.contains('/')).then_some((node, object))
}

/// Parse `<base>/<meter>/state` back into the meter id.
pub fn parse_state<'a>(base: &str, topic: &'a str) -> Option<&'a str> {
    let rest = topic.strip_prefix(base)?.strip_prefix('/')?;
    let meter = rest.strip_suffix("/state")?;
    (!meter.contains('/')).then_some(meter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = discovery("homeassistant", &node_id("meter2mqtt", "E1"), "gas");
        assert_eq!(t, "homeassistant/sensor/meter2mqtt_E1/gas/config");
        assert_eq!(
            parse_discovery("homeassistant", &t),
            Some(("meter2mqtt_E1", "gas"))
        );
        assert_eq!(parse_state("m", "m/E1/state"), Some("E1"));
        assert_eq!(parse_state("m", "m/a/b/state"), None);
    }

    /// Existing users on plain bases keep their entity ids; bases that sanitize alike differ.
    #[test]
    fn node_ids_are_distinct_per_base() {
        assert_eq!(node_id("meter2mqtt", "E1"), "meter2mqtt_E1");
        assert_eq!(node_id("m2m2", "E1"), "m2m2_E1");
        let nested = node_id("m2m/garage", "E1");
        assert_ne!(nested, node_id("m2m_garage", "E1"));
        assert_ne!(nested, node_id("m2m", "garage_E1"));
        assert!(
            nested.starts_with("m2m_garage_") && nested.ends_with("_E1"),
            "{nested}"
        );
        assert!(nested
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        // Pinned: the ids must never change by accident. FNV-1a 32 of "a" is 0xe40c292c
        // (the published test vector).
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(nested, "m2m_garage_ea7f9bb3_E1");
    }
}
