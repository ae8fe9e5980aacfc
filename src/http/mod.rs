//! The HTTP output (issue 14): the web page, the JSON API, server-sent events and
//! `/metrics`, one output on the seam (`crate::event::output`) like MQTT.
//!
//! The output task keeps what the API shows (`store.rs`): per meter the last reading the rules
//! let through and its availability, per input the last raw telegram; input health comes from
//! [`crate::event::status`], the MQTT connection's from [`crate::event::broker`]. It takes
//! every event at once and never waits for a client (event-stream clients lose events on
//! their own side, `sse.rs`), so it never holds back MQTT or the history.
//!
//! A listen address that cannot be bound is logged as an error and the bridge keeps
//! publishing to MQTT without the web output.
//!
//! Other outputs add routes ([`HttpSettings::extra`], e.g. the history's
//! `/api/meters/{id}/history`); they get the same auth and limits as the rest.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::sync::{broadcast, watch};

use crate::config::Secret;
use crate::event::broker::BrokerStatus;
use crate::event::output::{Inbox, OutputSummary};
use crate::event::status::InputStatuses;
use crate::event::Event;
use crate::naming::Naming;

mod api;
mod auth;
mod conn;
mod json;
mod limits;
mod metrics;
mod server;
mod sse;
mod store;

use store::{Change, Store};

/// What the HTTP output needs.
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub auth_token: Option<Secret>,
    pub max_connections: usize,
    /// Device names, the same as MQTT discovery's.
    pub naming: Naming,
    pub statuses: Arc<InputStatuses>,
    pub broker: Arc<BrokerStatus>,
    /// Routes of other outputs (the history's), served behind the same auth and limits.
    /// Must not set a fallback (the server has its own 404).
    pub extra: Router,
}

/// What the handlers share with the output task.
pub(crate) struct Shared {
    store: RwLock<Store>,
    naming: Naming,
    statuses: Arc<InputStatuses>,
    broker: Arc<BrokerStatus>,
    sse: broadcast::Sender<Arc<sse::Message>>,
    /// Becomes `true` when the bridge stops (event streams end).
    closing: watch::Sender<bool>,
    sse_clients: AtomicU64,
    sse_dropped: AtomicU64,
    /// Changes waiting for the web thread's event-stream feed.
    sse_pending: sse::Pending,
    /// When the bridge's runtime last ran the heartbeat (Unix ms; `/healthz`).
    alive_ms: AtomicU64,
}

impl Shared {
    fn new(naming: Naming, statuses: Arc<InputStatuses>, broker: Arc<BrokerStatus>) -> Self {
        let (sse, _) = broadcast::channel(sse::BUFFER);
        let (closing, _) = watch::channel(false);
        Shared {
            store: RwLock::new(Store::default()),
            naming,
            statuses,
            broker,
            sse,
            closing,
            sse_clients: AtomicU64::new(0),
            sse_dropped: AtomicU64::new(0),
            sse_pending: sse::Pending::default(),
            alive_ms: AtomicU64::new(store::now_ms()),
        }
    }

    fn store(&self) -> RwLockReadGuard<'_, Store> {
        // A panic while holding the lock leaves plain data behind: still usable.
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take one event in (on the bridge's runtime) and, only if event-stream clients are
    /// connected, leave what changed for the web thread ([`sse::feed`] serializes it there).
    ///
    /// Why not serialize here: this runs on the bridge's one thread between the MQTT
    /// output handing a telegram's publish over and the MQTT connection task writing it
    /// (tasks run in wake order), so building the Meter object here delayed every publish
    /// while clients were connected (`cargo bench --bench latency`, docs/benchmarks.md).
    fn on_event(&self, ev: &Event) {
        let change = {
            let mut store = self.store.write().unwrap_or_else(PoisonError::into_inner);
            store.apply(ev, store::now_ms())
        };
        let Some(change) = change else { return };
        if self.sse.receiver_count() == 0 {
            return;
        }
        // The entry as it is now (a few reference counts): the web thread must show this
        // reading even if a newer one has replaced it by the time it serializes.
        let change = match change {
            Change::State(id) => match self.store().meters.get(id) {
                Some(e) => sse::Change::State(e.clone()),
                None => return,
            },
            Change::Availability { meter, online } => sse::Change::Availability {
                meter: meter.to_string(),
                online,
            },
        };
        // Full only when the web thread has been starved for [`sse::BUFFER`] events: then
        // every client misses this one, as when it falls behind the broadcast ring.
        if !self.sse_pending.push(change) {
            let clients = self.sse.receiver_count() as u64;
            self.sse_dropped.fetch_add(clients, Ordering::Relaxed);
        }
    }
}

/// The router: the API, the page, `/metrics`, and `extra`, behind auth and limits.
fn router(shared: Arc<Shared>, token: Option<Secret>, extra: Router) -> Router {
    let mut r = Router::new()
        .route("/", get(api::page::index))
        .route("/index.html", get(api::page::index))
        .route("/app.css", get(api::page::app_css))
        .route("/uPlot.iife.min.js", get(api::page::uplot_js))
        .route("/uPlot.min.css", get(api::page::uplot_css))
        .route("/LICENSE.uPlot", get(api::page::uplot_license))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/meters", get(api::meters))
        .route("/api/meters/{id}", get(api::meter))
        .route("/api/inputs", get(api::inputs))
        .route("/api/inputs/{name}/telegram", get(api::telegram))
        .route("/api/events", get(sse::events))
        .with_state(shared);
    for (path, body) in api::page::SCRIPTS {
        r = r.route(path, api::page::script(body));
    }
    let mut r = r.merge(extra).fallback(api::not_found);
    if let Some(t) = token {
        r = r.layer(axum::middleware::from_fn_with_state(
            Arc::new(t),
            auth::require,
        ));
    }
    r.layer(axum::middleware::from_fn(limits::limit))
}

/// How often the bridge's runtime proves it runs, and how long without it `/healthz` calls it
/// stalled (far above any task's turn: SQLite and reloads run on the blocking pool).
const HEARTBEAT: Duration = Duration::from_secs(1);
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(15);

/// On the bridge's runtime: note the time every [`HEARTBEAT`] for `/healthz`.
async fn heartbeat(shared: Arc<Shared>) {
    loop {
        shared.alive_ms.store(store::now_ms(), Ordering::Relaxed);
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// Run the HTTP output until its event channel closes.
pub async fn run(s: HttpSettings, inbox: Inbox) -> OutputSummary {
    let Inbox {
        mut events, ready, ..
    } = inbox;
    // Nothing to hand the rules: the web output stores nothing across runs.
    drop(ready);
    let shared = Arc::new(Shared::new(s.naming, s.statuses, s.broker));
    let app = router(shared.clone(), s.auth_token, s.extra);
    let closing = shared.closing.subscribe();
    let feed = sse::feed(shared.clone());
    let server = match server::spawn(s.listen, app, s.max_connections, closing, feed) {
        Ok(addr) => {
            tracing::info!(%addr, "http listening");
            Some(())
        }
        Err(e) => {
            tracing::error!(listen = %s.listen, error = %e,
                "http: cannot listen (set http.listen to a free address, or http.enabled: false); the bridge keeps publishing to MQTT without the web page and API");
            None
        }
    };
    // This task runs on the bridge's runtime: so does its heartbeat.
    let beat = server.map(|()| tokio::spawn(heartbeat(shared.clone())));
    while let Some(ev) = events.recv().await {
        if server.is_some() {
            shared.on_event(&ev);
        }
    }
    if let Some(b) = beat {
        b.abort();
    }
    // Ends the event streams and the server's thread.
    let _ = shared.closing.send(true);
    // The bridge's delivered/dropped figures are MQTT messages: the web output adds none.
    OutputSummary {
        delivered: 0,
        dropped: 0,
        flushed: true,
    }
}

#[cfg(test)]
mod tests;
