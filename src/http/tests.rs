//! The handlers in-process, over state written the way the inputs and the bridge write it
//! (the real-server tests are in `tests/http_api.rs`).

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;

use super::store::tests::reading;
use super::*;
use crate::event::RawTelegram;

fn shared() -> (Arc<Shared>, Arc<InputStatuses>) {
    let statuses = Arc::new(InputStatuses::default());
    let s = Shared::new(
        Naming::default(),
        statuses.clone(),
        Arc::new(BrokerStatus::default()),
    );
    (Arc::new(s), statuses)
}

/// Take `events` in as the output task does, then let the web thread's feed serialize
/// what they changed for the event-stream clients.
async fn apply(s: &Arc<Shared>, events: &[Event]) {
    let mut changes = Vec::new();
    for ev in events {
        s.on_event(ev);
        // As often as the feed collects: the test sends more than one collection holds.
        s.sse_pending.take(&mut changes);
        for c in changes.drain(..) {
            let _ = s.sse.send(Arc::new(sse::message(s, c)));
        }
    }
}

async fn body(r: impl IntoResponse) -> (StatusCode, serde_json::Value) {
    let r = r.into_response();
    let status = r.status();
    let bytes = to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// `GET /api/inputs`: the input's health as the input reports it, its meters and the time of
/// its last telegram.
#[tokio::test]
async fn inputs_show_health_meters_and_last_telegram() {
    let (s, statuses) = shared();
    let p1 = statuses.register("p1", "p1", "tcp://relay:2001");
    statuses
        .register("heat", "kmp", "/dev/ttyUSB1")
        .poll_failed("no answer");
    p1.link_up(None, true);
    p1.accepted();
    p1.rejected(
        "crc_mismatch",
        "CRC mismatch: computed 1234, telegram says ABCD",
    );
    p1.link_down("end of stream");
    p1.link_up(None, false);
    let raw = Event::Raw(Arc::new(RawTelegram {
        input: "p1".into(),
        bytes: b"/ISK5\\2M550T\r\n\r\n!0000\r\n".to_vec(),
    }));
    apply(
        &s,
        &[raw, reading("E1", "p1", "1"), reading("G1", "p1", "2")],
    )
    .await;
    let uri: Uri = "/api/inputs".parse().unwrap();
    let (status, v) = body(api::inputs(State(s.clone()), uri).await).await;
    assert_eq!(status, StatusCode::OK);
    let inputs = v["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2, "{v}");
    let heat = &inputs[0];
    assert_eq!(heat["name"], "heat");
    assert_eq!(heat["kind"], "kmp");
    assert_eq!(heat["failed_polls"], 1);
    assert_eq!(heat["last_error"], "no answer");
    assert_eq!(heat["meters"], serde_json::json!([]));
    assert_eq!(heat["last_telegram_ms"], serde_json::Value::Null);
    let p1 = &inputs[1];
    assert_eq!(p1["link"], "tcp://relay:2001");
    assert_eq!(p1["accepted"], 1);
    assert!(p1["last_data_ms"].as_u64().is_some());
    assert_eq!(p1["connected"], true);
    assert_eq!(p1["line_settings"], serde_json::Value::Null);
    assert_eq!(p1["rejected"]["crc_mismatch"], 1);
    assert_eq!(p1["reconnects"], 1);
    assert_eq!(p1["last_error"], "end of stream");
    assert!(p1["last_error_ms"].as_u64().is_some());
    assert_eq!(p1["meters"], serde_json::json!(["E1", "G1"]));
    assert!(p1["last_telegram_ms"].as_u64().is_some());
}

/// `/metrics` shows the inputs' counters and the MQTT connection's health.
#[test]
fn metrics_show_input_and_broker_health() {
    let (s, statuses) = shared();
    let p1 = statuses.register("p1", "p1", "/dev/ttyUSB0");
    p1.accepted();
    p1.rejected("crc_mismatch", "x");
    s.broker.connected();
    s.broker.connected();
    s.broker.update(true, 3, 10, 1);
    let text = metrics::render(&s);
    for line in [
        "meter2mqtt_input_accepted_total{input=\"p1\",kind=\"p1\"} 1",
        "meter2mqtt_input_rejected_total{input=\"p1\",kind=\"p1\",reason=\"crc_mismatch\"} 1",
        "meter2mqtt_input_connected{input=\"p1\",kind=\"p1\"} 0",
        "meter2mqtt_mqtt_connected 1",
        "meter2mqtt_mqtt_reconnects_total 1",
        "meter2mqtt_mqtt_queue_messages 3",
        "meter2mqtt_mqtt_delivered_messages_total 10",
        "meter2mqtt_mqtt_dropped_messages_total 1",
        "# TYPE meter2mqtt_input_rejected_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}

/// A client that falls behind loses events (counted); the sender never waits for it.
#[tokio::test]
async fn a_slow_event_client_loses_events_and_never_blocks() {
    let (s, _) = shared();
    let mut rx = s.sse.subscribe();
    let events: Vec<Event> = (0..(sse::BUFFER + 10))
        .map(|i| reading("E1", "p1", &i.to_string()))
        .collect();
    apply(&s, &events).await;
    // The oldest 10 are gone; the client goes on with the rest.
    match rx.recv().await {
        Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 10),
        other => panic!("{other:?}"),
    }
    let m = rx.recv().await.unwrap();
    assert_eq!(m.event, "state");
    assert!(m.data.contains("\"power_import\":10"), "{}", m.data);
}

/// Each event goes to the clients as it was when it arrived, even when the web thread
/// serializes it after newer readings replaced it in the store.
#[tokio::test]
async fn an_event_shows_its_own_reading_not_the_newest() {
    let (s, _) = shared();
    let mut rx = s.sse.subscribe();
    apply(&s, &[reading("E1", "p1", "1"), reading("E1", "p1", "2")]).await;
    let first = rx.recv().await.unwrap();
    let second = rx.recv().await.unwrap();
    assert!(first.data.contains("\"power_import\":1}"), "{}", first.data);
    assert!(
        second.data.contains("\"power_import\":2}"),
        "{}",
        second.data
    );
}

/// A web thread that has not run for [`sse::BUFFER`] events costs the clients events
/// (counted once per client), never the output task a wait or memory.
#[tokio::test]
async fn a_starved_web_thread_costs_events_not_memory() {
    let (s, _) = shared();
    let _a = s.sse.subscribe();
    let _b = s.sse.subscribe();
    for i in 0..=sse::BUFFER {
        s.on_event(&reading("E1", "p1", &i.to_string()));
    }
    assert_eq!(s.sse_dropped.load(Ordering::Relaxed), 2);
    let mut left = Vec::new();
    s.sse_pending.take(&mut left);
    assert_eq!(left.len(), sse::BUFFER);
    // The store has the newest reading all the same.
    assert_eq!(s.store().meters.len(), 1);
}

/// `/healthz` says `ok` while the bridge's runtime beats, 503 once the beat is older than
/// [`STALLED_AFTER`] (the web thread answers on its own).
#[tokio::test]
async fn healthz_reports_a_stalled_runtime() {
    let (s, _) = shared();
    let ok = api::healthz(State(s.clone())).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let stalled_at = store::now_ms() - STALLED_AFTER.as_millis() as u64 - 5_000;
    s.alive_ms.store(stalled_at, Ordering::Relaxed);
    let r = api::healthz(State(s.clone())).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = to_bytes(r.into_body(), 1 << 10).await.unwrap();
    let text = String::from_utf8_lossy(&text).into_owned();
    assert!(
        text.starts_with("stalled: the bridge's runtime last ran 2"),
        "{text}"
    );
}

/// Every script the page loads is served without the token (a browser fetches the modules
/// without the page's `?token=`): a module missing from `auth::OPEN` would be a 401.
#[test]
fn every_page_script_is_open() {
    for (path, body) in super::api::page::SCRIPTS {
        assert!(super::auth::OPEN.contains(path), "{path} not in auth::OPEN");
        assert!(!body.is_empty(), "{path}");
    }
    let app = std::str::from_utf8(super::api::page::SCRIPTS[0].1).unwrap();
    for imported in app.lines().filter_map(|l| l.split("from './").nth(1)) {
        let name = format!("/{}", imported.trim_end_matches("';"));
        assert!(
            super::api::page::SCRIPTS.iter().any(|(p, _)| *p == name),
            "app.js imports {name}, which is not served"
        );
    }
}
