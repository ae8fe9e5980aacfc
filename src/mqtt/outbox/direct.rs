//! QoS 1: the connection task writes the outbox's publishes itself, many per flush
//! (`mqtt::connection::write_ready`), instead of one per rumqttc event-loop poll.

use rumqttc::Publish;

use super::{Delivery, Inner, Outbox};

/// How a handed message reaches the connection ([`Outbox::write_directly`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    /// In rumqttc's request channel, or already taken from it.
    Channel,
    /// Waiting for the connection task to write it ([`Outbox::next_direct`]).
    Ready,
    /// Taken by the connection task.
    Direct,
}

impl Outbox {
    /// QoS 1: let the connection task write publishes itself, many per flush, instead of
    /// handing each to rumqttc's request channel, where its event loop takes one request per
    /// poll and makes one `writev` of each (issue 17: 20 000 system calls a second at 10 000
    /// meters, a quarter of the bridge's CPU). Only the first message while nothing is
    /// unacknowledged still goes through the channel: that wakes the event loop, whose next
    /// event (its `Outgoing::Publish`, or a PUBACK for something written before) lets the task
    /// write the rest ([`next_direct`](Self::next_direct)). While any message is unacknowledged
    /// an event is still to come, so a ready message never waits for a wake-up that does not
    /// come.
    pub(in crate::mqtt) fn write_directly(&self) {
        let mut inner = self.lock();
        inner.direct = inner.delivery == Delivery::AtLeastOnce;
    }

    /// How many messages [`next_direct`](Self::next_direct) has now.
    pub(in crate::mqtt) fn direct_ready(&self) -> usize {
        ready_now(&self.lock())
    }

    /// The next message for the connection task to write itself, in the books' order; none
    /// while a message handed to rumqttc's channel has not been sent (it must go first: packet
    /// ids are matched to the books in the order the messages are sent).
    pub(in crate::mqtt) fn next_direct(&self) -> Option<Publish> {
        let mut inner = self.lock();
        if ready_now(&inner) == 0 {
            return None;
        }
        let at = inner.unacked.len().checked_sub(inner.ready)?;
        inner.ready -= 1;
        let qos = inner.delivery.qos();
        let h = inner.unacked.get_mut(at)?;
        h.route = Route::Direct;
        let mut publish = Publish::new(h.msg.topic.clone(), qos, h.msg.payload.clone());
        publish.retain = h.msg.retain;
        Some(publish)
    }
}

/// The ready messages the connection task may write now: none while one handed to rumqttc's
/// channel is unsent.
fn ready_now(inner: &Inner) -> usize {
    if inner.in_channel > 0 {
        0
    } else {
        inner.ready
    }
}
