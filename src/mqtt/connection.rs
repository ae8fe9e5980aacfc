//! The MQTT connection task: connect, feed rumqttc's events into the [`Outbox`]'s books,
//! reconnect with backoff. How depends on the outbox's [`Delivery`]:
//!
//! - QoS 1: a fresh clean-session event loop per connection; the outbox resends what was not
//!   PUBACK'd.
//! - QoS 2: one event loop for the whole process over a persistent session (CleanSession = 0),
//!   so rumqttc keeps its in-flight state across reconnects and resumes every unfinished QoS 2
//!   exchange with its original packet id (MQTT 3.1.1 §4.4), which lets a broker that kept
//!   the session discard what it already has (see `run_persistent_session`).

use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing, Packet, QoS,
    Request, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;

use super::outbox::{Delivery, Outbox};
use super::BrokerUrl;
use crate::fault_log::{FaultLog, Report};

/// What the connection tells the rest of the bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new connection is up (first or after a reconnect).
    Connected,
    /// The broker acknowledged a SUBSCRIBE (the outbox sends one per change of the wanted
    /// topics: [`Outbox::set_subscriptions`]).
    SubAck,
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

/// The rumqttc request channel must hold a full window plus subscriptions.
const CHANNEL_CAP: usize = 256 + 64;
/// Messages gathered before they are written while earlier ones are unacknowledged
/// ([`write_ready`]): at ≈ 600 bytes a state, about one 8 KiB write.
const DIRECT_BATCH: usize = 16;
/// Reconnect delay: doubles from the first to the last value. Capped at 1 s because the broker
/// usually runs on the same host and the bridge must be back within 2 s of the broker
/// returning, however long it was gone.
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How long the session-discarding connection waits for the broker to close it.
const DISCARD_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// `will`: the QoS of the retained `offline` last will, or none.
fn mqtt_options(s: &ConnectSettings, will: Option<QoS>, persistent: bool) -> MqttOptions {
    let mut o = MqttOptions::new(s.client_id.clone(), s.url.host.clone(), s.url.port);
    o.set_keep_alive(s.keepalive);
    // rumqttc asserts a client id for a persistent session; the configuration requires one.
    o.set_clean_session(!persistent || s.client_id.is_empty());
    o.set_max_packet_size(256 * 1024, 256 * 1024);
    if let Some(qos) = will {
        o.set_last_will(LastWill::new(s.status_topic.clone(), "offline", qos, true));
    }
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

/// A connection that lasts this long after its CONNACK ends an outage. Before that, a broker
/// that accepts and drops us (a full disk, a refused ACL, a proxy in front of a dead broker)
/// is one outage, not one "connected"/"lost" pair of lines per reconnect (issue 18 §14).
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// Reconnect pacing and outage logging: a line when the outage starts, a summary at most every
/// [`crate::fault_log::SUMMARY_EVERY`], a line when the connection is back for good.
struct Link {
    backoff: Duration,
    /// Since the last error and until a CONNACK.
    down: bool,
    outage: FaultLog,
    connected_at: Option<std::time::Instant>,
}

impl Link {
    fn new() -> Self {
        Link {
            backoff: BACKOFF_START,
            down: false,
            outage: FaultLog::default(),
            connected_at: None,
        }
    }

    fn up(&mut self, broker: &BrokerUrl, session_present: bool) {
        self.down = false;
        self.connected_at = Some(std::time::Instant::now());
        if self.outage.is_failing() {
            tracing::debug!(%broker, session_present, "connected to MQTT broker again");
        } else {
            tracing::info!(%broker, session_present, "connected to MQTT broker");
        }
    }

    /// Any event on a live connection: once it has lasted [`STABLE_AFTER`], the outage ended.
    fn alive(&mut self, broker: &BrokerUrl) {
        let stable = self
            .connected_at
            .is_some_and(|t| t.elapsed() >= STABLE_AFTER);
        if stable {
            // Like the inputs' backoff, reset by a connection that works, not by a CONNACK.
            self.backoff = BACKOFF_START;
            if let Some(end) = self.outage.ok(std::time::Instant::now()) {
                tracing::info!(%broker, failures = end.count, after = ?end.lasted, "MQTT connection is back");
            }
        }
    }

    fn lost(&mut self, e: &ConnectionError, broker: &BrokerUrl) {
        self.down = true;
        self.connected_at = None;
        match self.outage.fail(std::time::Instant::now()) {
            Report::Started => {
                if let Some(why) = tls_explanation(e) {
                    tracing::error!(%broker, error = %e, "{why}; retrying");
                } else if let ConnectionError::ConnectionRefused(code) = e {
                    tracing::error!(?code, %broker, "MQTT broker refused the connection (check username/password and client_id); retrying");
                } else {
                    tracing::warn!(%broker, error = %e, "MQTT connection lost; queueing readings and retrying");
                }
            }
            Report::Summary {
                count,
                since_last,
                lasted,
            } => {
                tracing::warn!(%broker, error = %e, failures = count, since_last_line = since_last,
                down_for = ?lasted, "MQTT broker still unreachable; retrying")
            }
            Report::Quiet => tracing::debug!(error = %e, "MQTT reconnect failed"),
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}

/// What a TLS failure means for the user, where rustls' own words do not say it. webpki's
/// `CaUsedAsEndEntity` (RFC 5280 §4.2.1.9: a certificate with `cA` set must not be a server's
/// own) is what a self-signed broker certificate made with `openssl req -x509` gives when it
/// is also the `ca_file`. The error sits inside rustls' `OtherError`, whose type is webpki's,
/// not a dependency here; its Debug text names the variant.
fn tls_explanation(e: &ConnectionError) -> Option<&'static str> {
    if !matches!(e, ConnectionError::Tls(_)) {
        return None;
    }
    format!("{e:?}").contains("CaUsedAsEndEntity").then_some(
        "the broker presents a CA certificate as its own (a self-signed certificate used both as \
         the broker's certificate and as mqtt.tls.ca_file): TLS clients refuse that. Make a CA, \
         sign the broker's certificate with it, and give the CA as mqtt.tls.ca_file",
    )
}

enum Flow {
    Go,
    Stop,
}

fn on_event(
    ev: Event,
    outbox: &Outbox,
    client: &AsyncClient,
    settings: &ConnectSettings,
    events: &mpsc::Sender<Incoming>,
    link: &mut Link,
) -> Flow {
    link.alive(&settings.url);
    match ev {
        Event::Incoming(Packet::ConnAck(ack)) => {
            link.up(&settings.url, ack.session_present);
            outbox.on_connected(client.clone(), &settings.status_topic, ack.session_present);
            let _ = events.try_send(Incoming::Connected);
        }
        Event::Outgoing(Outgoing::Publish(pkid)) => outbox.on_outgoing_publish(pkid),
        Event::Incoming(Packet::PubAck(ack)) => outbox.on_puback(ack.pkid),
        Event::Incoming(Packet::PubRec(rec)) => outbox.on_pubrec(rec.pkid),
        Event::Incoming(Packet::PubComp(comp)) => outbox.on_pubcomp(comp.pkid),
        Event::Incoming(Packet::SubAck(_)) => {
            let _ = events.try_send(Incoming::SubAck);
        }
        Event::Incoming(Packet::Publish(p)) => {
            let _ = events.try_send(Incoming::Publish {
                topic: p.topic,
                payload: p.payload.to_vec(),
                retain: p.retain,
            });
        }
        Event::Outgoing(Outgoing::Disconnect) => {
            outbox.on_disconnected();
            return Flow::Stop;
        }
        _ => {}
    }
    Flow::Go
}

/// Run the connection until the outbox disconnects it: connect, deliver, reconnect with
/// backoff. Incoming messages and connection events go to `events`.
pub async fn run_connection(
    outbox: Outbox,
    settings: ConnectSettings,
    events: mpsc::Sender<Incoming>,
) {
    match outbox.delivery() {
        Delivery::AtLeastOnce => run_clean_sessions(outbox, settings, events).await,
        Delivery::ExactlyOnce => run_persistent_session(outbox, settings, events).await,
    }
}

async fn run_clean_sessions(
    outbox: Outbox,
    settings: ConnectSettings,
    events: mpsc::Sender<Incoming>,
) {
    let mut link = Link::new();
    loop {
        let options = mqtt_options(&settings, Some(QoS::AtLeastOnce), false);
        let (client, mut eventloop) = AsyncClient::new(options, CHANNEL_CAP);
        outbox.write_directly();
        loop {
            let written = match eventloop.poll().await {
                Ok(ev) => {
                    if let Flow::Stop =
                        on_event(ev, &outbox, &client, &settings, &events, &mut link)
                    {
                        return;
                    }
                    write_ready(&mut eventloop, &outbox).await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                link.lost(&e, &settings.url);
                break;
            }
        }
        outbox.on_disconnected();
        drop(eventloop);
        link.wait().await;
    }
}

/// Write what the outbox has ready ([`Outbox::write_directly`]) into the connection's buffer
/// and send it with one flush: the buffer goes out in writes of up to 8 KiB (tokio-util's
/// `Framed` flushes on its own beyond its back-pressure boundary) instead of one per message.
///
/// Runs only once rumqttc's buffered events are all handled, so the PUBACKs of one read free
/// their room first and the messages they let through go out together. The same rules as
/// rumqttc's own request branch (`EventLoop::select`): nothing while its in-flight window is
/// full or a packet id collided. What this writes, rumqttc sees as its own requests
/// (`MqttState::handle_outgoing_packet` assigns the packet id and queues the
/// `Outgoing::Publish` events that give the books their ids, in order).
async fn write_ready(eventloop: &mut EventLoop, outbox: &Outbox) -> Result<(), ConnectionError> {
    if !eventloop.state.events.is_empty() {
        return Ok(());
    }
    // Nagle's rule, per message: while earlier publishes are unacknowledged their PUBACKs are
    // sure to wake us, so gather until they are all back or a batch is full. The wait is at
    // most one round trip to the broker.
    let ready = outbox.direct_ready();
    if ready == 0 || (eventloop.state.inflight() > 0 && ready < DIRECT_BATCH) {
        return Ok(());
    }
    let max_inflight = eventloop.mqtt_options.inflight();
    let Some(network) = eventloop.network.as_mut() else {
        return Ok(());
    };
    let mut wrote = false;
    while eventloop.state.inflight() < max_inflight && eventloop.state.collision.is_none() {
        let Some(publish) = outbox.next_direct() else {
            break;
        };
        if let Some(packet) = eventloop
            .state
            .handle_outgoing_packet(Request::Publish(publish))?
        {
            network.write(packet).await?;
            wrote = true;
        }
    }
    if wrote {
        let limit = Duration::from_secs(eventloop.network_options.connection_timeout());
        match tokio::time::timeout(limit, network.flush()).await {
            Ok(flushed) => flushed?,
            Err(_) => return Err(ConnectionError::FlushTimeout),
        }
    }
    Ok(())
}

/// QoS 2 over one persistent session per process.
///
/// The session must start empty. A session left on the broker by an earlier process (killed
/// with unfinished QoS 2 exchanges) holds packet ids awaiting PUBREL that this process,
/// counting from 1 again, reuses; §4.3.3 has the broker answer such a PUBLISH with PUBREC and
/// not deliver it, as a resend of the stored one. (Mosquitto 2 compares topic and payload and
/// stores a differing message as new, but still counts the stale ones against its in-flight
/// quota; other brokers go by the id alone.) So the first connection of a process uses
/// CleanSession = 1, which makes the broker discard any previous session (§3.1.2.4), and
/// disconnects; every connection after it uses CleanSession = 0 on the same rumqttc event
/// loop, whose in-flight state is exactly the session's (§4.4). This costs one extra
/// connection per start, and unlike switching CleanSession off after the first connection it
/// leaves no stretch of time in which a broker restart would end the session.
///
/// After an error rumqttc has moved its unfinished PUBLISHes and PUBRELs to
/// `EventLoop::pending` and resends them first on the next connection if the broker reports
/// the session present (and drops them if not, which [`Outbox::on_connected`] covers). Before
/// that, three fixes from outside: requests the outbox handed over while rumqttc was already
/// failing are drained into `pending` too (a second `clean()`), events rumqttc had buffered
/// are fed to the books so every sent message has its packet id, and the resend list is put
/// back into the original order with DUP set ([`Outbox::order_resends`]).
async fn run_persistent_session(
    outbox: Outbox,
    settings: ConnectSettings,
    events: mpsc::Sender<Incoming>,
) {
    let mut link = Link::new();
    while let Err(e) = discard_previous_session(&settings).await {
        link.lost(&e, &settings.url);
        link.wait().await;
    }
    let options = mqtt_options(&settings, Some(QoS::ExactlyOnce), true);
    let (client, mut eventloop) = AsyncClient::new(options, CHANNEL_CAP);
    loop {
        match eventloop.poll().await {
            Ok(ev) => {
                if let Flow::Stop = on_event(ev, &outbox, &client, &settings, &events, &mut link) {
                    return;
                }
            }
            Err(e) => {
                let outage_starts = !link.down;
                link.lost(&e, &settings.url);
                outbox.on_disconnected();
                eventloop.clean();
                let buffered: Vec<Event> = eventloop.state.events.drain(..).collect();
                for ev in buffered {
                    if let Flow::Stop =
                        on_event(ev, &outbox, &client, &settings, &events, &mut link)
                    {
                        return;
                    }
                }
                let (publishes, pubrels) = outbox.order_resends(&mut eventloop.pending);
                if outage_starts && publishes + pubrels > 0 {
                    tracing::debug!(publishes, pubrels, "QoS 2 exchanges to resume");
                }
                link.wait().await;
            }
        }
    }
}

/// Connect with CleanSession = 1 (no will: this connection is not "online"), disconnect, and
/// wait until the broker closes the connection, so the persistent CONNECT that follows cannot
/// reach it before the DISCONNECT has ended this session.
async fn discard_previous_session(settings: &ConnectSettings) -> Result<(), ConnectionError> {
    let (client, mut eventloop) = AsyncClient::new(mqtt_options(settings, None, false), 4);
    loop {
        match eventloop.poll().await? {
            Event::Incoming(Packet::ConnAck(_)) => {
                let _ = client.try_disconnect();
            }
            Event::Outgoing(Outgoing::Disconnect) => break,
            _ => {}
        }
    }
    let closed = async { while eventloop.poll().await.is_ok() {} };
    let _ = tokio::time::timeout(DISCARD_CLOSE_WAIT, closed).await;
    drop(client);
    tracing::debug!("discarded any MQTT session left by an earlier process");
    Ok(())
}
