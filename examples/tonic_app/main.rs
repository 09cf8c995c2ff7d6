//! A tonic gRPC service behind `StlockLayer` and `GrantLayer`: `greeter.v1.Greeter` answers who
//! the caller is, from the access token in the `authorization: Bearer <token>` metadata.
//!
//! ```sh
//! cargo run --example tonic_app --features tonic   # on 127.0.0.1:50051
//! cargo run --example tonic_app --features tonic -- --listen 127.0.0.1:6000
//! ```
//!
//! Against the in-process emulator (the default) it first makes a few calls of its own, printing
//! the outcome of each: no token, a forged token, a user whose policy allows the service, a
//! user without one, and the first user again through a `Session` on the channel
//! (`SessionLayer`: the token put on each call and kept fresh). It then serves until Ctrl-C. With `STLOCK_ENDPOINT` and the other
//! `STLOCK_*` variables set it serves for that service and makes no calls of its own.
//!
//! The service's Rust code is generated from `greeter.proto` and committed (`greeter.rs`), so
//! building needs no protoc.

#[path = "../common/cli.rs"]
mod cli;
mod greeter;
mod service;

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use stlock::session::{Session, SessionLayer};
use stlock::{Client, Registration, StlockLayer};
use stlock_emulator::{Emulator, NewPolicy, Rule};
use tokio::net::TcpListener;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;
use tower::ServiceBuilder;

use greeter::greeter_client::GreeterClient;
use greeter::WhoAmIRequest;

const USAGE: &str = "usage: tonic_app [--listen ADDR]   (default 127.0.0.1:50051)";

#[tokio::main]
async fn main() -> ExitCode {
    cli::exit_code("tonic_app", run().await)
}

async fn run() -> Result<(), Box<dyn Error>> {
    let Some(listen) =
        cli::listen_address(USAGE, || Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, 50051))))?
    else {
        println!("{USAGE}");
        return Ok(());
    };

    // Keep the emulator alive for the whole run: dropping it stops it.
    let (config, emulator) = stlock_emulator::env_or_start().await?;
    let client = Client::new(config)?;

    let listener = TcpListener::bind(listen)
        .await
        .map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(service::serve(
        listener,
        StlockLayer::from_client(client.clone()),
        async {
            let _ = stopped.await;
        },
    ));
    println!("tonic_app: greeter.v1.Greeter listening on http://{addr}");

    match &emulator {
        Some(emulator) => {
            println!(
                "STLock service: in-process emulator at {}\n",
                emulator.endpoint()
            );
            demo(emulator, &client, addr).await?;
        }
        None => println!(
            "STLock service: {} (from the STLOCK_* variables)",
            client.config().endpoint()
        ),
    }
    print_how_to_call(addr);

    tokio::select! {
        served = &mut server => served??,
        _ = tokio::signal::ctrl_c() => {
            println!("\nshutting down: finishing in-flight calls");
            let _ = stop.send(());
            // Returns once they are done (10 s at most).
            server.await??;
        }
    }
    if let Some(emulator) = emulator {
        emulator.shutdown().await;
    }
    Ok(())
}

/// Calls the service as four different callers and prints what each got.
async fn demo(
    emulator: &Emulator,
    client: &Client,
    addr: SocketAddr,
) -> Result<(), Box<dyn Error>> {
    let pool = emulator.credentials().user_pool_id.clone();
    // DEMO ONLY: a real pool's owner writes and attaches the policies.
    let policy = emulator.create_policy(
        &pool,
        NewPolicy::new(
            "demo: greeter",
            [Rule::allow(["POST"], ["/greeter.v1.Greeter/*"])],
        ),
    )?;
    let password = "demo-password";
    let alice = client
        .register(&Registration::new(
            "alice",
            "alice@example.com",
            "79111111111",
            password,
        ))
        .await?;
    emulator.attach_policy(&pool, &alice.id, &policy.id)?;
    client
        .register(&Registration::new(
            "bob",
            "bob@example.com",
            "79222222222",
            password,
        ))
        .await?;
    let alice_token = client.login("alice", password).await?.access_token;
    let bob_token = client.login("bob", password).await?.access_token;

    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut greeter = GreeterClient::new(channel.clone());
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl";
    let callers = [
        ("without a token", None),
        ("with a forged token", Some(forged)),
        (
            "as alice, whose policy allows the service",
            Some(alice_token.as_str()),
        ),
        ("as bob, who has no policy", Some(bob_token.as_str())),
    ];
    for (who, token) in callers {
        let mut request = Request::new(WhoAmIRequest {});
        if let Some(token) = token {
            let value = MetadataValue::try_from(format!("Bearer {token}"))?;
            request.metadata_mut().insert("authorization", value);
        }
        match greeter.who_am_i(request).await {
            Ok(reply) => println!("WhoAmI {who}: OK, user id {}", reply.into_inner().user_id),
            Err(status) => println!("WhoAmI {who}: {:?}: {}", status.code(), status.message()),
        }
    }

    // A program signed in as alice: the session puts her token on every call, and refreshes it
    // ahead of its expiry, once however many calls are in flight.
    let session = Session::builder(client.clone())
        .sign_in("alice", password)
        .await?;
    let mut signed_in = GreeterClient::new(
        ServiceBuilder::new()
            .layer(SessionLayer::new(session))
            .service(channel),
    );
    match signed_in.who_am_i(WhoAmIRequest {}).await {
        Ok(reply) => println!(
            "WhoAmI as alice through a session: OK, user id {}",
            reply.into_inner().user_id
        ),
        Err(status) => println!(
            "WhoAmI as alice through a session: {:?}: {}",
            status.code(),
            status.message()
        ),
    }
    Ok(())
}

/// How to call the service: with grpcurl, or from Rust.
fn print_how_to_call(addr: SocketAddr) {
    println!(
        r#"
Serving until Ctrl-C. Call it from any gRPC client with the access token in the metadata, e.g.
grpcurl with the .proto from this repository ($TOKEN: an access token of the same user pool):

  grpcurl -plaintext -import-path examples/tonic_app -proto greeter.proto \
    -H "authorization: Bearer $TOKEN" {addr} greeter.v1.Greeter/WhoAmI

or from Rust, with the generated client in examples/tonic_app/greeter.rs and a signed-in
stlock::session::Session, whose SessionLayer puts the token on each call and keeps it fresh:

  let channel = Channel::from_static("http://{addr}").connect().await?;
  let channel = ServiceBuilder::new().layer(SessionLayer::new(session)).service(channel);
  let reply = GreeterClient::new(channel).who_am_i(WhoAmIRequest {{}}).await?;
"#
    );
}
