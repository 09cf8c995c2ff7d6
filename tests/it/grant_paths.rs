//! The path a grant check judges is the path the handler serves: percent-encoding, dot segments,
//! encoded slashes and delimiters, `HEAD` and axum's `nest` cannot slip a request past a deny rule
//! of a real policy at the emulator. Requests go over a plain socket, byte for byte.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use stlock::{GrantLayer, StlockLayer, StlockUser};
use stlock_emulator::{Emulator, NewPolicy, Rule};

use crate::support::emulator::{emulator, sign_up};
use crate::support::http::{send_raw, serve};

/// What the handler was asked to serve, as it sees it.
async fn order(Path(id): Path<String>, _: StlockUser) -> String {
    format!("order {id}")
}

async fn file(Path(path): Path<String>, _: StlockUser) -> String {
    format!("file {path}")
}

/// The app: orders and files at the top, orders again inside `nest("/api", …)`, every route
/// behind the token and grant layers.
fn app(auth: StlockLayer) -> Router {
    let grants = GrantLayer::new(auth.client().clone());
    let routes = || {
        Router::new()
            .route("/orders/{id}", get(order).delete(order))
            .route("/files/{*path}", get(file))
            .route_layer(grants.clone())
            .route_layer(auth.clone())
    };
    routes().nest("/api", routes())
}

/// Everything under `/orders` and `/files` is allowed, but `/orders/42` to anyone, `GET
/// /orders/13`, and `/files/secret/**`. Nothing under `/api` is allowed.
fn policy() -> NewPolicy {
    NewPolicy::new(
        "orders and files, with exceptions",
        [
            Rule::allow(["*"], ["/orders/**", "/files/**"]),
            Rule::deny(["*"], ["/orders/42", "/files/secret/**"]),
            Rule::deny(["GET"], ["/orders/13"]),
        ],
    )
}

struct Fixture {
    _emu: Emulator,
    base: String,
    token: String,
}

impl Fixture {
    async fn new(policy: NewPolicy) -> Self {
        let emu = emulator().await;
        let client = stlock::Client::new(emu.config()).unwrap();
        let (user, tokens) = sign_up(&client, "alice").await;
        let pool = emu.credentials().user_pool_id.clone();
        let policy = emu.create_policy(&pool, policy).unwrap();
        emu.attach_policy(&pool, &user.id, &policy.id).unwrap();
        let base = serve(app(StlockLayer::from_client(client))).await;
        Self {
            _emu: emu,
            base,
            token: tokens.access_token,
        }
    }

    async fn send(&self, method: &str, target: &str) -> (StatusCode, String) {
        send_raw(&self.base, method, target, &self.token).await
    }

    async fn assert(&self, method: &str, target: &str, status: StatusCode) -> String {
        let (got, body) = self.send(method, target).await;
        assert_eq!(got, status, "{method} {target}: {body}");
        body
    }
}

#[tokio::test]
async fn the_policy_holds_for_plain_paths() {
    let fx = Fixture::new(policy()).await;
    let body = fx.assert("GET", "/orders/7", StatusCode::OK).await;
    assert_eq!(body, "order 7");
    fx.assert("GET", "/orders/42", StatusCode::FORBIDDEN).await;
    fx.assert("DELETE", "/orders/13", StatusCode::OK).await;
    fx.assert("GET", "/orders/13", StatusCode::FORBIDDEN).await;
    fx.assert("GET", "/files/public/a", StatusCode::OK).await;
    fx.assert("GET", "/files/secret/a", StatusCode::FORBIDDEN)
        .await;
}

#[tokio::test]
async fn a_percent_encoded_path_is_judged_as_the_handler_reads_it() {
    let fx = Fixture::new(policy()).await;
    // The handler would serve order 42: the deny on `/orders/42` applies.
    fx.assert("GET", "/orders/%34%32", StatusCode::FORBIDDEN)
        .await;
    fx.assert("DELETE", "/orders/4%32", StatusCode::FORBIDDEN)
        .await;
    fx.assert("GET", "/files/%73ecret/a", StatusCode::FORBIDDEN)
        .await;
    // Decoding is no reason to refuse what is allowed, and happens once only.
    let body = fx.assert("GET", "/orders/%37", StatusCode::OK).await;
    assert_eq!(body, "order 7");
    let body = fx.assert("GET", "/orders/%2534%2532", StatusCode::OK).await;
    assert_eq!(body, "order %34%32");
}

#[tokio::test]
async fn dot_segments_encoded_slashes_and_delimiters_are_refused_before_any_check() {
    let fx = Fixture::new(policy()).await;
    for target in [
        "/files/public/../secret/a",
        "/files/public/%2e%2e/secret/a",
        "/files/public/%2E%2E/secret/a",
        "/files/./secret/a",
        "/files/secret%2Fa",
        "/files/public%2f..%2fsecret",
        "/orders/7%3Fx=1",
        "/orders/7%23x",
        "/orders/%00",
        "/orders/%FF",
    ] {
        let (status, body) = fx.send("GET", target).await;
        // Routed to a handler or not, it never reaches one: 400 from the grant layer, or 404
        // where the router itself finds no route.
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "GET {target}: {status} {body}"
        );
        assert!(
            !body.starts_with("file") && !body.starts_with("order"),
            "{target}: {body}"
        );
        if status == StatusCode::BAD_REQUEST {
            assert!(
                body.contains("the request path cannot be checked"),
                "{body}"
            );
        }
    }
    // The ones the router does route are refused by the grant layer itself.
    for target in [
        "/files/public/%2e%2e/secret/a",
        "/files/secret%2Fa",
        "/orders/7%3Fx=1",
    ] {
        fx.assert("GET", target, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn head_is_judged_as_the_get_it_runs() {
    let fx = Fixture::new(policy()).await;
    // The policy allows every method on `/orders/**` but GET on `/orders/13`; a HEAD runs the
    // GET handler, so it is denied too.
    fx.assert("HEAD", "/orders/13", StatusCode::FORBIDDEN).await;
    fx.assert("HEAD", "/orders/7", StatusCode::OK).await;
}

#[tokio::test]
async fn inside_nest_the_path_the_client_called_is_judged() {
    // The policy allows `/orders/**`, nothing under `/api`: inside `nest("/api", …)` the
    // request's URI reads `/orders/7`, but the client called `/api/orders/7`.
    let fx = Fixture::new(policy()).await;
    fx.assert("GET", "/api/orders/7", StatusCode::FORBIDDEN)
        .await;
    fx.assert("GET", "/orders/7", StatusCode::OK).await;

    let fx = Fixture::new(NewPolicy::new(
        "the api",
        [Rule::allow(["GET"], ["/api/orders/**"])],
    ))
    .await;
    let body = fx.assert("GET", "/api/orders/7", StatusCode::OK).await;
    assert_eq!(body, "order 7");
    fx.assert("GET", "/orders/7", StatusCode::FORBIDDEN).await;
}
