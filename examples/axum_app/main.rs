//! The Python client's FastAPI quick start (`main.py`), ported to axum, with bearer-token
//! authentication by `StlockLayer` and grant checks by `GrantLayer`.
//!
//! ```sh
//! cargo run --example axum_app                       # on 127.0.0.1:3000
//! cargo run --example axum_app -- --listen 127.0.0.1:8080
//! PORT=8080 cargo run --example axum_app            # 127.0.0.1:8080
//! ```
//!
//! It runs against an in-process STLock emulator, or against a real service when
//! `STLOCK_ENDPOINT` and the other `STLOCK_*` variables are set. Once listening it prints curl
//! commands to try every route; Ctrl-C stops it gracefully. The routes are in `app.rs`.
//!
//! It serves as a production app would (`serve.rs`, the part to copy): on hyper-util's server,
//! HTTP/1.1 and h2c, with a deadline for every request head and every request, a body limit,
//! a cap on connections and a bounded graceful stop. `serve.rs` says what each bound is for.
//!
//! With stlock's `metrics` feature (`cargo run --example axum_app --features metrics`) it also
//! serves `GET /metrics`, stlock's counters in Prometheus's text format (`metrics.rs`).

mod app;
#[path = "../common/cli.rs"]
mod cli;
#[cfg(feature = "metrics")]
mod metrics;
mod serve;

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use stlock::refresh::AutoRefresh;
use stlock::{Client, StlockLayer};
use stlock_emulator::{Emulator, NewPolicy, Rule};
use tokio::net::TcpListener;

use app::App;

const DEFAULT_PORT: u16 = 3000;

const USAGE: &str =
    "usage: axum_app [--listen ADDR]   (default 127.0.0.1:3000, or 127.0.0.1:$PORT)";

#[tokio::main]
async fn main() -> ExitCode {
    cli::exit_code("axum_app", run().await)
}

async fn run() -> Result<(), Box<dyn Error>> {
    let Some(listen) = cli::listen_address(USAGE, address_from_port)? else {
        println!("{USAGE}");
        return Ok(());
    };

    // Keep the emulator alive for the whole run: dropping it stops it.
    let (config, emulator) = stlock_emulator::env_or_start().await?;
    let emulator = emulator.map(Arc::new);
    let service = match &emulator {
        Some(emulator) => format!("in-process emulator at {}", emulator.endpoint()),
        None => format!("{} (from the STLOCK_* variables)", config.endpoint()),
    };
    // Header for API clients, cookies for browsers; a browser's expired access cookie is
    // refreshed on the fly. `secure(false)`: this demo serves plain HTTP on your machine; an app
    // served over HTTPS keeps the default, `Secure` cookies.
    let auth = StlockLayer::from_client(Client::new(config)?)
        .auto_refresh(AutoRefresh::cookies().secure(false).build()?);

    let mut app = App::new(auth);
    if let Some(emulator) = &emulator {
        app = app.on_register(demo_policy(Arc::clone(emulator))?);
    }

    let router = app.router();
    #[cfg(feature = "metrics")]
    let router = router.merge(install_metrics()?);

    let listener = TcpListener::bind(listen)
        .await
        .map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    let addr = listener.local_addr()?;
    print_walkthrough(addr, &service, emulator.is_some());

    // Returns once Ctrl-C was pressed and in-flight requests are done (10 s at most).
    serve::serve(listener, router, serve::Limits::default(), ctrl_c()).await;
    println!("stopped");

    // The router, and with it the demo hook's handle, is gone: stop the emulator cleanly.
    if let Some(emulator) = emulator.and_then(Arc::into_inner) {
        emulator.shutdown().await;
    }
    Ok(())
}

/// Installs the Prometheus recorder for the whole process, describes stlock's metrics to it,
/// and returns the `GET /metrics` route.
#[cfg(feature = "metrics")]
fn install_metrics() -> Result<axum::Router, Box<dyn Error>> {
    let recorder = metrics::recorder()?;
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder)?;
    stlock::metrics::describe();
    Ok(metrics::routes(handle))
}

/// DEMO ONLY: creates a policy allowing `GET /orders/**` and returns a hook that attaches it
/// to every newly registered user (and answers with the updated user), so that the
/// walk-through shows a grant allowed and one denied. A real app has its policies written and
/// attached by the pool's owner, not by itself on registration.
fn demo_policy(
    emulator: Arc<Emulator>,
) -> Result<
    impl Fn(stlock::User) -> stlock::User + Send + Sync + 'static,
    stlock_emulator::AdminError,
> {
    let pool = emulator.credentials().user_pool_id.clone();
    let policy = emulator.create_policy(
        &pool,
        NewPolicy::new("demo: read orders", [Rule::allow(["GET"], ["/orders/**"])]),
    )?;
    Ok(
        move |user: stlock::User| match emulator.attach_policy(&pool, &user.id, &policy.id) {
            Ok(updated) => updated,
            Err(error) => {
                eprintln!(
                    "axum_app: could not attach the demo policy to {}: {error}",
                    user.id
                );
                user
            }
        },
    )
}

/// Returns once Ctrl-C is pressed; never where signals cannot be handled.
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling here: run until killed.
        std::future::pending::<()>().await;
    }
    println!("\nshutting down: finishing in-flight requests");
}

/// Ready-to-paste commands. Tokens stay in shell variables: nothing secret is printed here.
fn print_walkthrough(addr: SocketAddr, service: &str, demo_policy: bool) {
    let base = format!("http://{addr}");
    let json = "-H 'content-type: application/json'";
    println!("axum_app listening on {base}");
    println!("STLock service: {service}");
    if demo_policy {
        println!("demo: each new user gets a policy allowing GET /orders/**");
    }
    println!(
        r#"
Try it from another terminal (Ctrl-C here stops the server):

  # register (201) and sign in
  curl -i {base}/register {json} \
    -d '{{"username":"alice","email":"alice@example.com","phone":"79111111111","password":"change-me"}}'
  PAIR=$(curl -s {base}/login {json} -d '{{"username":"alice","password":"change-me"}}')
  field() {{ sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/"; }}
  TOKEN=$(echo "$PAIR" | field access_token); REFRESH=$(echo "$PAIR" | field refresh_token)

  # the verified claims of the token; without it, 401 and WWW-Authenticate: Bearer
  curl -i {base}/user -H "Authorization: Bearer $TOKEN"
  curl -i {base}/user

  # grant-checked routes: GET is allowed by the policy (200), DELETE is not (403)
  curl -i {base}/orders/42 -H "Authorization: Bearer $TOKEN"
  curl -i -X DELETE {base}/orders/42 -H "Authorization: Bearer $TOKEN"

  # rotate the pair, sign out, and see the spent refresh token refused (401)
  REFRESH=$(curl -s {base}/refresh {json} -d "{{\"refresh_token\":\"$REFRESH\"}}" | field refresh_token)
  curl -i {base}/logout {json} -d "{{\"refresh_token\":\"$REFRESH\"}}"
  curl -i {base}/refresh {json} -d "{{\"refresh_token\":\"$REFRESH\"}}"

  # the browser flow, with curl's cookie jar: POST /session signs in (two HttpOnly cookies, no
  # token in the body); /user and POST /orders read the cookies (and would refresh an expired
  # one); a form posted from another origin is refused (403); DELETE /session revokes the
  # session and clears both cookies (204); then /orders/42, whose grant check asks the service,
  # and /user, which finds no cookie, answer 401
  curl -s -c jar {base}/session {json} -d '{{"username":"alice","password":"change-me"}}'
  curl -i -b jar -c jar {base}/user
  curl -i -b jar -c jar {base}/orders {json} -d '{{"item":"a teapot"}}'
  curl -i -b jar {base}/orders -d 'item=a+teapot' -H 'Origin: http://evil.example'
  curl -i -b jar -c jar -X DELETE {base}/session
  curl -i -b jar {base}/orders/42
  curl -i -b jar {base}/user
  # (curl 7.88, Debian 12's, writes the first cookie a response clears back into the jar, old
  # value and all: there the last /user answers 200 until that access token expires, since
  # StlockLayer verifies it without asking the service; a browser drops both cookies)

Or open {base}/ in a browser, sign in as alice, call /user 20 times at once, place an order.
"#
    );
    if cfg!(feature = "metrics") {
        println!(
            "What stlock counted so far, in Prometheus's text format:\n\n  curl -s {base}/metrics | grep '^stlock_'\n"
        );
    }
}

/// `127.0.0.1:$PORT`, else `127.0.0.1:3000`.
fn address_from_port() -> Result<SocketAddr, String> {
    let port = match std::env::var("PORT") {
        Ok(port) => port
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("PORT=`{port}` is not a port number"))?,
        Err(_) => DEFAULT_PORT,
    };
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}
