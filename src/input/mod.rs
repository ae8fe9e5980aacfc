//! Adapters: a protocol core composed with a transport, producing [`InputEvent`]s.
//! Each configured input runs as its own task; none knows about MQTT.

pub mod p1;
pub mod poll;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::InputConfig;
use crate::mqtt::publish::InputEvent;

/// Start one task per configured input.
pub fn spawn_all(inputs: &[InputConfig], tx: &mpsc::Sender<InputEvent>) -> Vec<JoinHandle<()>> {
    inputs
        .iter()
        .map(|input| {
            let tx = tx.clone();
            match input.clone() {
                InputConfig::P1(cfg) => tokio::spawn(p1::run(cfg, tx)),
                InputConfig::Kmp(cfg) => spawn_polled(
                    &cfg.name,
                    cfg.link(),
                    cfg.poll_interval,
                    poll::KmpPoller::new(&cfg),
                    tx,
                ),
                InputConfig::Multical(cfg) => spawn_polled(
                    &cfg.name,
                    cfg.link(),
                    cfg.poll_interval,
                    Ok(poll::MulticalPoller::new(&cfg)),
                    tx,
                ),
                InputConfig::Iec62056(cfg) => spawn_polled(
                    &cfg.name,
                    cfg.link(),
                    cfg.poll_interval,
                    poll::Iec62056Poller::new(&cfg),
                    tx,
                ),
            }
        })
        .collect()
}

/// Configuration was validated before start, so the errors here cannot happen in practice;
/// if they do, the input logs why and stops instead of taking the bridge down.
fn spawn_polled<P: poll::Poller>(
    name: &str,
    link: Result<crate::config::Link, (String, String)>,
    interval: std::time::Duration,
    poller: Result<P, String>,
    tx: mpsc::Sender<InputEvent>,
) -> JoinHandle<()> {
    let name = name.to_string();
    match (link, poller) {
        (Ok(link), Ok(poller)) => tokio::spawn(poll::run(name, link, interval, poller, tx)),
        (Err((_, e)), _) | (_, Err(e)) => tokio::spawn(async move {
            tracing::error!(input = %name, error = %e, "input not started");
        }),
    }
}
