//! A reverse proxy in front of the emulator, on loopback, that can be told to answer refreshes
//! itself: as a web application firewall would (`403 text/html`, the service never reached), or
//! as a service without reuse detection would (a refresh token presented again gets the pair it
//! got the first time).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, StatusCode};

use super::http::serve;

/// The proxy; refreshes pass through until [`block_refreshes`](Self::block_refreshes).
pub struct Proxy {
    endpoint: String,
    blocking: Arc<AtomicBool>,
    lenient: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Upstream {
    endpoint: String,
    client: reqwest::Client,
    blocking: Arc<AtomicBool>,
    lenient: Arc<AtomicBool>,
    /// The pair each refresh token got, by its `Authorization` header, while lenient.
    answered: Arc<Mutex<HashMap<Vec<u8>, Bytes>>>,
}

impl Proxy {
    /// A proxy forwarding every request to the service at `upstream`.
    pub async fn start(upstream: &str) -> Self {
        let blocking = Arc::new(AtomicBool::new(false));
        let lenient = Arc::new(AtomicBool::new(false));
        let state = Upstream {
            endpoint: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            blocking: Arc::clone(&blocking),
            lenient: Arc::clone(&lenient),
            answered: Arc::default(),
        };
        let endpoint = serve(Router::new().fallback(forward).with_state(state)).await;
        Self {
            endpoint,
            blocking,
            lenient,
        }
    }

    /// Where to send requests instead of the service.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// From now on, refreshes get the firewall's page.
    pub fn block_refreshes(&self, block: bool) {
        self.blocking.store(block, Ordering::SeqCst);
    }

    /// From now on, a refresh token presented again gets the pair it got the first time, as
    /// from a service that does not detect reuse.
    pub fn forgive_reuse(&self, lenient: bool) {
        self.lenient.store(lenient, Ordering::SeqCst);
    }
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    if upstream.blocking.load(Ordering::SeqCst) && request.uri().path().ends_with("/refresh") {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>403 Forbidden</h1>Request blocked.</body></html>",
        )
            .into_response();
    }
    let refresh_of = request
        .uri()
        .path()
        .ends_with("/refresh")
        .then(|| request.headers().get(header::AUTHORIZATION))
        .flatten()
        .map(|value| value.as_bytes().to_vec());
    let lenient = upstream.lenient.load(Ordering::SeqCst);
    if let Some(pair) = refresh_of
        .as_ref()
        .filter(|_| lenient)
        .and_then(|token| upstream.answered.lock().unwrap().get(token).cloned())
    {
        return ([(header::CONTENT_TYPE, "application/json")], pair).into_response();
    }
    let url = format!("{}{path}", upstream.endpoint);
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut outgoing = upstream.client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(answer) = outgoing.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let body: Bytes = answer.bytes().await.unwrap_or_default();
    if let (Some(token), true) = (refresh_of, status.is_success()) {
        upstream
            .answered
            .lock()
            .unwrap()
            .insert(token, body.clone());
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}
