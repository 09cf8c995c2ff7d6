//! The `tonic_app` example's gRPC server: `greeter.v1.Greeter` behind `StlockLayer` (every call
//! needs a valid access token) and `GrantLayer` (the user's policies must allow
//! `POST /greeter.v1.Greeter/<Method>`). The tests include this file (`#[path]`), so they
//! exercise the very server the example runs.
//!
//! It is served through `stlock_emulator::serve` (h2c, as gRPC speaks it over plain TCP) rather
//! than tonic's `Server`, which has no deadline for a client that connects and then stalls and
//! no cap on connections.

use std::future::Future;

use stlock::{GrantLayer, StlockLayer, StlockUser};
use stlock_emulator::serve::Limits;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tower::Layer as _;

use crate::greeter::greeter_server::{Greeter, GreeterServer};
use crate::greeter::{HelloReply, HelloRequest, WhoAmIReply, WhoAmIRequest};

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
/// lets in-flight calls finish (10 s at most).
///
/// It never fails: a connection's errors end that connection only. The `Result` is the one
/// callers had from tonic's `Server`, kept so that they need no change.
pub async fn serve(
    listener: TcpListener,
    auth: StlockLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let grants = GrantLayer::new(auth.client().clone());
    // The outer layer runs first: the token is verified, then the grant checked.
    let service = auth.layer(grants.layer(Routes::new(GreeterServer::new(GreeterService))));
    stlock_emulator::serve::serve(listener, service, Limits::default(), shutdown).await;
    Ok(())
}
