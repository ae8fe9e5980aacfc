//! JSON for the API and the event stream: serde_json with `<`, `>` and `&` written as
//! `\u003c`, `\u003e` and `\u0026` (as Go's `encoding/json` does). Strings from a meter (a text
//! message, a header) may carry markup; escaped like this they are the same JSON string, and a
//! response that a browser or a careless page ever treats as HTML holds no tag.

use std::io;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// serde_json's compact formatter, escaping the three HTML-significant characters.
struct HtmlSafe;

impl Formatter for HtmlSafe {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, b) in fragment.bytes().enumerate() {
            let esc: &[u8] = match b {
                b'<' => b"\\u003c",
                b'>' => b"\\u003e",
                b'&' => b"\\u0026",
                _ => continue,
            };
            // `<`, `>`, `&` are ASCII: `i` and `i + 1` are character boundaries.
            w.write_all(&fragment.as_bytes()[start..i])?;
            w.write_all(esc)?;
            start = i + 1;
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// `v` as one line of JSON (no raw newline or carriage return: JSON escapes them in strings).
pub(crate) fn to_string(v: &impl Serialize) -> String {
    let mut buf = Vec::with_capacity(512);
    let mut ser = Serializer::with_formatter(&mut buf, HtmlSafe);
    if let Err(e) = v.serialize(&mut ser) {
        // Only a map with non-string keys fails; none is built here.
        tracing::error!(error = %e, "JSON serialization failed");
        return "null".into();
    }
    // serde_json writes UTF-8 only.
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A JSON response.
pub(crate) fn response(status: StatusCode, v: &impl Serialize) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        to_string(v),
    )
        .into_response()
}

/// An API error: `{"error": "human reason"}` with its status (the contract's error shape).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub reason: String,
}

impl ApiError {
    pub fn bad_request(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }

    pub fn not_found(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            reason: reason.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        response(self.status, &serde_json::json!({ "error": self.reason }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_the_string_is_the_same() {
        let v = serde_json::json!({"m": "\"><img src=x onerror=alert(1)> & <script>", "n": 63.44});
        let s = to_string(&v);
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains('&'),
            "{s}"
        );
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
        assert!(s.contains("\"n\":63.44"), "{s}");
    }
}
