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
use super::outbox::{Delivery, Message, Outbox};
use super::publish::{PublishSettings, Publisher};
use super::topics;
use crate::event::output::{Inbox, OutputSummary};
use crate::fault_log::{FaultLog, Report};

/// How long to wait for retained discovery configs and states after subscribing: they arrive
/// right after SUBACK; 1.5 s covers a Pi under load.
const READBACK_WINDOW: Duration = Duration::from_millis(1500);
/// If the broker is unreachable at start, stop waiting for the read-back and queue readings.
const READBACK_GIVE_UP: Duration = Duration::from_secs(5);
/// Time allowed at shutdown to deliver queued messages and `offline`.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

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
    let mut subs = vec![ha_status.clone()];
    subs.extend(publisher.readback_topics());
    outbox.set_subscriptions(subs);
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
                        readback_until = Some(until.min(Instant::now() + READBACK_WINDOW));
                    }
                }
                Some(Incoming::Publish { topic, payload, retain }) => {
                    if topic == ha_status {
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
            }
            _ = tokio::time::sleep_until(republish_at.unwrap_or(started + far)), if republish_at.is_some() => {
                republish_at = None;
                outbox.publish_all(publisher.republish_all());
            }
            _ = tick.tick() => {
                outbox.publish_all(publisher.on_tick(Instant::now().into_std()));
                let st = outbox.stats();
                let waiting = (st.queued + st.unacked) as u64;
                s.status.update(st.connected, waiting, st.delivered, st.dropped);
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
