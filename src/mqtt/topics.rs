//! The topic layout (documented in README "Topics and payloads"). Changing any of these breaks
//! users' automations and Home Assistant entities.

use crate::reading::sanitize_id;

/// Bridge availability: `online` (retained) after connecting, `offline` as the last will.
pub fn status(base: &str) -> String {
    format!("{base}/status")
}

/// One retained JSON object per meter per reading.
pub fn state(base: &str, meter_id: &str) -> String {
    format!("{base}/{meter_id}/state")
}

/// Per-meter availability: `offline` when the meter stops sending.
pub fn availability(base: &str, meter_id: &str) -> String {
    format!("{base}/{meter_id}/availability")
}

/// Optional plain-number topic per quantity.
pub fn quantity(base: &str, meter_id: &str, key: &str) -> String {
    format!("{base}/{meter_id}/{key}")
}

/// Optional raw telegram topic per input.
pub fn raw(base: &str, input: &str) -> String {
    format!("{base}/{input}/raw")
}

/// The discovery `node_id`: the bridge's base topic and the meter id, so two bridges with
/// different bases never overwrite each other's entities.
pub fn node_id(base: &str, meter_id: &str) -> String {
    format!("{}_{}", sanitize_id(base), meter_id)
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
}
