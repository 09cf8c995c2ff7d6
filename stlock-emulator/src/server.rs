//! The HTTP application: routes, the body limit, and the guarantee that every answer is JSON.
//! Connections, deadlines and shutdown are `serve`'s.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::error::ApiError;
use crate::{admin, routes, App};

/// Largest request body read. Real requests are a few hundred bytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(routes::user_api())
        .merge(admin::admin_api())
        .fallback(|| async { ApiError::RouteNotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(ensure_json_body))
        .with_state(app)
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(CONTENT_TYPE, APPLICATION_JSON)], bytes).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(CONTENT_TYPE, APPLICATION_JSON)],
            r#"{"detail":"internal error"}"#,
        )
            .into_response(),
    }
}

/// Clients read every answer as JSON, so answers made by the framework rather than by the
/// emulator (405 with its `Allow` header, a path that does not decode, ...) get a
/// `{"detail": "<reason phrase>"}` body in place of their plain-text or empty one.
async fn ensure_json_body(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let detail = parts.status.canonical_reason().unwrap_or("Error");
    let body = serde_json::json!({ "detail": detail }).to_string();
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.insert(CONTENT_TYPE, APPLICATION_JSON);
    Response::from_parts(parts, Body::from(body))
}
