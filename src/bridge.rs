//! The running service: inputs → [`Publisher`] → [`Outbox`] → broker.
//!
//! One task owns the publishing policy; inputs run as their own tasks and only send
//! [`InputEvent`]s; the MQTT connection runs as its own task and reports back through
//! [`Incoming`]. Data flows one way: nothing downstream calls into an input.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::fault_log::{FaultLog, Report};
use crate::mqtt::connection::{run_connection, ConnectSettings, Incoming};
use crate::mqtt::outbox::{Delivery, Message, Outbox};
use crate::mqtt::publish::{InputEvent, PublishSettings, Publisher};
use crate::mqtt::{topics, BrokerUrl};

mod reload;
pub use reload::Control;

/// How long to wait for retained discovery configs and states after subscribing: they arrive
/// right after SUBACK; 1.5 s covers a Pi under load.
const READBACK_WINDOW: Duration = Duration::from_millis(1500);
/// If the broker is unreachable at start, stop waiting for the read-back and queue readings.
const READBACK_GIVE_UP: Duration = Duration::from_secs(5);
/// Time allowed at shutdown to deliver queued messages and `offline`.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

/// A problem that stops the bridge before it starts.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("TLS: {0}")]
    Tls(String),
}

/// What the bridge did, returned when it stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunSummary {
    pub delivered: u64,
    pub dropped: u64,
    pub flushed: bool,
}

/// A PEM file, through the configuration's reader: a regular file of bounded size.
fn read_pem(key: &str, path: &std::path::Path) -> Result<Vec<u8>, StartError> {
    use crate::config::files;
    Ok(files::read_limited(
        key,
        path,
        files::PEM_FILE_LIMIT,
        files::Shown::Path,
    )?)
}

/// Resolve the connection settings (password file, TLS files) from the configuration.
pub fn connect_settings(cfg: &Config) -> Result<ConnectSettings, StartError> {
    let url = BrokerUrl::parse(&cfg.mqtt.url).map_err(|e| crate::config::ConfigError::Invalid {
        key: "mqtt.url".into(),
        message: e.to_string(),
    })?;
    let password = cfg.mqtt_password()?.map(|s| s.expose().to_string());
    let ca = match &cfg.mqtt.tls.ca_file {
        Some(p) => Some(read_pem("mqtt.tls.ca_file", p)?),
        None => None,
    };
    let client_auth = match (
        &cfg.mqtt.tls.client_cert_file,
        &cfg.mqtt.tls.client_key_file,
    ) {
        (Some(c), Some(k)) => Some((
            read_pem("mqtt.tls.client_cert_file", c)?,
            read_pem("mqtt.tls.client_key_file", k)?,
        )),
        _ => None,
    };
    let system_roots = match (url.tls, &ca) {
        (true, None) => Some(system_roots_config(client_auth.as_ref())?),
        _ => None,
    };
    Ok(ConnectSettings {
        system_roots,
        url,
        client_id: cfg.mqtt.client_id.clone(),
        username: cfg.mqtt.username.clone(),
        password,
        keepalive: cfg.mqtt.keepalive,
        ca,
        client_auth,
        status_topic: topics::status(&cfg.mqtt.base_topic),
    })
}

/// A rustls client configuration trusting the system's CA store (and presenting the client
/// certificate, if configured).
fn system_roots_config(
    client_auth: Option<&(Vec<u8>, Vec<u8>)>,
) -> Result<std::sync::Arc<rustls::ClientConfig>, StartError> {
    let tls_err = |message: String| StartError::Tls(message);
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(tls_err(
            "mqtts:// without mqtt.tls.ca_file needs the system's CA certificates, and none were \
             found (install ca-certificates or set mqtt.tls.ca_file)"
                .into(),
        ));
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match client_auth {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs: Vec<_> = rustls_pemfile::certs(&mut cert.as_slice())
                .collect::<Result<_, _>>()
                .map_err(|e| tls_err(format!("mqtt.tls.client_cert_file: {e}")))?;
            let key = rustls_pemfile::private_key(&mut key.as_slice())
                .map_err(|e| tls_err(format!("mqtt.tls.client_key_file: {e}")))?
                .ok_or_else(|| tls_err("mqtt.tls.client_key_file: no private key found".into()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_err(format!("client certificate: {e}")))?
        }
    };
    Ok(std::sync::Arc::new(config))
}

pub fn publish_settings(cfg: &Config) -> PublishSettings {
    PublishSettings {
        base: cfg.mqtt.base_topic.clone(),
        discovery_prefix: cfg
            .homeassistant
            .discovery
            .then(|| cfg.homeassistant.prefix.clone()),
        min_interval: cfg.publish.min_interval,
        on_change: cfg.publish.on_change,
        offline_after_intervals: cfg.publish.offline_after_intervals,
        per_quantity_topics: cfg.mqtt.per_quantity_topics,
        raw_topic: cfg.mqtt.raw_topic,
        stale_meter_timeout: cfg.homeassistant.stale_meter_timeout,
        naming: crate::mqtt::discovery::Naming::new(
            cfg.inputs
                .iter()
                .map(crate::mqtt::discovery::InputNames::of)
                .collect(),
        ),
    }
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

/// Run the bridge with the configured inputs until `shutdown` resolves.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, StartError> {
    let (_no_control, control) = mpsc::channel(1);
    run_controlled(cfg, shutdown, control).await
}

/// [`run`], also taking [`Control`] requests (reload, status) from the binary's signals.
/// The inputs run supervised ([`crate::input::supervise`]) for as long as the bridge does.
pub async fn run_controlled(
    cfg: Config,
    shutdown: impl Future<Output = ()>,
    control: mpsc::Receiver<Control>,
) -> Result<RunSummary, StartError> {
    let (tx, rx) = mpsc::channel::<InputEvent>(1024);
    let mut inputs = reload::Inputs::start(&cfg, tx);
    let summary = tokio::select! {
        summary = run_with_events(&cfg, rx, shutdown) => summary,
        never = inputs.serve(control) => match never {},
    };
    drop(inputs);
    summary
}

/// The publishing side alone, fed from any source of [`InputEvent`]s (the demo and the
/// benchmarks feed it directly).
pub async fn run_with_events(
    cfg: &Config,
    mut input_rx: mpsc::Receiver<InputEvent>,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, StartError> {
    let settings = connect_settings(cfg)?;
    let started = Instant::now();
    let outbox = Outbox::with_delivery(cfg.mqtt.queue_size, Delivery::from_qos(cfg.mqtt.qos));
    let mut publisher = Publisher::new(publish_settings(cfg), started.into_std());
    let ha_status = cfg.homeassistant.status_topic.clone();
    let mut subs = vec![ha_status.clone()];
    subs.extend(publisher.readback_topics());
    outbox.set_subscriptions(subs);
    let (ev_tx, mut ev_rx) = mpsc::channel::<Incoming>(4096);
    let conn = tokio::spawn(run_connection(outbox.clone(), settings, ev_tx));
    tracing::info!(broker = %cfg.mqtt.url, base = %cfg.mqtt.base_topic, inputs = cfg.inputs.len(), "meter2mqtt started");

    let mut readback_until = Some(started + READBACK_GIVE_UP);
    let mut republish_at: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let far = Duration::from_secs(86_400 * 365);
    tokio::pin!(shutdown);
    let mut inputs_open = true;
    let mut births = FaultLog::default();
    // Back-pressure (issue 18 §5): while the broker is connected and the outbox is full, take
    // no input events until it acknowledges; the bounded channel then blocks the inputs.
    // The first wait of a run is logged at info, later ones (a burst fills it again and
    // again) at debug.
    let (mut waiting, mut waited) = (false, false);
    loop {
        let readback_done = readback_until.is_none();
        let room = outbox.has_room();
        if !room && !waiting {
            let what = "MQTT queue full while connected: waiting for the broker to acknowledge before taking more readings (nothing is dropped)";
            if waited {
                tracing::debug!(capacity = cfg.mqtt.queue_size, "{what}");
            } else {
                tracing::info!(capacity = cfg.mqtt.queue_size, "{what}");
            }
            waited = true;
        }
        waiting = !room;
        tokio::select! {
            _ = &mut shutdown => break,
            ev = input_rx.recv(), if readback_done && inputs_open && room => match ev {
                Some(ev) => outbox.publish_all(publisher.on_event(Instant::now().into_std(), ev)),
                None => inputs_open = false,
            },
            _ = outbox.room(), if readback_done && inputs_open && !room => {}
            inc = ev_rx.recv() => match inc {
                Some(Incoming::Connected) => {
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
                outbox.set_subscriptions(vec![ha_status.clone()]);
                tracing::debug!("read back retained discovery and states");
            }
            _ = tokio::time::sleep_until(republish_at.unwrap_or(started + far)), if republish_at.is_some() => {
                republish_at = None;
                outbox.publish_all(publisher.republish_all());
            }
            _ = tick.tick() => {
                outbox.publish_all(publisher.on_tick(Instant::now().into_std()));
            }
        }
    }
    // Readings already received are still published before going offline.
    while let Ok(ev) = input_rx.try_recv() {
        outbox.publish_all(publisher.on_event(Instant::now().into_std(), ev));
    }
    let mut last = publisher.all_offline();
    last.push(Message::retained(
        topics::status(&cfg.mqtt.base_topic),
        "offline",
    ));
    let flushed = outbox.shutdown(last, SHUTDOWN_FLUSH).await;
    let stats = outbox.stats();
    conn.abort();
    tracing::info!(
        delivered = stats.delivered,
        dropped = stats.dropped,
        flushed,
        "meter2mqtt stopped"
    );
    Ok(RunSummary {
        delivered: stats.delivered,
        dropped: stats.dropped,
        flushed,
    })
}
