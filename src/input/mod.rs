//! Adapters: a protocol core composed with a transport, producing [`InputEvent`]s
//! ([`crate::event`], the neutral seam between inputs and outputs).
//! Each configured input runs as its own task under a supervisor ([`supervise`]) that starts
//! it again if it panics or returns; none knows about MQTT or any other output.

mod health;
pub mod p1;
pub mod poll;
pub mod rate_cap;
pub mod supervise;

use tokio::sync::mpsc;

use crate::config::InputConfig;
use crate::event::InputEvent;
use supervise::{InputFuture, Supervised};

/// Start one supervised task per configured input.
pub fn spawn_all(inputs: &[InputConfig], tx: &mpsc::Sender<InputEvent>) -> Vec<Supervised> {
    inputs.iter().map(|input| spawn(input, tx)).collect()
}

/// Start one input under supervision; dropping the result stops it.
pub fn spawn(input: &InputConfig, tx: &mpsc::Sender<InputEvent>) -> Supervised {
    let cfg = input.clone();
    supervise::supervise(input.name().to_string(), tx.clone(), move |tx| {
        start(&cfg, tx)
    })
}

/// The task of one input, made afresh from its configuration for every (re)start.
fn start(input: &InputConfig, tx: mpsc::Sender<InputEvent>) -> InputFuture {
    match input.clone() {
        InputConfig::P1(cfg) => Box::pin(p1::run(cfg, tx)),
        InputConfig::Kmp(cfg) => polled(
            &cfg.name,
            cfg.link(),
            cfg.poll_interval,
            poll::KmpPoller::new(&cfg),
            tx,
        ),
        InputConfig::Multical(cfg) => polled(
            &cfg.name,
            cfg.link(),
            cfg.poll_interval,
            Ok(poll::MulticalPoller::new(&cfg)),
            tx,
        ),
        InputConfig::Iec62056(cfg) => polled(
            &cfg.name,
            cfg.link(),
            cfg.poll_interval,
            poll::Iec62056Poller::new(&cfg),
            tx,
        ),
    }
}

/// Configuration was validated before start, so the errors here cannot happen in practice;
/// if they do, the input logs why and returns, and its supervisor retries with backoff
/// instead of the bridge going down.
fn polled<P: poll::Poller>(
    name: &str,
    link: Result<crate::transport::LinkSpec, crate::config::Problem>,
    interval: std::time::Duration,
    poller: Result<P, String>,
    tx: mpsc::Sender<InputEvent>,
) -> InputFuture {
    let name = name.to_string();
    match (link, poller) {
        (Ok(link), Ok(poller)) => Box::pin(poll::run(name, link, interval, poller, tx)),
        (Err(crate::config::Problem { message: e, .. }), _) | (_, Err(e)) => Box::pin(async move {
            tracing::error!(input = %name, error = %e, "input not started");
        }),
    }
}
