//! Delivery: a bounded, ordered queue in front of the MQTT connection.
//!
//! rumqttc forgets unacknowledged publishes when a clean session reconnects (and a broker
//! restarted without persistence never resumes a session), so we keep our own books: every
//! message stays in [`Outbox`] until the broker's PUBACK for it arrives. On a connection error
//! all unacknowledged messages go back to the front of the queue, the old client and its
//! channel are dropped (nothing in them can be sent twice), and a fresh connection resends
//! them in their original order. While the broker is down the queue holds at most `capacity`
//! messages; beyond that the oldest are dropped and counted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS,
    TlsConfiguration, Transport,
};
use tokio::sync::mpsc;

use super::BrokerUrl;

/// One message to deliver (QoS 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Message {
    pub fn retained(topic: String, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            topic,
            payload: payload.into(),
            retain: true,
        }
    }

    pub fn transient(topic: String, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            topic,
            payload: payload.into(),
            retain: false,
        }
    }
}

/// What the connection tells the rest of the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new connection is up (first or after a reconnect).
    Connected,
    /// A message on one of our subscriptions.
    Publish {
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    },
}

/// Connection settings, resolved from the configuration.
#[derive(Clone)]
pub struct ConnectSettings {
    pub url: BrokerUrl,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub keepalive: Duration,
    pub ca: Option<Vec<u8>>,
    pub client_auth: Option<(Vec<u8>, Vec<u8>)>,
    /// TLS with the system's CA roots (`mqtts://` without `ca_file`), built at start so a
    /// missing or broken certificate store is a start-up error, not a panic later.
    pub system_roots: Option<std::sync::Arc<rustls::ClientConfig>>,
    pub status_topic: String,
}

impl std::fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSettings")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
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
    pkid: Option<u16>,
    /// Per-connection messages (the `online` status) are not resent on the next connection,
    /// which publishes its own.
    requeue: bool,
}

struct Inner {
    client: Option<AsyncClient>,
    queue: VecDeque<Message>,
    unacked: VecDeque<Handed>,
    capacity: usize,
    dropped: u64,
    delivered: u64,
    subscriptions: Vec<String>,
}

/// How many messages may be handed to the client before their PUBACKs come back. Larger
/// than rumqttc's in-flight window so the connection never idles waiting for us.
const WINDOW: usize = 256;
/// The rumqttc request channel must hold a full window plus subscriptions.
const CHANNEL_CAP: usize = WINDOW + 64;
/// Reconnect delay: doubles from the first to the last value. Capped low because the broker
/// usually runs on the same host: it must be back within 2 s of the broker returning.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The ordered, bounded delivery queue shared by the bridge and the connection task.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Mutex<Inner>>,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        Outbox {
            inner: Arc::new(Mutex::new(Inner {
                client: None,
                queue: VecDeque::new(),
                unacked: VecDeque::new(),
                capacity: capacity.max(1),
                dropped: 0,
                delivered: 0,
                subscriptions: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update; the queue itself is
        // still a consistent VecDeque, so keep delivering rather than crash.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a message; it goes out at once when connected.
    pub fn publish(&self, msg: Message) {
        let mut inner = self.lock();
        if inner.queue.len() + inner.unacked.len() >= inner.capacity
            && inner.queue.pop_front().is_some()
        {
            inner.dropped += 1;
            if inner.dropped == 1 || inner.dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = inner.dropped,
                    capacity = inner.capacity,
                    "MQTT queue full while the broker is unreachable: dropping the oldest messages"
                );
            }
        }
        inner.queue.push_back(msg);
        pump(&mut inner);
    }

    pub fn publish_all(&self, msgs: impl IntoIterator<Item = Message>) {
        for m in msgs {
            self.publish(m);
        }
    }

    /// Topics to (re)subscribe on every connection.
    pub fn set_subscriptions(&self, topics: Vec<String>) {
        let mut inner = self.lock();
        if let Some(client) = &inner.client {
            for t in &inner.subscriptions {
                if !topics.contains(t) {
                    let _ = client.try_unsubscribe(t.clone());
                }
            }
            for t in &topics {
                if !inner.subscriptions.contains(t) {
                    let _ = client.try_subscribe(t.clone(), QoS::AtLeastOnce);
                }
            }
        }
        inner.subscriptions = topics;
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

    fn on_connected(&self, client: AsyncClient, status_topic: &str) {
        let mut inner = self.lock();
        let subs = inner.subscriptions.clone();
        inner.client = Some(client);
        hand(
            &mut inner,
            Message::retained(status_topic.to_string(), "online"),
            false,
        );
        if let Some(c) = &inner.client {
            for t in subs {
                let _ = c.try_subscribe(t, QoS::AtLeastOnce);
            }
        }
        pump(&mut inner);
    }

    fn on_outgoing_publish(&self, pkid: u16) {
        let mut inner = self.lock();
        if let Some(h) = inner.unacked.iter_mut().find(|h| h.pkid.is_none()) {
            h.pkid = Some(pkid);
        }
    }

    fn on_puback(&self, pkid: u16) {
        let mut inner = self.lock();
        if let Some(pos) = inner.unacked.iter().position(|h| h.pkid == Some(pkid)) {
            inner.unacked.remove(pos);
            inner.delivered += 1;
        }
        pump(&mut inner);
    }

    fn on_disconnected(&self) {
        let mut inner = self.lock();
        inner.client = None;
        let unacked: Vec<Handed> = inner.unacked.drain(..).collect();
        for h in unacked.into_iter().rev() {
            if h.requeue {
                inner.queue.push_front(h.msg);
            }
        }
        while inner.queue.len() > inner.capacity {
            inner.queue.pop_front();
            inner.dropped += 1;
        }
    }
}

/// Hand one message to the live client and remember it until acknowledged.
fn hand(inner: &mut Inner, msg: Message, requeue: bool) -> bool {
    let Some(client) = &inner.client else {
        return false;
    };
    match client.try_publish(
        msg.topic.clone(),
        QoS::AtLeastOnce,
        msg.retain,
        msg.payload.clone(),
    ) {
        Ok(()) => {
            inner.unacked.push_back(Handed {
                msg,
                pkid: None,
                requeue,
            });
            true
        }
        Err(_) => false,
    }
}

fn pump(inner: &mut Inner) {
    while inner.client.is_some() && inner.unacked.len() < WINDOW {
        let Some(msg) = inner.queue.pop_front() else {
            break;
        };
        if !hand(inner, msg.clone(), true) {
            inner.queue.push_front(msg);
            break;
        }
    }
}

fn mqtt_options(s: &ConnectSettings) -> MqttOptions {
    let mut o = MqttOptions::new(s.client_id.clone(), s.url.host.clone(), s.url.port);
    o.set_keep_alive(s.keepalive);
    // We resend unacknowledged messages ourselves (see module docs).
    o.set_clean_session(true);
    o.set_max_packet_size(256 * 1024, 256 * 1024);
    o.set_last_will(LastWill::new(
        s.status_topic.clone(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(u) = &s.username {
        o.set_credentials(u.clone(), s.password.clone().unwrap_or_default());
    }
    if s.url.tls {
        let tls = match (&s.ca, &s.system_roots) {
            (Some(ca), _) => Some(TlsConfiguration::Simple {
                ca: ca.clone(),
                alpn: None,
                client_auth: s.client_auth.clone(),
            }),
            (None, Some(cfg)) => Some(TlsConfiguration::Rustls(cfg.clone())),
            (None, None) => None,
        };
        if let Some(tls) = tls {
            o.set_transport(Transport::tls_with_config(tls));
        }
    }
    o
}

/// Run the connection forever: connect, deliver, reconnect with backoff. Incoming messages
/// and connection events go to `events`.
pub async fn run_connection(
    outbox: Outbox,
    settings: ConnectSettings,
    events: mpsc::Sender<Incoming>,
) {
    let mut backoff = BACKOFF_START;
    let mut logged_down = false;
    loop {
        let (client, mut eventloop): (AsyncClient, EventLoop) =
            AsyncClient::new(mqtt_options(&settings), CHANNEL_CAP);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    if ack.code != ConnectReturnCode::Success {
                        tracing::error!(code = ?ack.code, broker = %settings.url, "MQTT broker refused the connection (check username/password)");
                        break;
                    }
                    tracing::info!(broker = %settings.url, "connected to MQTT broker");
                    logged_down = false;
                    backoff = BACKOFF_START;
                    outbox.on_connected(client.clone(), &settings.status_topic);
                    let _ = events.try_send(Incoming::Connected);
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => outbox.on_outgoing_publish(pkid),
                Ok(Event::Incoming(Packet::PubAck(ack))) => outbox.on_puback(ack.pkid),
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = events.try_send(Incoming::Publish {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                    });
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    outbox.on_disconnected();
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    if !logged_down {
                        tracing::warn!(broker = %settings.url, error = %e, "MQTT connection lost; queueing readings and retrying");
                        logged_down = true;
                    } else {
                        tracing::debug!(error = %e, "MQTT reconnect failed");
                    }
                    break;
                }
            }
        }
        outbox.on_disconnected();
        drop(eventloop);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_bounded_and_drops_the_oldest() {
        let o = Outbox::new(3);
        for i in 0..5 {
            o.publish(Message::retained(format!("t/{i}"), "x"));
        }
        let s = o.stats();
        assert_eq!((s.queued, s.dropped, s.connected), (3, 2, false));
        let inner = o.lock();
        let topics: Vec<&str> = inner.queue.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(topics, ["t/2", "t/3", "t/4"]);
    }

    #[test]
    fn unacknowledged_messages_go_back_in_order() {
        let o = Outbox::new(10);
        {
            let mut inner = o.lock();
            for i in 0..3 {
                inner.unacked.push_back(Handed {
                    msg: Message::retained(format!("u/{i}"), "x"),
                    pkid: Some(i + 1),
                    requeue: i != 0,
                });
            }
            inner.queue.push_back(Message::retained("q/0".into(), "x"));
        }
        o.on_disconnected();
        let inner = o.lock();
        let topics: Vec<&str> = inner.queue.iter().map(|m| m.topic.as_str()).collect();
        // u/0 was a per-connection message (the `online` status) and is not resent.
        assert_eq!(topics, ["u/1", "u/2", "q/0"]);
    }
}
