//! `GrantLayer` in the `axum_app` example's router (`GET`/`DELETE /orders/{id}`), against the
//! real emulator and against raw loopback servers: allowed, denied, cached, failing closed,
//! revoked.

use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use jsonwebtoken::Algorithm;
use stlock::{
    AuthError, Client, Config, GrantLayer, StlockLayer, StlockUser, TokenPair, TokenSource, User,
};
use stlock_emulator::{Emulator, Rule};

use crate::app::App;
use crate::support::emulator::{emulator, policy, sign_up};
use crate::support::forge::{access_claims_of, sign};
use crate::support::http::{bearer, fetch, http, serve, Answer};
use crate::support::raw::{closed_port_endpoint, RawServer};
use crate::support::{HEADER, OWNER, POOL, SECRET};

const INSUFFICIENT_SCOPE: &str =
    "Bearer error=\"insufficient_scope\", error_description=\"the user's policies do not allow this request\"";

struct Fixture {
    emu: Emulator,
    client: Client,
    base: String,
}

impl Fixture {
    /// The app with its default grant layer (30 s cache).
    async fn new() -> Self {
        Self::with(App::new).await
    }

    /// The app that `configure` makes from a token layer on the emulator.
    async fn with(configure: impl FnOnce(StlockLayer) -> App) -> Self {
        let emu = emulator().await;
        let client = Client::new(emu.config()).unwrap();
        let app = configure(StlockLayer::from_client(client.clone()));
        let base = serve(app.router()).await;
        Self { emu, client, base }
    }

    fn pool(&self) -> &str {
        &self.emu.credentials().user_pool_id
    }

    async fn order(&self, method: &str, id: u32, tokens: &TokenPair) -> Answer {
        let url = format!("{}/orders/{id}", self.base);
        let request = http()
            .request(method.parse().unwrap(), url)
            .header("authorization", bearer(&tokens.access_token));
        Answer::read(request.send().await.unwrap()).await
    }

    /// A user with a policy allowing `GET /orders/*`; returns the policy id too.
    async fn reader(&self, name: &str) -> (User, TokenPair, String) {
        let (user, tokens) = sign_up(&self.client, name).await;
        let id = policy(&self.emu, Rule::allow(["GET"], ["/orders/*"]));
        self.emu.attach_policy(self.pool(), &user.id, &id).unwrap();
        (user, tokens, id)
    }
}

#[track_caller]
fn assert_allowed(answer: &Answer, id: u32, user: &User) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["id"], id.to_string());
    assert_eq!(answer.json["user_id"], user.id);
}

#[track_caller]
fn assert_denied(answer: &Answer) {
    answer.assert_json_error(StatusCode::FORBIDDEN);
    assert_eq!(answer.header("www-authenticate"), Some(INSUFFICIENT_SCOPE));
    assert_eq!(
        answer.detail(),
        AuthError::GrantDenied { origin: HEADER }.to_string()
    );
}

/// 503 with the fixed message: nothing of the service (its address, its error) reaches the
/// client.
#[track_caller]
fn assert_unavailable(answer: &Answer) {
    answer.assert_json_error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.header("www-authenticate"), None);
    assert_eq!(
        answer.detail(),
        "the grant check is unavailable; try again later"
    );
    for leak in ["127.0.0.1", "http", "STLock service"] {
        assert!(!answer.text.contains(leak), "{}", answer.text);
    }
}

#[tokio::test]
async fn a_call_the_policy_allows_reaches_the_handler() {
    let fx = Fixture::new().await;
    let (user, tokens, _) = fx.reader("alice").await;
    assert_allowed(&fx.order("GET", 7, &tokens).await, 7, &user);
}

#[tokio::test]
async fn a_call_no_policy_allows_is_403_insufficient_scope() {
    let fx = Fixture::new().await;
    let (user, tokens, _) = fx.reader("alice").await;
    // The policy allows GET only.
    assert_denied(&fx.order("DELETE", 7, &tokens).await);
    // A user without any policy: no rule matches, so denied.
    let (_, bob) = sign_up(&fx.client, "bob").await;
    assert_denied(&fx.order("GET", 7, &bob).await);
    // A deny rule beats the allow rule.
    let deny = policy(&fx.emu, Rule::deny(["GET"], ["/orders/13"]));
    fx.emu.attach_policy(fx.pool(), &user.id, &deny).unwrap();
    assert_denied(&fx.order("GET", 13, &tokens).await);
    assert_allowed(&fx.order("GET", 12, &tokens).await, 12, &user);
}

#[tokio::test]
async fn the_example_hook_attaches_the_policy_on_registration() {
    // What the example does for its demo: a policy attached to every new user.
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let pool = emu.credentials().user_pool_id.clone();
    let id = policy(&emu, Rule::allow(["GET"], ["/orders/**"]));
    let emu = std::sync::Arc::new(emu);
    let hook_emu = std::sync::Arc::clone(&emu);
    let hook_id = id.clone();
    let app = App::new(StlockLayer::from_client(client.clone()))
        .on_register(move |user| hook_emu.attach_policy(&pool, &user.id, &hook_id).unwrap());
    let base = serve(app.router()).await;

    let body = serde_json::json!({
        "username": "alice", "email": "alice@example.com", "phone": "79111111111", "password": "pw"
    });
    let response = http().post(format!("{base}/register")).json(&body).send();
    let answer = Answer::read(response.await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(answer.json["policy_ids"], serde_json::json!([id]));
    let tokens = client.login("alice", "pw").await.unwrap();
    let answer = fetch(
        &format!("{base}/orders/1"),
        &[("authorization", &bearer(&tokens.access_token))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

#[tokio::test]
async fn answers_are_cached_per_token_method_and_path() {
    let fx = Fixture::new().await;
    let (user, tokens, reading) = fx.reader("alice").await;
    assert_allowed(&fx.order("GET", 1, &tokens).await, 1, &user);

    // The service now denies every call of this user...
    fx.emu.detach_policy(fx.pool(), &user.id, &reading).unwrap();
    assert_denied(&fx.order("GET", 2, &tokens).await);
    // ...but the same token, method and path is answered from the cache, without asking.
    assert_allowed(&fx.order("GET", 1, &tokens).await, 1, &user);
    // A new token is asked afresh.
    let fresh = fx.client.login(&user.username, "pw").await.unwrap();
    assert_denied(&fx.order("GET", 1, &fresh).await);

    // Denials are cached too: allowed again at the service, still denied here.
    fx.emu.attach_policy(fx.pool(), &user.id, &reading).unwrap();
    assert_denied(&fx.order("GET", 2, &tokens).await);
    assert_allowed(&fx.order("GET", 3, &tokens).await, 3, &user);
}

#[tokio::test]
async fn a_zero_cache_ttl_asks_the_service_every_time() {
    let fx = Fixture::with(|auth| {
        let grants = GrantLayer::new(auth.client().clone()).cache_ttl(Duration::ZERO);
        App::with_layers(auth, grants)
    })
    .await;
    let (user, tokens, reading) = fx.reader("alice").await;
    assert_allowed(&fx.order("GET", 1, &tokens).await, 1, &user);
    fx.emu.detach_policy(fx.pool(), &user.id, &reading).unwrap();
    assert_denied(&fx.order("GET", 1, &tokens).await);
    fx.emu.attach_policy(fx.pool(), &user.id, &reading).unwrap();
    assert_allowed(&fx.order("GET", 1, &tokens).await, 1, &user);
}

#[tokio::test]
async fn a_token_revoked_at_the_service_is_401() {
    let fx = Fixture::new().await;
    let (user, tokens, _) = fx.reader("alice").await;
    fx.client.logout(&tokens.refresh_token).await.unwrap();

    let answer = fx.order("GET", 1, &tokens).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\", error_description=\"the access token was revoked\"")
    );
    assert_eq!(
        answer.detail(),
        AuthError::RevokedToken { origin: HEADER }.to_string()
    );
    // Local verification alone cannot know: `/user` still accepts the token until it expires.
    let me = fetch(
        &format!("{}/user", fx.base),
        &[("authorization", &bearer(&tokens.access_token))],
    )
    .await;
    assert_eq!(me.json["sub"], user.id);

    // A deleted user's tokens are revoked too.
    let (bob, bob_tokens, _) = fx.reader("bob").await;
    fx.emu.delete_user(fx.pool(), &bob.id).unwrap();
    assert_eq!(
        fx.order("GET", 1, &bob_tokens).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_blocked_user_is_403() {
    let fx = Fixture::new().await;
    let (user, tokens, _) = fx.reader("alice").await;
    fx.emu.block_user(fx.pool(), &user.id).unwrap();
    assert_denied(&fx.order("GET", 1, &tokens).await);
    fx.emu.unblock_user(fx.pool(), &user.id).unwrap();
    assert_allowed(&fx.order("GET", 2, &tokens).await, 2, &user);
}

#[tokio::test]
async fn a_stopped_service_fails_closed_with_503() {
    let fx = Fixture::new().await;
    let (user, tokens, _) = fx.reader("alice").await;
    assert_allowed(&fx.order("GET", 1, &tokens).await, 1, &user);
    let Fixture { emu, client, base } = fx;
    emu.shutdown().await;

    let get_order = |id: u32| {
        let (url, token) = (format!("{base}/orders/{id}"), bearer(&tokens.access_token));
        async move { fetch(&url, &[("authorization", &token)]).await }
    };
    assert_unavailable(&get_order(2).await);
    assert_unavailable(&get_order(2).await); // failures are not cached: asked, and failed, again
                                             // A cached answer still stands, and token verification needs no service at all.
    assert_allowed(&get_order(1).await, 1, &user);
    let me = fetch(
        &format!("{base}/user"),
        &[("authorization", &bearer(&tokens.access_token))],
    )
    .await;
    assert_eq!(me.json["sub"], user.id);
    drop(client);
}

/// The example app against a fake service at `endpoint`, with `timeout`, and a token its
/// layer accepts.
async fn app_against(endpoint: &str, timeout: Duration) -> (String, String) {
    let config = Config::builder()
        .endpoint(endpoint)
        .user_pool_id(POOL)
        .owner_id(OWNER)
        .api_key("key")
        .jwt_secret(SECRET)
        .timeout(timeout)
        .build()
        .unwrap();
    let base = serve(App::new(StlockLayer::new(config).unwrap()).router()).await;
    let claims = access_claims_of(OWNER, POOL, "5f331151-49d1-4d12-a977-a94a223a948a");
    (base, sign(&claims, SECRET, Algorithm::HS256))
}

#[tokio::test]
async fn the_grant_request_is_the_documented_call_and_its_answer_is_cached() {
    let body = r#"{"allowed":true,"method":"GET","path":"/orders/5"}"#;
    let server = RawServer::json("200 OK", body).await;
    let (base, token) = app_against(&server.endpoint(), Duration::from_secs(5)).await;
    let auth = bearer(&token);

    let answer = fetch(&format!("{base}/orders/5"), &[("authorization", &auth)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let received = server.received().await;
    let (head, sent_body) = received.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(
        head.starts_with("post /base/api/v0/users/grant http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains(&format!(
        "\r\nauthorization: bearer {}",
        token.to_ascii_lowercase()
    )));
    assert!(head.contains("\r\nx-api-key: key"), "{head}");
    let sent: serde_json::Value = serde_json::from_str(sent_body).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"method": "GET", "path": "/orders/5"})
    );

    // The fake served its one connection and is gone: only the cache can answer now.
    let again = fetch(&format!("{base}/orders/5"), &[("authorization", &auth)]).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["id"], "5");
    assert_unavailable(&fetch(&format!("{base}/orders/6"), &[("authorization", &auth)]).await);
}

#[tokio::test]
async fn a_silent_service_times_out_and_fails_closed() {
    let server = RawServer::silent().await;
    let (base, token) = app_against(&server.endpoint(), Duration::from_millis(300)).await;
    let started = Instant::now();
    let answer = fetch(
        &format!("{base}/orders/1"),
        &[("authorization", &bearer(&token))],
    )
    .await;
    assert_unavailable(&answer);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn an_unreachable_or_failing_service_fails_closed() {
    let failing = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 22\r\n\r\n{\"detail\":\"db is down\"}";
    let garbled =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\nnot json!";
    let gateway = "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 19\r\n\r\n<h1>Bad Gateway</h1>";
    let endpoints = [
        closed_port_endpoint(),
        RawServer::answering(failing).await.endpoint(),
        RawServer::answering(garbled).await.endpoint(),
        RawServer::answering(gateway).await.endpoint(),
        RawServer::truncated().await.endpoint(),
        RawServer::reset().await.endpoint(),
    ];
    for endpoint in endpoints {
        let (base, token) = app_against(&endpoint, Duration::from_secs(5)).await;
        let answer = fetch(
            &format!("{base}/orders/1"),
            &[("authorization", &bearer(&token))],
        )
        .await;
        assert_unavailable(&answer);
    }
}

async fn order_handler(user: StlockUser) -> String {
    user.user_id().to_owned()
}

#[tokio::test]
async fn a_grant_layer_needs_a_verified_user() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (_, tokens) = sign_up(&client, "alice").await;
    let token = bearer(&tokens.access_token);
    let auth = StlockLayer::from_client(client.clone());
    let grants = GrantLayer::new(client);

    // Without the token layer in front: a wiring mistake, 500, never a pass.
    let alone = Router::new()
        .route("/orders/{id}", get(order_handler))
        .route_layer(grants.clone());
    let base = serve(alone).await;
    let answer = fetch(&format!("{base}/orders/1"), &[("authorization", &token)]).await;
    answer.assert_json_error(StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.detail().contains("StlockLayer"), "{}", answer.text);

    // Behind an optional token layer, a request without a token has no user: 401.
    let optional = Router::new()
        .route("/orders/{id}", get(order_handler))
        .route_layer(grants)
        .layer(auth.optional());
    let base = serve(optional).await;
    let answer = fetch(&format!("{base}/orders/1"), &[]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn the_grant_layer_reads_the_token_where_the_token_layer_does() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (user, tokens) = sign_up(&client, "alice").await;
    let id = policy(&emu, Rule::allow(["GET"], ["/orders/*"]));
    emu.attach_policy(&emu.credentials().user_pool_id, &user.id, &id)
        .unwrap();

    // The grant layer is made first, knowing nothing of the token layer's sources.
    let grants = GrantLayer::new(client.clone());
    let auth = StlockLayer::from_client(client).token_sources([TokenSource::cookie("session")]);
    let base = serve(App::with_layers(auth, grants).router()).await;
    let cookie = format!("session={}", tokens.access_token);
    let answer = fetch(&format!("{base}/orders/4"), &[("cookie", &cookie)]).await;
    assert_allowed(&answer, 4, &user);

    // A denial of a cookie-authenticated request: 403, and no Bearer challenge, since the
    // client never sent an `Authorization` header.
    let answer = Answer::read(
        http()
            .delete(format!("{base}/orders/4"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.assert_json_error(StatusCode::FORBIDDEN);
    assert_eq!(answer.header("www-authenticate"), None);
}

#[tokio::test]
async fn a_403_is_a_denial_and_a_422_a_path_the_service_cannot_check() {
    let cases = [
        // The real service may deny with 403 and a JSON body rather than `allowed: false`.
        (
            RawServer::json("403 Forbidden", r#"{"detail":"not allowed"}"#).await,
            StatusCode::FORBIDDEN,
        ),
        // A 403 page from a proxy is a refusal all the same.
        (
            RawServer::answering(
                "HTTP/1.1 403 Forbidden\r\ncontent-type: text/html\r\ncontent-length: 4\r\n\r\nnope",
            )
            .await,
            StatusCode::FORBIDDEN,
        ),
        // A path the service refuses to check is the client's to fix: 400, not 503.
        (
            RawServer::json("422 Unprocessable Entity", r#"{"detail":"bad path"}"#).await,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (server, status) in cases {
        let (base, token) = app_against(&server.endpoint(), Duration::from_secs(5)).await;
        let answer = fetch(
            &format!("{base}/orders/1"),
            &[("authorization", &bearer(&token))],
        )
        .await;
        answer.assert_json_error(status);
        assert!(!answer.text.contains("bad path"), "{}", answer.text);
    }
}

#[tokio::test]
async fn a_refusal_of_the_api_key_is_unavailable_not_a_revoked_token() {
    for body in [
        r#"{"detail":"the API key is not valid"}"#,
        r#"{"detail":"the API key belongs to another owner"}"#,
    ] {
        let server = RawServer::json("401 Unauthorized", body).await;
        let (base, token) = app_against(&server.endpoint(), Duration::from_secs(5)).await;
        let auth = bearer(&token);
        let answer = fetch(&format!("{base}/orders/5"), &[("authorization", &auth)]).await;
        answer.assert_json_error(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.header("retry-after"), Some("5"));
        assert!(!answer.text.contains("API key"), "{}", answer.text);
    }
    // The service refusing the token itself is still a revoked token.
    let server = RawServer::json(
        "401 Unauthorized",
        r#"{"detail":"the token has been revoked"}"#,
    )
    .await;
    let (base, token) = app_against(&server.endpoint(), Duration::from_secs(5)).await;
    let answer = fetch(
        &format!("{base}/orders/5"),
        &[("authorization", &bearer(&token))],
    )
    .await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
}
