//! The `axum_app` example's server: the part to copy to serve an axum app as production does,
//! with `examples/common/serve.rs` (the connection cap and the shared bounds). The tests include
//! this file (`#[path]`) and start this very function.
//!
//! It serves on hyper-util's connection builder (HTTP/1.1 and h2c, by prior knowledge, on one
//! port) rather than `axum::serve`, which sets no deadline for a request head, caps no
//! connections and waits without end for requests in flight when it stops. The bounds, and who
//! keeps each:
//!
//! | bound | default | kept by | what happens |
//! |---|---|---|---|
//! | request head ([`Limits::head_deadline`]) | 10 s, counted from when the connection began waiting for a request: its acceptance, or the answer to its previous one | hyper's `header_read_timeout` for HTTP/1; for the rest, the watch below | the connection is closed without an answer |
//! | idle connection | the same 10 s | hyper (HTTP/1 keep-alive, whose head clock starts when the previous answer is written) and the watch below (HTTP/2, and a connection whose protocol is not known yet) | the connection is closed; clients open a new one |
//! | request ([`Limits::request_deadline`]) | 30 s from its head to its answer, reading its body included | tower-http's `TimeoutLayer` | 408, JSON `{"detail"}` |
//! | request body ([`Limits::max_body_bytes`]) | 64 KiB | tower-http's `RequestBodyLimitLayer` | 413, JSON `{"detail"}`: at once when `Content-Length` says more, before the body is read; once that much has arrived otherwise |
//! | connections ([`Limits::max_connections`]) | 512 at once | `common::incoming` | no more are accepted; further clients wait in the kernel's accept queue |
//! | silence ([`Limits::max_silence`]) | 60 s without a byte received, whatever the connection is doing | `common::incoming` | the connection is closed (a last resort here: the head deadline comes first) |
//! | HTTP/2 keep-alive | a `PING` after 20 s of silence, 20 s to answer it | hyper | the connection is closed |
//! | stop ([`Limits::shutdown_grace`]) | 10 s | hyper-util's `GracefulShutdown`, bounded here | no new connection is accepted; idle ones close, requests in flight finish; what is left after the grace is dropped |
//!
//! What the ecosystem lacks, and this module adds:
//!
//! - **A deadline before the first request, and on HTTP/2 between requests.** hyper-util's
//!   builder reads the first bytes to tell HTTP/1 from HTTP/2 with no deadline, and hyper keeps
//!   an HTTP/2 connection without streams open for as long as its peer answers pings. So each
//!   connection has a watch: once it has had no request in flight for the head deadline, it is
//!   dropped. A request is in flight from its head until its answer is ready, so no handler is
//!   cut short; an answer its client has not read by then is dropped with the connection, which
//!   bounds a client that does not read as well.
//! - **A bound on the stop.** `GracefulShutdown::shutdown` waits for every connection, however
//!   long; here it gets the grace, then the connections left are dropped.
//!
//! The request deadline covers the body: axum's extractors read it inside the handler, whose
//! future `TimeoutLayer` bounds, so a body sent a byte now and then cannot stretch a request.
//! No body layer is added: tower-http's `RequestBodyTimeoutLayer` restarts its timer with every
//! chunk (a stall bound, which such a client never trips), and its `RequestBodyDeadlineLayer`
//! fails the read with an error that axum's extractors answer with 400, where a late body is the
//! client's 408. hyper's own limits apply as well: at most 100 headers and about 400 KiB of head
//! on HTTP/1; 200 concurrent streams and a 16 KiB header list per HTTP/2 connection.

// Each example's server includes the shared module for itself, so that the tests, which
// include both servers, compile it twice: two private copies, which is all they need.
#[allow(clippy::duplicate_mod)]
#[path = "../common/serve.rs"]
mod common;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::{Json, Router};
use futures_util::StreamExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// Default [`Limits::head_deadline`]: a real client sends its head in one packet, and 10 s
/// covers a slow mobile link.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// Default [`Limits::max_body_bytes`]: the app's requests are a few hundred bytes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The bounds of [`serve`]; the module's table says what each does.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long a connection may wait for a complete request head with no request in flight.
    pub head_deadline: Duration,
    /// How long a request may take, from its head to its answer, reading its body included.
    pub request_deadline: Duration,
    /// The largest request body taken.
    pub max_body_bytes: usize,
    /// How many connections are served at once.
    pub max_connections: usize,
    /// How long a connection may go without sending a byte, whatever it is doing.
    pub max_silence: Duration,
    /// How long a stop waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            head_deadline: HEAD_DEADLINE,
            request_deadline: common::REQUEST_DEADLINE,
            max_body_bytes: MAX_BODY_BYTES,
            max_connections: common::MAX_CONNECTIONS,
            max_silence: common::MAX_SILENCE,
            shutdown_grace: common::SHUTDOWN_GRACE,
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then stops accepting,
/// lets requests in flight finish for at most the grace, drops what is left, and returns.
///
/// A connection's errors (a client going away, a malformed request, a deadline) end that
/// connection only; accept errors are skipped.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let app = bounded(app, &limits);
    let builder = connection_builder(limits.head_deadline);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    // Boxed rather than pinned on the stack, so that dropping it closes the listener.
    let mut incoming = Box::pin(common::incoming(
        listener,
        limits.max_connections,
        limits.max_silence,
    ));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap connections as they end, so that the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = incoming.next() => match accepted {
                Some(Ok(connection)) => {
                    let requests = Requests::new();
                    let service = TowerToHyperService::new(requests.track(app.clone()));
                    let serving = graceful.watch(
                        builder
                            .serve_connection(TokioIo::new(connection), service)
                            .into_owned(),
                    );
                    let head_deadline = limits.head_deadline;
                    connections.spawn(async move {
                        tokio::select! {
                            // Closed by the client, by hyper (a late head, a protocol error),
                            // or after its last answer once the server stops.
                            _ = serving => {}
                            // No request in flight: dropping the connection cuts no handler
                            // short.
                            () = requests.waited_too_long(head_deadline) => {}
                        }
                    });
                }
                // One failed accept; the stream has paused already if the cause may last.
                Some(Err(_)) => {}
                None => break,
            },
        }
    }
    // New clients are refused at once rather than left in the accept queue.
    drop(incoming);
    let _ = tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await;
    // Whatever outlived the grace is dropped with `connections`.
}

/// The app behind the request deadline and the body limit, their answers in the app's JSON.
fn bounded(app: Router, limits: &Limits) -> Router {
    let max_body_bytes = limits.max_body_bytes;
    // Each `layer` wraps the ones before it: the answers of the inner two get their JSON body
    // last.
    app.layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_deadline,
        ))
        .layer(axum::middleware::map_response(move |response: Response| {
            json_detail(response, max_body_bytes)
        }))
}

/// tower-http answers 408 with an empty body and 413 in plain text; the app answers every error
/// as JSON `{"detail"}`, and so do they here.
async fn json_detail(response: Response, max_body_bytes: usize) -> Response {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    let detail = match response.status() {
        _ if is_json => return response,
        StatusCode::REQUEST_TIMEOUT => "the request did not complete in time".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than {max_body_bytes} bytes")
        }
        _ => return response,
    };
    (
        response.status(),
        Json(serde_json::json!({ "detail": detail })),
    )
        .into_response()
}

/// hyper's builder for HTTP/1.1 and HTTP/2 (by prior knowledge) on one port.
fn connection_builder(head_deadline: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // The timer first: hyper keeps no deadline without one.
        .timer(TokioTimer::new())
        .header_read_timeout(head_deadline)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(common::HTTP2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(common::HTTP2_KEEP_ALIVE_TIMEOUT);
    builder
}

/// A connection's requests, for its watch: how many are in flight, and how many have begun.
#[derive(Clone, Debug)]
struct Requests(Arc<watch::Sender<Count>>);

#[derive(Clone, Copy, Debug, Default)]
struct Count {
    in_flight: usize,
    /// Requests begun, ever: only compared with an earlier count. A watch keeps only its latest
    /// value, so a request that begins and ends between two looks leaves `in_flight` as it was;
    /// this count still moves.
    begun: u64,
}

/// A request in flight, until its answer is handed to hyper (or the request is dropped).
struct Busy(Requests);

impl Drop for Busy {
    fn drop(&mut self) {
        (self.0)
            .0
            .send_modify(|count| count.in_flight = count.in_flight.saturating_sub(1));
    }
}

impl Requests {
    fn new() -> Self {
        Self(Arc::new(watch::Sender::new(Count::default())))
    }

    /// `app`, marking each request in flight from its call until its answer is ready.
    fn track<B>(
        &self,
        app: Router,
    ) -> impl tower::Service<
        Request<B>,
        Response = Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
           + Send
    where
        B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let requests = self.clone();
        ServiceExt::<Request<B>>::map_future(app, move |answer: RouteFuture<Infallible>| {
            let busy = requests.busy();
            async move {
                let answer = answer.await;
                drop(busy);
                answer
            }
        })
    }

    fn busy(&self) -> Busy {
        self.0.send_modify(|count| {
            count.in_flight += 1;
            count.begun += 1;
        });
        Busy(self.clone())
    }

    /// Returns once the connection has had no request in flight for `deadline`: since its
    /// acceptance, or since the answer to its last request. Never while a request is in flight.
    async fn waited_too_long(&self, deadline: Duration) {
        let mut count = self.0.subscribe();
        loop {
            // Copied out at once: the guard `wait_for` returns would hold up `send_modify`.
            let idle = count
                .wait_for(|count| count.in_flight == 0)
                .await
                .map(|count| *count);
            let Ok(idle) = idle else {
                // Cannot happen while `self` holds the sender; never wake.
                return std::future::pending().await;
            };
            let next_begins = async {
                let _ = count.wait_for(|count| count.begun != idle.begun).await;
            };
            if tokio::time::timeout(deadline, next_begins).await.is_err() {
                return;
            }
        }
    }
}
