//! Inputs: a protocol core composed with a transport, producing [`InputEvent`]s into
//! [`crate::event`], the neutral seam between inputs and outputs. No input knows about MQTT
//! or any other output.
//!
//! Each configured input runs in a task of its own, inside a supervisor ([`supervise`]) that
//! starts it again if it panics or returns. One file per protocol's glue: [`p1`] has a loop of
//! its own (the meter pushes telegrams); the polled meters share the poll loop of [`poll`] and
//! plug in a [`poll::Poller`]: [`kmp`], [`multical`], [`iec62056`].
//!
//! Every input reports its health (link up or down, line settings, telegrams or polls
//! accepted, rejections by reason, failed polls) into its [`InputStatus`], registered in the
//! bridge's [`InputStatuses`] when the input starts; outputs read it, nothing flows back.

mod health;
pub mod iec62056;
pub mod kmp;
pub mod multical;
pub mod p1;
pub mod poll;
pub mod rate_cap;
pub mod supervise;

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::{InputConfig, P1Config, Problem};
use crate::event::status::{InputStatus, InputStatuses};
use crate::event::InputEvent;
use crate::transport::{Endpoint, LinkSpec};
use supervise::{InputFuture, Supervised};

/// Start one supervised task per configured input.
pub fn spawn_all(
    inputs: &[InputConfig],
    tx: &mpsc::Sender<InputEvent>,
    statuses: &Arc<InputStatuses>,
) -> Vec<Supervised> {
    inputs
        .iter()
        .map(|input| spawn(input, tx, statuses))
        .collect()
}

/// Start one input under supervision, registered in `statuses` (a fresh status: a restarted
/// input's counters start over); dropping the result stops it.
pub fn spawn(
    input: &InputConfig,
    tx: &mpsc::Sender<InputEvent>,
    statuses: &Arc<InputStatuses>,
) -> Supervised {
    let link = input.link().map(|l| l.to_string()).unwrap_or_default();
    let status = statuses.register(input.name(), kind(input), &link);
    let cfg = Restartable::new(input);
    supervise::supervise(input.name().to_string(), tx.clone(), move |tx| {
        cfg.start(tx, status.clone())
    })
}

/// An input's configuration as its supervisor keeps it to start it again. A P1 input's is
/// shared with the running input (`Arc`): one copy per meter, not one in the supervisor and
/// one in the input (312 bytes each, issue 17).
enum Restartable {
    P1(Arc<P1Config>),
    Polled(Box<InputConfig>),
}

impl Restartable {
    fn new(input: &InputConfig) -> Self {
        match input {
            InputConfig::P1(cfg) => Restartable::P1(Arc::new(cfg.clone())),
            other => Restartable::Polled(Box::new(other.clone())),
        }
    }

    /// The task of the input, made afresh for every (re)start.
    fn start(&self, tx: mpsc::Sender<InputEvent>, status: Arc<InputStatus>) -> InputFuture {
        match self {
            Restartable::P1(cfg) => Box::pin(p1::run(cfg.clone(), tx, status)),
            Restartable::Polled(input) => start(input, tx, status),
        }
    }
}

/// The input's kind as [`crate::event::status::StatusSnapshot::kind`] names it: the
/// configuration's `type`.
fn kind(input: &InputConfig) -> &'static str {
    match input {
        InputConfig::P1(_) => "p1",
        InputConfig::Kmp(_) => "kmp",
        InputConfig::Multical(_) => "multical",
        InputConfig::Iec62056(_) => "iec62056",
    }
}

/// The line settings a link opens with, as the status shows them: `None` over TCP, where the
/// relay owns them.
fn line_in_use(spec: &LinkSpec) -> Option<String> {
    match spec.endpoint {
        Endpoint::Serial(_) => Some(spec.line.to_string()),
        Endpoint::Tcp { .. } => None,
    }
}

/// The task of one input, made afresh from its configuration for every (re)start.
fn start(
    input: &InputConfig,
    tx: mpsc::Sender<InputEvent>,
    status: Arc<InputStatus>,
) -> InputFuture {
    match input.clone() {
        InputConfig::P1(cfg) => Box::pin(p1::run(Arc::new(cfg), tx, status)),
        InputConfig::Kmp(cfg) => polled(
            &cfg.name,
            cfg.link(),
            cfg.poll_interval,
            kmp::KmpPoller::new(&cfg),
            tx,
            status,
        ),
        InputConfig::Multical(cfg) => polled(
            &cfg.name,
            cfg.link(),
            cfg.poll_interval,
            Ok(multical::MulticalPoller::new(&cfg)),
            tx,
            status,
        ),
        InputConfig::Iec62056(cfg) => polled(
            &cfg.name,
            cfg.link(),
            cfg.poll_interval,
            iec62056::Iec62056Poller::new(&cfg),
            tx,
            status,
        ),
    }
}

/// Configuration was validated before start, so the errors here cannot happen in practice;
/// if they do, the input logs why (and shows it in its status) and returns, and its
/// supervisor retries with backoff instead of the bridge going down.
fn polled<P: poll::Poller>(
    name: &str,
    link: Result<LinkSpec, Problem>,
    interval: std::time::Duration,
    poller: Result<P, Problem>,
    tx: mpsc::Sender<InputEvent>,
    status: Arc<InputStatus>,
) -> InputFuture {
    let name = name.to_string();
    match (link, poller) {
        (Ok(link), Ok(poller)) => Box::pin(poll::run(name, link, interval, poller, tx, status)),
        (Err(e), _) | (_, Err(e)) => Box::pin(async move {
            tracing::error!(input = %name, error = %e.message, "input not started");
            status.link_down(&format!("input not started: {}", e.message));
        }),
    }
}
