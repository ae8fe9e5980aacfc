//! The JSON API (`docs/http-api.md`): meters, inputs, the last raw telegram, `/healthz`, and
//! the page's static files. Read-only: nothing here changes the bridge.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::json::{self, ApiError};
use super::store::meter_json;
use super::Shared;

/// Refuse query parameters an endpoint does not take (a typo must not be silently
/// ignored); `token` is the auth token's and always allowed.
pub(crate) fn no_params(uri: &Uri) -> Result<(), ApiError> {
    let Some(q) = uri.query() else { return Ok(()) };
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if key != "token" {
            return Err(ApiError::bad_request(format!(
                "unknown parameter `{key}`: {} takes none",
                uri.path()
            )));
        }
    }
    Ok(())
}

/// A path segment, or a 400 saying why it is not one (e.g. invalid percent-encoding).
fn segment(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(s)| s)
        .map_err(|e| ApiError::bad_request(format!("bad path: {}", e.body_text())))
}

pub(crate) async fn meters(State(s): State<Arc<Shared>>, uri: Uri) -> Result<Response, ApiError> {
    no_params(&uri)?;
    // Copy the entries (reference counts) under the lock, build the JSON after it.
    let entries = s.store().meters_by_id();
    let meters: Vec<Value> = entries.iter().map(|e| meter_json(&s.naming, e)).collect();
    Ok(json::response(StatusCode::OK, &json!({ "meters": meters })))
}

pub(crate) async fn meter(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    no_params(&uri)?;
    let id = segment(id)?;
    let entry = s.store().meters.get(&id).cloned();
    match entry {
        Some(e) => Ok(json::response(StatusCode::OK, &meter_json(&s.naming, &e))),
        None => Err(ApiError::not_found(format!("no meter `{id}`"))),
    }
}

pub(crate) async fn inputs(State(s): State<Arc<Shared>>, uri: Uri) -> Result<Response, ApiError> {
    no_params(&uri)?;
    let snapshots = s.statuses.snapshot();
    let (by_input, raw_at) = {
        let store = s.store();
        let mut by_input: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (id, e) in &store.meters {
            by_input
                .entry(e.input.to_string())
                .or_default()
                .push(id.clone());
        }
        for ids in by_input.values_mut() {
            ids.sort_unstable();
        }
        let raw_at: std::collections::BTreeMap<String, u64> = store
            .raw
            .iter()
            .map(|(k, v)| (k.to_string(), v.at_ms))
            .collect();
        (by_input, raw_at)
    };
    let inputs: Vec<Value> = snapshots
        .into_iter()
        .map(|snap| {
            let mut v = serde_json::to_value(&snap).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert(
                    "meters".into(),
                    json!(by_input.get(&snap.name).cloned().unwrap_or_default()),
                );
                m.insert("last_telegram_ms".into(), json!(raw_at.get(&snap.name)));
            }
            v
        })
        .collect();
    Ok(json::response(StatusCode::OK, &json!({ "inputs": inputs })))
}

pub(crate) async fn telegram(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    no_params(&uri)?;
    let name = segment(name)?;
    let raw = s.store().raw.get(name.as_str()).cloned();
    match raw {
        Some(r) => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            String::from_utf8_lossy(&r.telegram.bytes).into_owned(),
        )
            .into_response()),
        None => Err(ApiError::not_found(format!(
            "no telegram from input `{name}` yet (only P1 inputs send telegrams)"
        ))),
    }
}

/// `ok` while the bridge's runtime runs; 503 once its heartbeat ([`super::heartbeat`]) is
/// older than [`super::STALLED_AFTER`]. The web server has a thread of its own, so it still
/// answers when the bridge's one thread is stuck (a bug: a blocking call, a loop that never
/// yields) — the case the add-on's watchdog (`ha-addon/meter2mqtt/config.yaml`) and a
/// container health check must see, since every input and MQTT then stand still.
pub(crate) async fn healthz(State(s): State<Arc<Shared>>) -> Response {
    let age_ms = super::store::now_ms().saturating_sub(s.alive_ms.load(Ordering::Relaxed));
    if age_ms > super::STALLED_AFTER.as_millis() as u64 {
        let text = format!(
            "stalled: the bridge's runtime last ran {} s ago\n",
            age_ms / 1000
        );
        return (StatusCode::SERVICE_UNAVAILABLE, text).into_response();
    }
    "ok".into_response()
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("nothing at {}", uri.path()))
}

/// The page's files, compiled in (no build step, nothing read from disk at run time).
pub(crate) mod page {
    use axum::http::header;
    use axum::response::IntoResponse;

    macro_rules! file {
        ($name:ident, $path:literal, $type:literal) => {
            pub(crate) async fn $name() -> impl IntoResponse {
                (
                    [(header::CONTENT_TYPE, $type)],
                    &include_bytes!(concat!("page/", $path))[..],
                )
            }
        };
    }

    file!(index, "index.html", "text/html; charset=utf-8");
    /// The page's own scripts: ES modules, `app.js` importing the others by relative URL
    /// (so they load under a path prefix too). Each is served at `/<name>` without the
    /// token (`auth::OPEN`): they hold no reading.
    pub(crate) const SCRIPTS: &[(&str, &[u8])] = &[
        ("/app.js", include_bytes!("page/app.js")),
        ("/api.js", include_bytes!("page/api.js")),
        ("/events.js", include_bytes!("page/events.js")),
        ("/dom.js", include_bytes!("page/dom.js")),
        ("/quantities.js", include_bytes!("page/quantities.js")),
        ("/charts.js", include_bytes!("page/charts.js")),
        ("/history.js", include_bytes!("page/history.js")),
        ("/card.js", include_bytes!("page/card.js")),
        ("/inputs.js", include_bytes!("page/inputs.js")),
        ("/state.js", include_bytes!("page/state.js")),
    ];

    /// A route serving `body` as JavaScript.
    pub(crate) fn script(body: &'static [u8]) -> axum::routing::MethodRouter {
        axum::routing::get(move || async move {
            (
                [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                body,
            )
        })
    }
    file!(app_css, "app.css", "text/css; charset=utf-8");
    file!(
        uplot_js,
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8"
    );
    file!(uplot_css, "uPlot.min.css", "text/css; charset=utf-8");
    file!(uplot_license, "LICENSE.uPlot", "text/plain; charset=utf-8");
}
