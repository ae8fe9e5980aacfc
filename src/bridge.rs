//! The running service: inputs → [`Rules`] → outputs (MQTT: publisher → outbox → broker).
//!
//! Inputs run as their own tasks and only send [`InputEvent`]s; one task (this module's
//! [`run_with_events`]) applies the [`Rules`] every consumer relies on and fans the resulting
//! [`crate::event::Event`]s out to the outputs listed in `bridge/outputs.rs`, each its own task.
//! Data flows one way: nothing downstream calls into an input, and no output into the rules.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::event::output::Bus;
use crate::event::status::InputStatuses;
use crate::event::{InputEvent, Rules, RulesSettings};
use crate::mqtt::connection::ConnectSettings;
use crate::mqtt::publish::PublishSettings;
use crate::mqtt::{topics, BrokerUrl};

mod outputs;
mod reload;
pub use crate::mqtt::output::SHUTDOWN_FLUSH;
pub use reload::Control;

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

/// The rules' settings (from the `publish` section).
pub fn rules_settings(cfg: &Config) -> RulesSettings {
    RulesSettings {
        offline_after_intervals: cfg.publish.offline_after_intervals,
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
    let statuses = Arc::new(InputStatuses::default());
    let cfg = Arc::new(cfg);
    let mut inputs = reload::Inputs::start(cfg.clone(), tx, statuses.clone());
    let summary = tokio::select! {
        summary = run_with_events(&cfg, rx, statuses, shutdown) => summary,
        never = inputs.serve(control) => match never {},
    };
    drop(inputs);
    summary
}

/// Input events taken in one turn of the rules loop after the one it woke for.
const INPUT_BATCH: usize = 16;

/// The rules and the outputs, fed from any source of [`InputEvent`]s (tests and tools may
/// feed it directly). `statuses` is where the inputs report their health; outputs that show
/// it read it from there.
pub async fn run_with_events(
    cfg: &Config,
    mut input_rx: mpsc::Receiver<InputEvent>,
    statuses: Arc<InputStatuses>,
    shutdown: impl Future<Output = ()>,
) -> Result<RunSummary, StartError> {
    let mut bus = Bus::start(|stopping, ended| outputs::start(cfg, &statuses, stopping, ended))?;
    let mut rules = Rules::new(rules_settings(cfg));
    tracing::info!(broker = %cfg.mqtt.url, base = %cfg.mqtt.base_topic, inputs = cfg.inputs.len(), "meter2mqtt started");
    tokio::pin!(shutdown);
    // No input event before every output read back what the rules need (the guard's hints).
    let stopped = tokio::select! {
        hints = bus.ready() => {
            rules.seed(hints);
            false
        }
        _ = &mut shutdown => true,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut inputs_open = true;
    let mut out = Vec::new();
    // Events waiting for room in an output's channel: while they wait (an output applies
    // back-pressure), no input event is taken, so the bounded input channel makes the
    // inputs wait too.
    let mut pending = VecDeque::new();
    if !stopped {
        loop {
            if !pending.is_empty() {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = bus.send(&mut pending) => {}
                }
                continue;
            }
            // Biased: no random start per event (10 000 a second at issue 17's fan-in); the
            // once-a-second tick before the inputs, so a busy input channel cannot starve it.
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                ended = bus.ended() => {
                    tracing::error!(output = ended.unwrap_or("?"), "an output stopped: stopping the bridge");
                    break;
                }
                _ = tick.tick() => rules.on_tick(Instant::now().into_std(), &mut out),
                ev = input_rx.recv(), if inputs_open => match ev {
                    Some(ev) => {
                        let now = Instant::now().into_std();
                        rules.on_input(now, ev, &mut out);
                        // What else is already waiting goes in the same turn (a few at most:
                        // the bus applies back-pressure to the batch as to one event).
                        for _ in 0..INPUT_BATCH {
                            match input_rx.try_recv() {
                                Ok(ev) => rules.on_input(now, ev, &mut out),
                                Err(_) => break,
                            }
                        }
                    }
                    None => inputs_open = false,
                },
            }
            pending.extend(out.drain(..));
        }
    }
    // Readings already received are still published before going offline: the outputs take
    // what is left without waiting for room, then flush.
    bus.stopping();
    let hints = bus.ready().await;
    rules.seed(hints);
    while let Ok(ev) = input_rx.try_recv() {
        rules.on_input(Instant::now().into_std(), ev, &mut out);
    }
    pending.extend(out.drain(..));
    bus.send(&mut pending).await;
    let s = bus.close().await;
    tracing::info!(
        delivered = s.delivered,
        dropped = s.dropped,
        flushed = s.flushed,
        "meter2mqtt stopped"
    );
    Ok(RunSummary {
        delivered: s.delivered,
        dropped: s.dropped,
        flushed: s.flushed,
    })
}
