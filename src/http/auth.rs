//! `http.auth_token`: every request for data needs `Authorization: Bearer <token>` or
//! `?token=<token>` (the page keeps `?token=` on its own API calls; Home Assistant's ingress
//! and browsers cannot add a header to a page load).
//!
//! Open without the token: `/healthz` (container health checks and the add-on watchdog; it
//! tells nothing but `ok`) and the page's static files ([`OPEN`]): they hold no reading, and
//! a browser loads `./app.js` and the style sheets without the page's `?token=`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::json::ApiError;
use crate::config::Secret;

/// Compare without an early exit, so the time taken does not tell how much of a guess
/// was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token the request carries, from the header or the query.
fn offered(req: &Request) -> Option<String> {
    if let Some(v) = req.headers().get(header::AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    let q: Query<HashMap<String, String>> = Query::try_from_uri(req.uri()).ok()?;
    q.0.get("token").cloned()
}

/// Paths served without the token: nothing in them comes from a meter.
pub(crate) const OPEN: &[&str] = &[
    "/healthz",
    "/",
    "/index.html",
    "/app.js",
    "/api.js",
    "/events.js",
    "/dom.js",
    "/quantities.js",
    "/charts.js",
    "/history.js",
    "/card.js",
    "/inputs.js",
    "/state.js",
    "/app.css",
    "/uPlot.iife.min.js",
    "/uPlot.min.css",
    "/LICENSE.uPlot",
];

pub(crate) async fn require(
    State(token): State<Arc<Secret>>,
    req: Request,
    next: Next,
) -> Response {
    if OPEN.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match offered(&req) {
        Some(t) if same(t.as_bytes(), token.expose().as_bytes()) => next.run(req).await,
        got => {
            let reason = if got.is_some() {
                "wrong token"
            } else {
                "this server needs a token: `Authorization: Bearer <token>` or `?token=<token>`"
            };
            let mut resp = ApiError {
                status: StatusCode::UNAUTHORIZED,
                reason: reason.into(),
            }
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"meter2mqtt\""),
            );
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_whole_tokens() {
        assert!(super::same(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!super::same(b"0123456789abcdef", b"0123456789abcdeF"));
        assert!(!super::same(b"0123456789abcdef", b"0123456789abcde"));
    }
}
