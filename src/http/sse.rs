//! `GET /api/events`: server-sent events. `event: state` with the Meter object on every
//! reading, `event: availability` with `{"id","online"}`, and a comment every 15 s.
//!
//! One broadcast channel for every client (a ring of [`BUFFER`] events, written once per
//! event, whatever the number of clients): the web output never waits for a client. A client
//! that falls more than [`BUFFER`] events behind loses the oldest (counted in
//! `meter2mqtt_http_sse_dropped_events_total`); one that stops reading altogether is closed
//! by the connection's idle timeout (`conn.rs`).
//!
//! The events are serialized on the web server's thread, which collects what changed every
//! [`COALESCE`] ([`Pending`], [`feed`]): the bridge's own thread only stores the change, so
//! the clients never delay the MQTT publish of the same telegram (`cargo bench --bench
//! latency` with `LATENCY_SSE_CLIENTS=20`, docs/benchmarks.md).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::Notify;

use super::api::no_params;
use super::json;
use super::json::ApiError;
use super::store::{self, MeterEntry};
use super::Shared;

/// Events a client may fall behind before it loses the oldest.
pub(crate) const BUFFER: usize = 256;
/// The keep-alive comment's interval (proxies close connections silent for 30–60 s).
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often the web thread collects the changes for the event streams (far below what a
/// page or a person notices; the API promises an event within 1 s). A telegram's events
/// (a meter and its M-Bus sub-meters) then usually go to a client in one write.
pub(crate) const COALESCE: Duration = Duration::from_millis(20);

/// Changes the output task left for the web thread's next collection.
///
/// The output task only pushes (a lock held for one `Vec::push`); it never wakes the web
/// thread. Why: a wake-up at the moment of a telegram ran the web thread (and, through it,
/// every client's task) exactly when Mosquitto and its subscribers needed the CPU for that
/// telegram's publish: on 2 cores, 20 clients cost the MQTT path ≈ +60 µs at the median even
/// with the serialization already off the bridge's thread (`cargo bench --bench latency`,
/// docs/benchmarks.md). Collected every [`COALESCE`], the web thread's work falls at times
/// unrelated to the telegrams.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    changes: Mutex<Vec<Change>>,
    /// A client connected: the feed starts collecting.
    joined: Notify,
}

impl Pending {
    /// Leave `change` for the feed; `false` (dropped) when [`BUFFER`] changes are waiting
    /// already (a web thread that has not run for that long).
    pub(crate) fn push(&self, change: Change) -> bool {
        let mut v = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        if v.len() >= BUFFER {
            return false;
        }
        v.push(change);
        true
    }

    pub(crate) fn take(&self, into: &mut Vec<Change>) {
        let mut v = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *v, into);
    }
}

/// Every [`COALESCE`] while clients are connected: serialize each change left since the
/// last time, once, and send it to every client. Runs on the web server's thread
/// ([`super::server`]), off the bridge's MQTT path; idle (no timer) without clients.
pub(crate) async fn feed(shared: Arc<Shared>) {
    let mut batch = Vec::new();
    loop {
        if shared.sse.receiver_count() == 0 {
            // What was left for clients that have gone is nobody's.
            shared.sse_pending.take(&mut batch);
            batch.clear();
            shared.sse_pending.joined.notified().await;
            continue;
        }
        tokio::time::sleep(COALESCE).await;
        shared.sse_pending.take(&mut batch);
        for change in batch.drain(..) {
            // No receiver left since the output task looked: nobody to tell.
            let _ = shared.sse.send(Arc::new(message(&shared, change)));
        }
    }
}

/// The event-stream message for one change.
pub(crate) fn message(shared: &Shared, change: Change) -> Message {
    match change {
        Change::State(e) => Message {
            event: "state",
            data: json::to_string(&store::meter_json(&shared.naming, &e)),
        },
        Change::Availability { meter, online } => Message {
            event: "availability",
            data: json::to_string(&serde_json::json!({ "id": meter, "online": online })),
        },
    }
}

/// What the output task leaves for the web thread: a snapshot of the meter's entry (shared
/// references, nothing copied) or an availability change.
#[derive(Debug)]
pub(crate) enum Change {
    State(MeterEntry),
    Availability { meter: String, online: bool },
}

/// One event, serialized once for every client.
#[derive(Debug)]
pub(crate) struct Message {
    pub event: &'static str,
    /// One line of JSON (`json::to_string` never writes a raw newline or carriage return,
    /// which `Event::data` would split or refuse).
    pub data: String,
}

/// Counts a connected client for `/metrics` while it lives.
struct Client(Arc<Shared>);

impl Drop for Client {
    fn drop(&mut self) {
        self.0.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) async fn events(
    State(s): State<Arc<Shared>>,
    uri: Uri,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    no_params(&uri)?;
    let rx = s.sse.subscribe();
    let closing = s.closing.subscribe();
    s.sse_clients.fetch_add(1, Ordering::Relaxed);
    // A permit if the feed is not waiting yet: it cannot miss this client.
    s.sse_pending.joined.notify_one();
    let client = Client(s);
    // `pending` never holds more than the broadcast ring: `try_recv` reports what fell out.
    let pending: VecDeque<Arc<Message>> = VecDeque::new();
    let stream = futures_util::stream::unfold(
        (rx, closing, client, pending),
        |(mut rx, mut closing, client, mut pending)| async move {
            loop {
                if *closing.borrow() {
                    return None;
                }
                if let Some(m) = pending.pop_front() {
                    let ev = Event::default().event(m.event).data(&m.data);
                    return Some((Ok(ev), (rx, closing, client, pending)));
                }
                tokio::select! {
                    m = rx.recv() => match m {
                        Ok(m) => {
                            pending.push_back(m);
                            // The feed sent a whole collection at once: take all of it, so
                            // it goes out in one write.
                            loop {
                                match rx.try_recv() {
                                    Ok(m) => pending.push_back(m),
                                    Err(TryRecvError::Lagged(n)) => {
                                        client.0.sse_dropped.fetch_add(n, Ordering::Relaxed);
                                    }
                                    Err(_) => break,
                                }
                            }
                        }
                        Err(RecvError::Lagged(n)) => {
                            client.0.sse_dropped.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(RecvError::Closed) => return None,
                    },
                    // The bridge stops: end the stream so the connection closes.
                    _ = closing.changed() => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
