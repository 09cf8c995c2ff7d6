//! The emulator's server loop: HTTP/1.1 and HTTP/2 (h2c, by prior knowledge) on one TCP
//! listener, with deadlines on every stage of a connection, a cap on connections and a graceful,
//! bounded shutdown. Private to the emulator: an application serves itself with its framework's
//! server (this repository's examples show how, with hyper-util, tower-http and tonic).
//!
//! What a client can hold, and for how long ([`Limits`] has the defaults):
//!
//! - a connection that sends nothing, or an idle keep-alive connection: the
//!   [idle timeout](Limits::idle_timeout), then it is closed (HTTP/2: `GOAWAY`);
//! - a request head sent slowly or half: the [head deadline](Limits::header_read_timeout),
//!   counted from when the connection began waiting for it, then it is closed;
//! - a request body sent slowly or half: the [body deadline](Limits::body_read_timeout), in
//!   total, then reading it fails with [`BodyTimeout`] (the emulator answers 408) and the
//!   connection is closed after the answer;
//! - a connection at all: one of [`max_connections`](Limits::max_connections) permits; while
//!   none is free, new connections wait in the listener's accept queue.
//!
//! The routes see [`RequestBody`], hyper's body under the body deadline. Nothing here reads a
//! body: a route that answers before reading it (413 for a `Content-Length` over the limit)
//! never makes hyper send `100 Continue`.

mod activity;
mod body;
mod connection;
mod limits;

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower_service::Service;

use activity::{Activity, Metered};
use connection::Tracked;

use body::RequestBody;

pub(crate) use body::BodyTimeout;
pub use limits::Limits;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Pause after an accept error that is not about one connection (out of file descriptors, say),
/// so that the loop does not spin while the cause lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `service` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting, lets in-flight requests finish for at most the
/// [shutdown timeout](Limits::shutdown_timeout), drops what is left, and returns.
///
/// Errors of single connections (a client going away, a malformed request, a deadline) end
/// that connection only; accept errors are retried. Dropping the returned future drops every
/// connection at once.
pub(crate) async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<RequestBody>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let builder = Arc::new(limits.connection_builder());
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections as they end, so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            (stream, permit) = accept(&listener, &permits) => {
                let (service, builder) = (service.clone(), Arc::clone(&builder));
                let (limits, stopping) = (limits.clone(), stopping.clone());
                connections.spawn(async move {
                    let activity = Activity::new();
                    let io = TokioIo::new(Metered::new(stream, activity.clone()));
                    let service = Tracked::new(service, activity.clone(), limits.body_read_timeout);
                    let connection =
                        builder.serve_connection(io, TowerToHyperService::new(service));
                    connection::supervise(connection, &activity, &limits, stopping).await;
                    // Held for the connection's life: the cap counts connections, not requests.
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    // Receivers only go away with their connections; nobody left to tell is fine.
    let _ = stop.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_timeout, drained)
        .await
        .is_err()
    {
        connections.shutdown().await;
    }
}

/// The next connection, with its permit. The permit comes first: beyond the cap, nothing is
/// accepted and clients wait in the kernel's accept queue.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit) {
    let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
        // The semaphore is never closed; were it, accept nothing more.
        return std::future::pending().await;
    };
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                // Answers are small and written whole: send them at once.
                let _ = stream.set_nodelay(true);
                return (stream, permit);
            }
            Err(error) if is_about_one_connection(&error) => {}
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
    }
}

fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use axum::Router;

    use super::*;

    #[tokio::test]
    async fn serves_until_told_to_stop_then_returns() {
        let app = Router::new().route("/", get(|| async { "hello" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, Limits::default(), async {
            let _ = stopped.await; // a dropped sender stops the server too
        }));

        let answer = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert_eq!(answer, "hello");
        stop.send(()).unwrap();
        // Returns once in-flight requests are done (or the shutdown timeout passed).
        server.await.unwrap();
    }
}
