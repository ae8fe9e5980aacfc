//! `GET /api/events`: server-sent events. `event: state` with the Meter object on every
//! reading, `event: availability` with `{"id","online"}`, and a comment every 15 s.
//!
//! One broadcast channel for every client (a ring of [`BUFFER`] events, written once per
//! event, whatever the number of clients): the web output never waits for a client. A client
//! that falls more than [`BUFFER`] events behind loses the oldest (counted in
//! `meter2mqtt_http_sse_dropped_events_total`); one that stops reading altogether is closed
//! by the connection's idle timeout (`conn.rs`).
//!
//! A client's writes wait [`COALESCE`] after the first event: the events of one telegram (a
//! meter and its M-Bus sub-meters) then go out together, and the writes to every client come
//! after the MQTT publish of the same telegram instead of at the same instant
//! (`cargo bench --bench latency` with `LATENCY_SSE_CLIENTS=20`, docs/benchmarks.md).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::api::no_params;
use super::json::ApiError;
use super::Shared;

/// Events a client may fall behind before it loses the oldest.
pub(crate) const BUFFER: usize = 256;
/// The keep-alive comment's interval (proxies close connections silent for 30–60 s).
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long a client's first event waits for the rest of its telegram (far below what a page
/// or a person notices; the API promises an event within 1 s).
pub(crate) const COALESCE: Duration = Duration::from_millis(20);

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
                            tokio::time::sleep(COALESCE).await;
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
