//! The `tonic_app` example's gRPC server: `greeter.v1.Greeter` behind `StlockLayer` (every call
//! needs a valid access token) and `GrantLayer` (the user's policies must allow
//! `POST /greeter.v1.Greeter/<Method>`). The tests include this file (`#[path]`), so they
//! exercise the very server the example runs.

use std::future::Future;

use stlock::{GrantLayer, StlockLayer, StlockUser};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

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

/// Serves the greeter on `listener`, behind `auth` and its grant layer, until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    auth: StlockLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        // Layers run in the order they are added: the token first, then the grant check.
        .layer(auth.clone())
        .layer(GrantLayer::new(auth.client().clone()))
        .add_service(GreeterServer::new(GreeterService))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}
