//! Delivery: a bounded, ordered queue in front of the MQTT connection, and the books that say
//! which messages the broker has taken. How the books are kept depends on [`Delivery`]
//! (`mqtt.qos`):
//!
//! - **QoS 1** (default). rumqttc forgets unacknowledged publishes when a clean session
//!   reconnects (and a broker restarted without persistence never resumes a session), so we
//!   keep our own books: every message stays in [`Outbox`] until the broker's PUBACK for it
//!   arrives. On a connection error all unacknowledged messages go back to the front of the
//!   queue, the old client and its channel are dropped (nothing in them can be sent twice), and
//!   a fresh connection resends them in their original order. At-least-once: a message whose
//!   PUBACK died with the broker is delivered again.
//! - **QoS 2**. The connection keeps one rumqttc event loop over a persistent session
//!   ([`super::connection`]). After a reconnect that resumes the session, rumqttc itself resends
//!   unfinished PUBLISHes with their original packet ids and the PUBRELs of those already
//!   PUBREC'd (MQTT 3.1.1 §4.4), and the broker discards a PUBLISH whose id it has already
//!   accepted (§4.3.3), so nothing may be requeued here: a message is done on PUBCOMP, and a
//!   PUBLISH event for an id still waiting for its PUBREC is a retransmission, not a new
//!   message. Only when the broker answers a reconnect with session present = 0 (§3.2.2.2: it
//!   lost the session, e.g. restarted without persistence) has rumqttc dropped what it held,
//!   and the unfinished messages are requeued as with QoS 1 (at-least-once for those).
//!
//! While the broker is down the queue and the books together hold at most `capacity`
//! messages; beyond that the oldest queued *readings* ([`Kind::Reading`]: states, per-quantity
//! values, raw telegrams) are dropped and counted. Discovery configs, availability and
//! removals ([`Kind::Control`]) are never dropped for them: without its config a meter has no
//! entities, and a lost `offline` leaves it `online` for good. They are bounded by the number
//! of topics instead: a control message that finds the queue full with no reading left
//! replaces the queued one on the same topic, if any (a retained topic keeps only its last).
//! While connected nothing is dropped: the bridge stops taking input events until the broker
//! has acknowledged enough ([`Outbox::has_room`], [`Outbox::room`]: back-pressure), so the
//! queue exceeds `capacity` by at most what one event (or an HA birth's republish) produces.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::{AsyncClient, QoS, SubscribeFilter};
use tokio::sync::Notify;

mod direct;
mod message;
mod resend;
use direct::Route;
pub use message::{Kind, Message};

/// The delivery guarantee for everything the bridge publishes (`mqtt.qos`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Delivery {
    /// QoS 1 over clean sessions; our books resend. Works with any broker.
    #[default]
    AtLeastOnce,
    /// QoS 2 over a persistent session. Exactly-once across broker restarts only when the
    /// broker persists sessions (Mosquitto `persistence true`).
    ExactlyOnce,
}

impl Delivery {
    /// From `mqtt.qos`, which the configuration has validated to be 1 or 2.
    pub fn from_qos(qos: u8) -> Self {
        if qos == 2 {
            Delivery::ExactlyOnce
        } else {
            Delivery::AtLeastOnce
        }
    }

    pub fn qos(self) -> QoS {
        match self {
            Delivery::AtLeastOnce => QoS::AtLeastOnce,
            Delivery::ExactlyOnce => QoS::ExactlyOnce,
        }
    }
}

/// Queue counters, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub queued: usize,
    pub unacked: usize,
    pub dropped: u64,
    pub delivered: u64,
    pub connected: bool,
}

struct Handed {
    msg: Message,
    /// Known once rumqttc has sent it (`Outgoing::Publish`).
    pkid: Option<u16>,
    /// QoS 2: PUBREC received, the broker owns the message; waiting for PUBCOMP.
    released: bool,
    /// Per-connection messages (the `online` status) are not resent on the next connection,
    /// which publishes its own.
    requeue: bool,
    route: Route,
}

struct Inner {
    delivery: Delivery,
    client: Option<AsyncClient>,
    queue: VecDeque<Message>,
    unacked: VecDeque<Handed>,
    capacity: usize,
    dropped: u64,
    delivered: u64,
    /// Topics we want to receive.
    subscriptions: Vec<String>,
    /// Topics subscribed in the broker's current session for us; a persistent session keeps
    /// them across reconnects, so changes made while disconnected are applied on reconnect.
    at_broker: Vec<String>,
    /// QoS 1: the connection task writes messages itself ([`Outbox::write_directly`]).
    direct: bool,
    /// How many of `unacked` are [`Route::Ready`]: always its last ones.
    ready: usize,
    /// How many of `unacked` went through rumqttc's channel and have no packet id yet.
    in_channel: usize,
}

/// QoS 1: how many messages may be handed to the client before their PUBACKs come back.
/// Larger than rumqttc's in-flight window so the connection never idles waiting for us.
const WINDOW: usize = 256;
/// QoS 2: what a broker takes from one client before the PUBRELs. Mosquitto counts QoS 2
/// messages received and not yet released against `max_inflight_messages` (default 20) and,
/// beyond it, answers PUBREC with "quota exceeded" and discards the message; MQTT 3.1.1's
/// PUBREC cannot carry that code, so to the client the message looks delivered. Also well
/// below rumqttc's in-flight limit (100, which is also its packet id range), so the id it
/// hands out next is never still in use and rumqttc 0.25's id-collision path, which loses
/// track of a publish sent after a PUBCOMP (`handle_incoming_pubcomp` does not record it), is
/// never taken.
const WINDOW_EXACTLY_ONCE: usize = 10;

/// The ordered, bounded delivery queue shared by the bridge and the connection task.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Mutex<Inner>>,
    /// Woken when acknowledgements free room or the connection drops ([`Outbox::room`]).
    room: Arc<Notify>,
}

impl Outbox {
    /// A QoS 1 outbox.
    pub fn new(capacity: usize) -> Self {
        Self::with_delivery(capacity, Delivery::AtLeastOnce)
    }

    pub fn with_delivery(capacity: usize, delivery: Delivery) -> Self {
        Outbox {
            inner: Arc::new(Mutex::new(Inner {
                delivery,
                client: None,
                queue: VecDeque::new(),
                unacked: VecDeque::new(),
                capacity: capacity.max(1),
                dropped: 0,
                delivered: 0,
                subscriptions: Vec::new(),
                at_broker: Vec::new(),
                direct: false,
                ready: 0,
                in_channel: 0,
            })),
            room: Arc::new(Notify::new()),
        }
    }

    pub fn delivery(&self) -> Delivery {
        self.lock().delivery
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update; the queue itself is
        // still a consistent VecDeque, so keep delivering rather than crash.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a message; it goes out at once when connected. While connected nothing is
    /// dropped (the caller waits for [`room`](Self::room) before taking more input); while
    /// disconnected a full queue drops its oldest reading, or this message if it is a reading
    /// and only control messages are queued.
    pub fn publish(&self, msg: Message) {
        let mut inner = self.lock();
        if inner.client.is_none() && inner.queue.len() + inner.unacked.len() >= inner.capacity {
            if let Some(pos) = inner.queue.iter().position(|m| m.kind == Kind::Reading) {
                inner.queue.remove(pos);
                note_dropped(&mut inner);
            } else if msg.kind == Kind::Reading {
                note_dropped(&mut inner);
                return;
            } else if let Some(pos) = inner.queue.iter().position(|m| m.topic == msg.topic) {
                // Superseded: a retained topic keeps only its last message anyway.
                inner.queue.remove(pos);
            }
        }
        inner.queue.push_back(msg);
        pump(&mut inner);
    }

    /// Whether the bridge may take more input: always while disconnected (the queue drops
    /// its oldest readings then), and while connected only below `capacity`.
    pub fn has_room(&self) -> bool {
        let inner = self.lock();
        inner.client.is_none() || inner.queue.len() + inner.unacked.len() < inner.capacity
    }

    /// Wait until [`has_room`](Self::has_room) holds.
    pub async fn room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }

    pub fn publish_all(&self, msgs: impl IntoIterator<Item = Message>) {
        for m in msgs {
            self.publish(m);
        }
    }

    /// Topics to subscribe to; kept across reconnects.
    pub fn set_subscriptions(&self, topics: Vec<String>) {
        let mut inner = self.lock();
        inner.subscriptions = topics;
        sync_subscriptions(&mut inner);
    }

    pub fn stats(&self) -> OutboxStats {
        let inner = self.lock();
        OutboxStats {
            queued: inner.queue.len(),
            unacked: inner.unacked.len(),
            dropped: inner.dropped,
            delivered: inner.delivered,
            connected: inner.client.is_some(),
        }
    }

    /// Publish the final messages (e.g. `offline`), wait until everything queued is
    /// acknowledged or `timeout` passes, then disconnect cleanly (so no last will fires after
    /// our own `offline`). Returns whether the queue was fully flushed.
    pub async fn shutdown(&self, last: Vec<Message>, timeout: Duration) -> bool {
        self.publish_all(last);
        let deadline = tokio::time::Instant::now() + timeout;
        let flushed = loop {
            let s = self.stats();
            if s.queued == 0 && s.unacked == 0 {
                break true;
            }
            if tokio::time::Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let client = self.lock().client.clone();
        if let Some(c) = client {
            let _ = c.disconnect().await;
            // Give the event loop a moment to send DISCONNECT.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        flushed
    }

    /// A CONNACK arrived. Without a session on the broker (always the case for QoS 1's clean
    /// sessions) rumqttc has dropped whatever it held, so the books are requeued and every
    /// subscription is made again.
    pub(super) fn on_connected(&self, client: AsyncClient, status_topic: &str, session: bool) {
        let mut inner = self.lock();
        if !session {
            if inner.delivery == Delivery::ExactlyOnce && inner.unacked.iter().any(|h| h.requeue) {
                tracing::warn!(
                    unfinished = inner.unacked.len(),
                    "the MQTT broker lost our session (persistence off?): resending unfinished \
                     messages, which subscribers may see twice"
                );
            }
            requeue_unacked(&mut inner);
            inner.at_broker.clear();
        }
        inner.client = Some(client);
        let _ = hand(
            &mut inner,
            Message::retained(status_topic.to_string(), "online"),
            false,
        );
        sync_subscriptions(&mut inner);
        pump(&mut inner);
    }

    pub(super) fn on_outgoing_publish(&self, pkid: u16) {
        let mut inner = self.lock();
        let resent = inner.delivery == Delivery::ExactlyOnce
            && inner
                .unacked
                .iter()
                .any(|h| h.pkid == Some(pkid) && !h.released);
        if resent {
            return;
        }
        let Some(h) = inner
            .unacked
            .iter_mut()
            .find(|h| h.pkid.is_none() && h.route != Route::Ready)
        else {
            return;
        };
        h.pkid = Some(pkid);
        if h.route == Route::Channel {
            inner.in_channel = inner.in_channel.saturating_sub(1);
        }
    }

    pub(super) fn on_puback(&self, pkid: u16) {
        let mut inner = self.lock();
        if let Some(pos) = inner.unacked.iter().position(|h| h.pkid == Some(pkid)) {
            inner.unacked.remove(pos);
            inner.delivered += 1;
        }
        pump(&mut inner);
        self.room.notify_waiters();
    }

    pub(super) fn on_pubrec(&self, pkid: u16) {
        let mut inner = self.lock();
        if let Some(h) = inner
            .unacked
            .iter_mut()
            .find(|h| h.pkid == Some(pkid) && !h.released)
        {
            h.released = true;
        }
    }

    pub(super) fn on_pubcomp(&self, pkid: u16) {
        let mut inner = self.lock();
        if let Some(pos) = inner
            .unacked
            .iter()
            .position(|h| h.pkid == Some(pkid) && h.released)
        {
            inner.unacked.remove(pos);
            inner.delivered += 1;
        }
        pump(&mut inner);
        self.room.notify_waiters();
    }

    pub(super) fn on_disconnected(&self) {
        let mut inner = self.lock();
        inner.client = None;
        if inner.delivery == Delivery::AtLeastOnce {
            requeue_unacked(&mut inner);
        }
        drop(inner);
        self.room.notify_waiters();
    }
}

/// Count a dropped reading; log the first and then at every power of two. Dropping happens
/// only while the broker is unreachable ([`Outbox::publish`]).
fn note_dropped(inner: &mut Inner) {
    inner.dropped += 1;
    if inner.dropped == 1 || inner.dropped.is_power_of_two() {
        tracing::warn!(
            dropped = inner.dropped,
            capacity = inner.capacity,
            "MQTT queue full while the broker is unreachable: dropping the oldest readings \
             (discovery and availability are kept)"
        );
    }
}

/// Unfinished messages back to the front of the queue, in their order; beyond the bound the
/// oldest readings are dropped (never control messages).
fn requeue_unacked(inner: &mut Inner) {
    inner.ready = 0;
    inner.in_channel = 0;
    let unacked: Vec<Handed> = inner.unacked.drain(..).collect();
    for h in unacked.into_iter().rev() {
        if h.requeue {
            inner.queue.push_front(h.msg);
        }
    }
    while inner.queue.len() > inner.capacity {
        let Some(pos) = inner.queue.iter().position(|m| m.kind == Kind::Reading) else {
            break;
        };
        inner.queue.remove(pos);
        note_dropped(inner);
    }
}

/// Bring the broker's subscriptions in line with the wanted ones, if connected. Incoming
/// messages stay at QoS 1 in both modes: rumqttc 0.25 as a QoS 2 receiver forgets the ids it
/// has PUBREC'd when the connection drops (`MqttState::clean`) and then fails every resumed
/// connection on the broker's resent PUBREL (`StateError::Unsolicited`); what we receive (HA's
/// birth message, the retained read-back) is idempotent anyway.
///
/// The new topics go out in one SUBSCRIBE, so its one SUBACK says all of them are in place
/// (the MQTT output's end-of-read-back marker waits for it: `mqtt::output`).
fn sync_subscriptions(inner: &mut Inner) {
    let Some(client) = &inner.client else {
        return;
    };
    for t in &inner.at_broker {
        if !inner.subscriptions.contains(t) {
            let _ = client.try_unsubscribe(t.clone());
        }
    }
    let new: Vec<SubscribeFilter> = inner
        .subscriptions
        .iter()
        .filter(|t| !inner.at_broker.contains(t))
        .map(|t| SubscribeFilter::new(t.clone(), QoS::AtLeastOnce))
        .collect();
    if !new.is_empty() {
        let _ = client.try_subscribe_many(new);
    }
    inner.at_broker = inner.subscriptions.clone();
}

/// Hand one message to the live client and remember it until acknowledged; a message the
/// client did not take comes back (`Err`). Taken by value: the books keep this one and the
/// client gets the only copy (a publish used to be copied twice here, topic and payload
/// each time: 4 allocations and ≈ 2 KB of copying per state at 20 000 states/s, issue 17).
///
/// With [`Outbox::write_directly`] on and something unacknowledged, the message waits in the
/// books for the connection task instead.
fn hand(inner: &mut Inner, msg: Message, requeue: bool) -> Result<(), Message> {
    let Some(client) = &inner.client else {
        return Err(msg);
    };
    let route = if inner.direct && !inner.unacked.is_empty() {
        inner.ready += 1;
        Route::Ready
    } else {
        let sent = client.try_publish(
            msg.topic.clone(),
            inner.delivery.qos(),
            msg.retain,
            msg.payload.clone(),
        );
        if sent.is_err() {
            return Err(msg);
        }
        inner.in_channel += 1;
        Route::Channel
    };
    inner.unacked.push_back(Handed {
        msg,
        pkid: None,
        released: false,
        requeue,
        route,
    });
    Ok(())
}

fn pump(inner: &mut Inner) {
    let window = match inner.delivery {
        Delivery::AtLeastOnce => WINDOW,
        Delivery::ExactlyOnce => WINDOW_EXACTLY_ONCE.min(inner.capacity),
    };
    while inner.client.is_some() && inner.unacked.len() < window {
        let Some(msg) = inner.queue.pop_front() else {
            break;
        };
        if let Err(msg) = hand(inner, msg, true) {
            inner.queue.push_front(msg);
            break;
        }
    }
}

#[cfg(test)]
mod tests;
