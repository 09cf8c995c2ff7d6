//! The server the wrk runs load: `GET /me` on loopback, with stlock's layer or without
//! authentication, served by `axum::serve` on a Tokio runtime with one worker thread (the load
//! tool pins it to one core and wrk to the other).
//!
//! ```sh
//! load_server none|stlock
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` once the socket is bound, and stops when its
//! standard input closes: whoever started it stops it by dropping that pipe. Connections still
//! open then get a grace period to finish, after which it exits anyway.

use std::io::{BufRead as _, Write as _};
use std::time::Duration;

use stlock_perf::apps;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long open connections may take to finish once asked to stop.
const GRACE: Duration = Duration::from_secs(5);

fn main() {
    let auth = std::env::args().nth(1).unwrap_or_default();
    let app = match auth.as_str() {
        "none" => apps::stlock::no_auth_router(),
        "stlock" => apps::stlock::router(apps::stlock::layer()),
        _ => {
            eprintln!("usage: load_server none|stlock");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        println!("listening on http://{addr}");
        std::io::stdout().flush().expect("stdout");
        let (closed_tx, closed) = watch::channel(false);
        tokio::spawn(async move {
            stdin_closed().await;
            let _ = closed_tx.send(true);
        });
        let mut stopping = closed.clone();
        let mut deadline = closed;
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stopping.wait_for(|closed| *closed).await;
        });
        tokio::select! {
            served = serve => served.expect("the server runs"),
            () = async move {
                let _ = deadline.wait_for(|closed| *closed).await;
                tokio::time::sleep(GRACE).await;
            } => eprintln!("load_server: connections still open after the grace period"),
        }
    });
}

/// Completes when standard input reaches its end (or fails).
async fn stdin_closed() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read_line(&mut sink), Ok(n) if n > 0) {
            sink.clear();
        }
    })
    .await;
}
