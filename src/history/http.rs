//! The route `GET /api/meters/{id}/history` (contract: `docs/http-api.md`). The web server
//! merges [`routes`] into its router, before its auth layer, so the token applies here too.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query as QueryString, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::{HistoryReader, Query, QueryError};

/// The history routes, with their state.
pub fn routes(reader: HistoryReader) -> Router<()> {
    Router::new()
        .route("/api/meters/{id}/history", get(history))
        .with_state(reader)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn error(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({ "error": reason.into() }))).into_response()
}

async fn history(
    State(reader): State<HistoryReader>,
    Path(id): Path<String>,
    params: Result<QueryString<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let QueryString(params) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("bad query string: {e}")),
    };
    let q = match Query::parse(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        now_ms(),
    ) {
        Ok(q) => q,
        Err(e) => return answer_error(e),
    };
    match reader.query(id, q).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => answer_error(e),
    }
}

fn answer_error(e: QueryError) -> Response {
    let status = match &e {
        QueryError::BadRequest(_) => StatusCode::BAD_REQUEST,
        QueryError::NotFound(_) => StatusCode::NOT_FOUND,
        QueryError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}
