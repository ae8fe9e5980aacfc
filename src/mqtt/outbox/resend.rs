//! QoS 2: rumqttc's resend list after a connection error, in the order MQTT requires.

use std::collections::VecDeque;

use rumqttc::Request;

use super::Outbox;

impl Outbox {
    /// QoS 2, after a connection error: put rumqttc's resend list back in the order the
    /// messages were first sent and mark the PUBLISHes as resent.
    ///
    /// MQTT 3.1.1 §4.6 requires resending in the original order, and Mosquitto delivers a
    /// QoS 2 message when its PUBREL arrives, so the PUBRELs must keep that order too.
    /// rumqttc 0.25 (`MqttState::clean`) lists PUBLISHes from the last PUBACK'd id on (never
    /// moved by QoS 2) and then PUBRELs by id, which reorders both once the ids wrap around.
    /// §3.3.1.1 requires DUP = 1 on a resent PUBLISH, which rumqttc does not set. Requests that
    /// were never sent (packet id 0, or not a publish) keep their order after the resends.
    /// Returns how many PUBLISHes and PUBRELs will be resent.
    pub(in crate::mqtt) fn order_resends(&self, pending: &mut VecDeque<Request>) -> (usize, usize) {
        let inner = self.lock();
        let first_sent = |req: &Request| {
            let (pkid, released) = match req {
                Request::Publish(p) if p.pkid != 0 => (p.pkid, false),
                Request::PubRel(r) => (r.pkid, true),
                _ => return usize::MAX,
            };
            inner
                .unacked
                .iter()
                .position(|h| h.pkid == Some(pkid) && h.released == released)
                .unwrap_or(usize::MAX)
        };
        let mut list: Vec<Request> = pending.drain(..).collect();
        list.sort_by_cached_key(first_sent);
        let (mut publishes, mut pubrels) = (0, 0);
        for req in &mut list {
            match req {
                Request::Publish(p) if p.pkid != 0 => {
                    p.dup = true;
                    publishes += 1;
                }
                Request::PubRel(_) => pubrels += 1,
                _ => {}
            }
        }
        pending.extend(list);
        (publishes, pubrels)
    }
}
