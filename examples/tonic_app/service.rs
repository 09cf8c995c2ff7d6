//! The `tonic_app` example's gRPC server: `greeter.v1.Greeter` behind `StlockLayer` (every call
//! needs a valid access token) and `GrantLayer` (the user's policies must allow
//! `POST /greeter.v1.Greeter/<Method>`). The tests include this file (`#[path]`), so they
//! exercise the very server the example runs.
//!
//! It is served on tonic's own `Server` (h2c, as gRPC speaks it over plain TCP), so that tonic
//! applies a call's `grpc-timeout`, and configured as production would have it, with the
//! connection cap of `examples/common/serve.rs` (the part to copy, with this function):
//!
//! | bound | value | why |
//! |---|---|---|
//! | a call (`Server::timeout`) | 30 s, or the client's `grpc-timeout` if shorter | the grant check (and a refresh) waits on the STLock service; a stalled one must not hold a stream for ever. A late call ends with `CANCELLED` |
//! | calls per connection (`concurrency_limit_per_connection`) | 32 at once | one client's connection cannot take every task; further calls wait for a turn |
//! | connections | 512 at once (`common::incoming`) | tonic caps none |
//! | silence | 60 s without a byte received (`common::incoming`) | hyper keeps no deadline while it waits for the HTTP/2 preface: a client that connects and sends nothing would hold its connection for ever |
//! | a connection's age (`max_connection_age`) | 10 minutes, then a `GOAWAY`; its calls in flight finish within their deadline | tonic has no idle timeout: a client that keeps answering pings and calls nothing would hold its connection for ever. gRPC clients reconnect transparently after a `GOAWAY` |
//! | HTTP/2 keep-alive (`http2_keepalive_interval`, `http2_keepalive_timeout`) | a `PING` after 20 s of silence, 20 s to answer it | finds peers that went away without closing |
//! | a request message (`max_decoding_message_size`) | 64 KiB (tonic's default is 4 MiB) | the greeter's messages are a few bytes |
//! | stop | 10 s | tonic sends every connection a `GOAWAY` and waits for them to close, however long; here it gets that long, then `serve` returns. A connection left behind ends with its last call, which the call deadline bounds |
//!
//! `tcp_nodelay` is set on each accepted socket by `common::incoming`: tonic's own setting applies
//! only to a listener it binds itself. `max_connection_age_grace` is left unset: in tonic 0.14.9
//! setting it makes the age close a connection at age + grace, with no `GOAWAY` before, so that
//! its calls in flight are cut; without it the age sends the `GOAWAY` and the calls finish.

// Each example's server includes the shared module for itself, so that the tests, which
// include both servers, compile it twice: two private copies, which is all they need.
#[allow(clippy::duplicate_mod)]
#[path = "../common/serve.rs"]
mod common;

use std::future::Future;
use std::time::Duration;

use stlock::{GrantLayer, StlockLayer, StlockUser};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use crate::greeter::greeter_server::{Greeter, GreeterServer};
use crate::greeter::{HelloReply, HelloRequest, WhoAmIReply, WhoAmIRequest};

/// How many calls one connection may have in flight.
const CALLS_PER_CONNECTION: usize = 32;
/// How long a connection lives before it is asked to go away.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(600);
/// The largest request message taken.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The service: it reads the caller from what `StlockLayer` verified.
#[derive(Clone, Copy, Debug, Default)]
pub struct GreeterService;

#[tonic::async_trait]
impl Greeter for GreeterService {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let user_id = StlockUser::from_grpc(&request)?.user_id().to_owned();
        let name = request.into_inner().name;
        let name = if name.trim().is_empty() {
            "stranger"
        } else {
            name.trim()
        };
        Ok(Response::new(HelloReply {
            message: format!("Hello, {name}!"),
            user_id,
        }))
    }

    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<WhoAmIReply>, Status> {
        let user = StlockUser::from_grpc(&request)?;
        Ok(Response::new(WhoAmIReply {
            user_id: user.user_id().to_owned(),
            user_pool_id: user.user_pool_id().to_owned(),
            owner_id: user.owner_id().to_owned(),
            expires_at: user.claims().exp,
        }))
    }
}

/// Serves the greeter on `listener`, behind `auth` and its grant layer, until `shutdown`, then
/// lets calls in flight finish for at most 10 s.
///
/// Errors of single connections end that connection only; the error is tonic's, should its
/// server fail as a whole.
pub async fn serve(
    listener: TcpListener,
    auth: StlockLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let grants = GrantLayer::new(auth.client().clone());
    let greeter = GreeterServer::new(GreeterService).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let server = Server::builder()
        .timeout(common::REQUEST_DEADLINE)
        .concurrency_limit_per_connection(CALLS_PER_CONNECTION)
        .max_connection_age(MAX_CONNECTION_AGE)
        .http2_keepalive_interval(Some(common::HTTP2_KEEP_ALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(common::HTTP2_KEEP_ALIVE_TIMEOUT))
        // The first layer is the outer one: the token is verified, then the grant checked.
        .layer(auth)
        .layer(grants)
        .add_service(greeter);

    // tonic learns of the stop through `signal`; the grace starts from the same moment.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = stopping.send(());
    };
    let incoming = common::incoming(listener, common::MAX_CONNECTIONS, common::MAX_SILENCE);
    let serving = server.serve_with_incoming_shutdown(incoming, signal);
    let grace_over = async {
        if stopped.await.is_ok() {
            tokio::time::sleep(common::SHUTDOWN_GRACE).await;
        } else {
            // The signal is dropped only with `serving`, which has then returned.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = serving => served,
        () = grace_over => Ok(()),
    }
}
