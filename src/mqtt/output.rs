//! The MQTT output: events → [`Publisher`] → [`Outbox`] → broker, as one task behind the
//! output interface ([`crate::event::output`]).
//!
//! At start it subscribes to its retained discovery configs and states, reads them back
//! (hints for the rules' counter guard, and which entities exist), hands the hints over and
//! only then takes events. The connection runs as its own task and reports back through
//! [`Incoming`]. Home Assistant's birth message republishes discovery and the last states.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::connection::{run_connection, ConnectSettings, Incoming};
use super::outbox::{Delivery, Kind, Message, Outbox};
use super::publish::{PublishSettings, Publisher};
use super::topics;
use crate::event::output::{Inbox, OutputSummary};
use crate::fault_log::{FaultLog, Report};

/// The read-back's fallback end: how long after CONNACK to wait for the end-of-read-back
/// marker ([`ReadbackMarker`]) before taking events anyway, logged when used. Only a broker
/// that denies or drops the marker (an ACL on the bridge's base, a full queue) gets here; it
/// is the fixed window the bridge used before the marker (1.5 s covers a Pi under load).
const READBACK_FALLBACK: Duration = Duration::from_millis(1500);
/// If the broker is unreachable at start, stop waiting for the read-back and queue readings.
const READBACK_GIVE_UP: Duration = Duration::from_secs(5);
/// Time allowed at shutdown to deliver queued messages and `offline`.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

/// The end of the read-back: a message the bridge sends to itself once the broker has
/// acknowledged the read-back subscriptions (their one SUBACK: `outbox::sync_subscriptions`).
/// When it comes back, the retained messages the broker queued for those subscriptions have
/// arrived before it, and the output takes events at once instead of waiting a fixed window
/// (issue 17: first state < 50 ms after the first telegram, it was 1.5 s).
///
/// Why that holds, and how far: MQTT 3.1.1 §3.3.1.3 [MQTT-3.3.1-6] says a new subscription
/// gets the matching retained messages, not when; §4.6 orders messages per topic ("Ordered
/// Topic"), and the marker is on a topic of its own, so the spec does not promise it comes
/// after the retained ones. Mosquitto (2.0, single-threaded) does: handling the SUBSCRIBE it
/// puts every matching retained message into this client's outgoing queue (`sub__retain_queue`
/// right after the SUBACK), and the marker, a later PUBLISH on the same connection, is routed
/// into the same FIFO queue behind them (both QoS 1, so neither overtakes the other). A broker
/// that hands retained messages out asynchronously (EMQX's retainer dispatches from a worker
/// pool) may deliver some after the marker: then those hints are missed and the guard starts
/// without them, as for a meter never seen before (it still holds a first spike back until
/// readings agree: `guard`). If the marker never comes back, [`READBACK_FALLBACK`] ends the
/// read-back.
///
/// QoS 1 and not retained (nobody subscribing later sees it), on a topic under the bridge's own
/// base with a per-process token, so another instance's marker is never taken for ours.
struct ReadbackMarker {
    topic: String,
    token: String,
}

impl ReadbackMarker {
    fn new(base: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let token = format!("{}-{nanos:x}", std::process::id());
        ReadbackMarker {
            topic: format!("{base}/_readback/{token}"),
            token,
        }
    }

    fn message(&self) -> Message {
        Message {
            topic: self.topic.clone(),
            payload: self.token.clone().into_bytes(),
            retain: false,
            kind: Kind::Control,
        }
    }

    fn is(&self, topic: &str, payload: &[u8]) -> bool {
        topic == self.topic && payload == self.token.as_bytes()
    }
}

/// What the MQTT output needs beyond the connection and publishing settings.
pub struct MqttOutputSettings {
    pub connect: ConnectSettings,
    pub publish: PublishSettings,
    pub queue_size: usize,
    pub qos: u8,
    /// Home Assistant's birth/last-will topic (`homeassistant/status`).
    pub ha_status_topic: String,
    /// Where the connection's health is shown to other outputs (`/metrics`).
    pub status: std::sync::Arc<crate::event::broker::BrokerStatus>,
}

/// A delay of 0.5 to 3 s before answering HA's birth message, so a fleet of bridges does
/// not answer at the same instant (as zigbee2mqtt and ESPHome do).
fn birth_delay() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(500 + u64::from(nanos) % 2500)
}

/// Log Home Assistant's birth message once, then at most a summary every 5 min: a Home
/// Assistant (or anything else) publishing `online` in a loop must not fill the log with one
/// line per message (issue 18 §14). [`FaultLog`] keeps the counts.
fn log_birth(births: &mut FaultLog, delay: Duration) {
    match births.fail(Instant::now().into_std()) {
        Report::Started => tracing::info!(?delay, "Home Assistant came online: republishing discovery and states (further births are summarised every 5 min)"),
        Report::Summary { since_last, .. } => tracing::info!(births = since_last, ?delay,
            "Home Assistant came online again: republishing discovery and states"),
        Report::Quiet => tracing::debug!(?delay, "Home Assistant came online"),
    }
}

/// The outbox's figures into the status other outputs show (`/metrics`).
fn report_status(outbox: &Outbox, status: &crate::event::broker::BrokerStatus) {
    let st = outbox.stats();
    let waiting = (st.queued + st.unacked) as u64;
    status.update(st.connected, waiting, st.delivered, st.dropped);
}

/// Run the MQTT output until its event channel closes, then flush (`offline` for every meter
/// and the bridge) for at most [`SHUTDOWN_FLUSH`].
pub async fn run(s: MqttOutputSettings, inbox: Inbox) -> OutputSummary {
    let Inbox {
        mut events,
        ready,
        mut stopping,
    } = inbox;
    let started = Instant::now();
    let base = s.publish.base.clone();
    let outbox = Outbox::with_delivery(s.queue_size, Delivery::from_qos(s.qos));
    let mut publisher = Publisher::new(s.publish, started.into_std());
    let ha_status = s.ha_status_topic;
    let marker = ReadbackMarker::new(&base);
    let mut subs = vec![ha_status.clone()];
    subs.extend(publisher.readback_topics());
    subs.push(marker.topic.clone());
    outbox.set_subscriptions(subs);
    // Connected, the read-back subscriptions not yet acknowledged: the marker goes out on
    // their SUBACK.
    let (mut marker_due, mut marker_sent) = (false, false);
    let (ev_tx, mut ev_rx) = mpsc::channel::<Incoming>(4096);
    let conn = tokio::spawn(run_connection(outbox.clone(), s.connect, ev_tx));

    let mut readback_until = Some(started + READBACK_GIVE_UP);
    let mut ready = Some(ready);
    let mut republish_at: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let far = Duration::from_secs(86_400 * 365);
    let mut births = FaultLog::default();
    let mut stop = false;
    // Back-pressure (issue 18 §5): while the broker is connected and the outbox is full, take
    // no events until it acknowledges; the fan-out then waits, and with it the inputs.
    // The first wait of a run is logged at info, later ones (a burst fills it again and
    // again) at debug. Once the bridge stops, everything left is taken at once.
    let (mut waiting, mut waited) = (false, false);
    loop {
        if readback_until.is_some() && stop {
            readback_until = None;
        }
        if readback_until.is_none() {
            if let Some(ready) = ready.take() {
                outbox.set_subscriptions(vec![ha_status.clone()]);
                tracing::debug!("read back retained discovery and states");
                let _ = ready.send(publisher.take_hints());
            }
        }
        let readback_done = readback_until.is_none();
        let room = stop || outbox.has_room();
        if !room && !waiting {
            let what = "MQTT queue full while connected: waiting for the broker to acknowledge before taking more readings (nothing is dropped)";
            if waited {
                tracing::debug!(capacity = s.queue_size, "{what}");
            } else {
                tracing::info!(capacity = s.queue_size, "{what}");
            }
            waited = true;
        }
        waiting = !room;
        tokio::select! {
            ev = events.recv(), if readback_done && room => match ev {
                Some(ev) => outbox.publish_all(publisher.on_event(Instant::now().into_std(), &ev)),
                None => break,
            },
            _ = outbox.room(), if readback_done && !room => {}
            changed = stopping.changed(), if !stop => {
                stop = changed.is_err() || *stopping.borrow();
            }
            inc = ev_rx.recv() => match inc {
                Some(Incoming::Connected) => {
                    s.status.connected();
                    if let Some(until) = readback_until {
                        readback_until = Some(until.min(Instant::now() + READBACK_FALLBACK));
                        marker_due = true;
                        marker_sent = false;
                    }
                }
                Some(Incoming::SubAck) => {
                    // Fresh figures for `/metrics` once the connection is set up (the
                    // `online` status is acknowledged before this SUBACK), not a tick later.
                    report_status(&outbox, &s.status);
                    if readback_until.is_some() && marker_due {
                        marker_due = false;
                        marker_sent = true;
                        outbox.publish(marker.message());
                    }
                }
                Some(Incoming::Publish { topic, payload, retain }) => {
                    if marker.is(&topic, &payload) {
                        if readback_until.take().is_some() {
                            tracing::debug!(after = ?started.elapsed(), "read-back complete (its end marker came back)");
                        }
                    } else if topic == ha_status {
                        if payload == b"online" {
                            let at = Instant::now() + birth_delay();
                            log_birth(&mut births, at - Instant::now());
                            republish_at = Some(at);
                        }
                    } else if retain {
                        publisher.on_retained(&topic, &payload);
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(readback_until.unwrap_or(started + far)), if readback_until.is_some() => {
                readback_until = None;
                // At info only when the broker took the subscriptions and the marker and is
                // still connected (an ACL, a broker dropping it); a connection that failed in
                // between is logged by the connection already (issue 18 §14: one line).
                if marker_sent && outbox.stats().connected {
                    tracing::info!(waited = ?READBACK_FALLBACK, "the read-back's end marker did not come back from the MQTT broker (does an ACL deny publishing under the base topic?): taking readings after the fallback wait");
                } else {
                    tracing::debug!("MQTT read-back not complete (no connection, or it dropped): taking readings without it");
                }
            }
            _ = tokio::time::sleep_until(republish_at.unwrap_or(started + far)), if republish_at.is_some() => {
                republish_at = None;
                outbox.publish_all(publisher.republish_all());
            }
            _ = tick.tick() => {
                outbox.publish_all(publisher.on_tick(Instant::now().into_std()));
                report_status(&outbox, &s.status);
            }
        }
    }
    // Events already sent by the rules are still published before going offline.
    while let Ok(ev) = events.try_recv() {
        outbox.publish_all(publisher.on_event(Instant::now().into_std(), &ev));
    }
    let mut last = publisher.all_offline();
    last.push(Message::retained(topics::status(&base), "offline"));
    let flushed = outbox.shutdown(last, SHUTDOWN_FLUSH).await;
    let stats = outbox.stats();
    conn.abort();
    OutputSummary {
        delivered: stats.delivered,
        dropped: stats.dropped,
        flushed,
    }
}
