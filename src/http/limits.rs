//! Request limits and the headers every response gets. The API is read-only (GET and HEAD):
//! a request with a body is refused before anything reads it, and a URL longer than
//! [`MAX_URI`] gets 414. hyper itself caps the request head (about 400 KiB of headers, 100
//! header fields) before a handler runs.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::json::ApiError;

/// Longest request target accepted (path and query). The API's longest URLs (a history
/// query with RFC 3339 times and a token) are under 300 bytes.
pub(crate) const MAX_URI: usize = 4096;

pub(crate) async fn limit(req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI {
        return ApiError {
            status: StatusCode::URI_TOO_LONG,
            reason: format!("the URL is {uri_len} bytes long; at most {MAX_URI}"),
        }
        .into_response();
    }
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        return ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "this API is read-only: requests have no body".into(),
        }
        .into_response();
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // Never sniff a JSON or text answer as HTML; never cache live values.
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}
