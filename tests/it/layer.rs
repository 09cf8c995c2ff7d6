//! `StlockLayer` and `StlockUser` in the `axum_app` example's router, served on loopback against
//! the real emulator: where tokens are read from, every rejection (status, `WWW-Authenticate`,
//! JSON body), optional mode, a missing layer, a custom rejection, and the seed's whole flow.

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use stlock::{
    AuthError, Client, DecodeError, GrantLayer, StlockLayer, StlockUser, TokenSource, TokenSources,
    TokenType,
};
use stlock_emulator::{Emulator, Rule};

use crate::app::App;
use crate::support::emulator::{access_claims, emulator, policy, sign_up};
use crate::support::forge::{now, sign};
use crate::support::http::{bearer, fetch, http, serve, Answer};
use crate::support::{missing_header_token, HEADER};

/// An emulator, a client of its pool, and the example app served with `configure(layer)`.
struct Fixture {
    emu: Emulator,
    client: Client,
    base: String,
}

impl Fixture {
    async fn new(configure: impl FnOnce(StlockLayer) -> StlockLayer) -> Self {
        let emu = emulator().await;
        let client = Client::new(emu.config()).unwrap();
        let auth = configure(StlockLayer::from_client(client.clone()));
        let base = serve(App::new(auth).router()).await;
        Self { emu, client, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn secret(&self) -> String {
        self.emu.credentials().jwt_secret.expose().to_owned()
    }
}

fn invalid_token_challenge(error: DecodeError) -> String {
    format!("Bearer error=\"invalid_token\", error_description=\"{error}\"")
}

#[track_caller]
fn assert_invalid_token(answer: &Answer, error: DecodeError) {
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.header("www-authenticate"),
        Some(invalid_token_challenge(error).as_str()),
        "{}",
        answer.text
    );
    assert_eq!(answer.detail(), format!("invalid access token: {error}"));
}

#[track_caller]
fn assert_missing_token(answer: &Answer) {
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    assert_eq!(answer.detail(), missing_header_token().to_string());
    assert!(answer.detail().contains("Authorization: Bearer"));
    // The head is prepared with the layer, its length too: it must be this body's.
    assert_eq!(
        answer.header("content-length"),
        Some(answer.text.len().to_string().as_str())
    );
}

#[track_caller]
fn assert_malformed(answer: &Answer, reason: &str) {
    answer.assert_json_error(StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.header("www-authenticate"),
        Some(format!("Bearer error=\"invalid_request\", error_description=\"{reason}\"").as_str())
    );
    assert_eq!(answer.detail(), format!("malformed credentials: {reason}"));
}

/// A rejection by a layer that reads cookies only: the error's status and message, and no
/// `WWW-Authenticate` challenge.
#[track_caller]
fn assert_cookie_rejection(answer: &Answer, error: &AuthError) {
    answer.assert_json_error(error.status());
    assert_eq!(answer.detail(), error.to_string());
    assert_eq!(answer.header("www-authenticate"), None, "{}", answer.text);
}

#[tokio::test]
async fn bearer_header_in_any_case_gives_the_handler_the_verified_claims() {
    let fx = Fixture::new(|layer| layer).await;
    let (user, tokens) = sign_up(&fx.client, "alice").await;
    let expected = serde_json::to_value(fx.client.decode(&tokens.access_token).unwrap()).unwrap();

    for scheme in ["Bearer", "bearer", "BEARER"] {
        let value = format!("{scheme} {}", tokens.access_token);
        let answer = fetch(&fx.url("/user"), &[("authorization", &value)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{scheme}: {}", answer.text);
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.json, expected, "{scheme}");
    }
    let claims = &expected;
    assert_eq!(claims["sub"], user.id);
    assert_eq!(claims["owner_sub"], fx.emu.credentials().owner_id);
    assert_eq!(claims["user_pool_sub"], fx.emu.credentials().user_pool_id);
    assert_eq!(claims["type"], "ACCESS");
    assert_eq!(claims["aud"], "USER");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
}

#[tokio::test]
async fn token_in_a_cookie_when_the_layer_reads_that_cookie() {
    let fx = Fixture::new(|layer| layer.token_sources([TokenSource::cookie("session")])).await;
    let (user, tokens) = sign_up(&fx.client, "alice").await;

    let cookie = format!("theme=dark; session={}; lang=en", tokens.access_token);
    let answer = fetch(&fx.url("/user"), &[("cookie", &cookie)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["sub"], user.id);

    // The site's other cookies may hold any bytes (UTF-8 here): they do not get in the way.
    let mut cookie = b"name=\xc3\xa9l\xc3\xa9na; session=".to_vec();
    cookie.extend_from_slice(tokens.access_token.as_bytes());
    let raw = http()
        .get(fx.url("/user"))
        .header("cookie", http::HeaderValue::from_bytes(&cookie).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(Answer::read(raw).await.json["sub"], user.id);

    // Only the cookie is configured: the header is not looked at, nor another cookie. The
    // rejection names the cookie, and has no Bearer challenge: there is no header to send.
    let session = TokenSource::cookie("session");
    let missing = AuthError::MissingToken {
        accepted: TokenSources::new([session.clone()]),
    };
    let answer = fetch(
        &fx.url("/user"),
        &[("authorization", &bearer(&tokens.access_token))],
    )
    .await;
    assert_cookie_rejection(&answer, &missing);
    assert!(
        !answer.detail().contains("Authorization"),
        "{}",
        answer.text
    );
    let other = format!("sessionid={}", tokens.access_token);
    assert_cookie_rejection(
        &fetch(&fx.url("/user"), &[("cookie", &other)]).await,
        &missing,
    );

    // A bad token in the cookie is refused like one in the header, without the challenge.
    let answer = fetch(&fx.url("/user"), &[("cookie", "session=not-a-jwt")]).await;
    let invalid = AuthError::InvalidToken {
        origin: session.clone(),
        reason: DecodeError::Malformed,
    };
    assert_cookie_rejection(&answer, &invalid);
    let empty = AuthError::MalformedCredentials {
        origin: session.clone(),
        reason: "the token cookie is empty",
    };
    assert_cookie_rejection(
        &fetch(&fx.url("/user"), &[("cookie", "session=")]).await,
        &empty,
    );

    // Two cookies of the token's name (one planted by a sibling subdomain, say): which one is
    // genuine cannot be told, so neither is used, even when one of them is valid.
    let tossed = AuthError::MalformedCredentials {
        origin: session,
        reason: "the token cookie is sent more than once",
    };
    let both = format!(
        "session=planted.by.sibling; session={}",
        tokens.access_token
    );
    assert_cookie_rejection(
        &fetch(&fx.url("/user"), &[("cookie", &both)]).await,
        &tossed,
    );
    let split = format!("session={}", tokens.access_token);
    let answer = fetch(
        &fx.url("/user"),
        &[("cookie", &split), ("cookie", "session=planted.by.sibling")],
    )
    .await;
    assert_cookie_rejection(&answer, &tossed);
}

#[tokio::test]
async fn header_then_cookie_are_tried_in_order() {
    let fx = Fixture::new(|layer| {
        layer.token_sources([
            TokenSource::AuthorizationHeader,
            TokenSource::cookie("session"),
        ])
    })
    .await;
    let (alice, alice_tokens) = sign_up(&fx.client, "alice").await;
    let (bob, bob_tokens) = sign_up(&fx.client, "bob").await;
    let alice_header = bearer(&alice_tokens.access_token);
    let bob_cookie = format!("session={}", bob_tokens.access_token);

    let answer = fetch(&fx.url("/user"), &[("authorization", &alice_header)]).await;
    assert_eq!(answer.json["sub"], alice.id, "{}", answer.text);
    let answer = fetch(&fx.url("/user"), &[("cookie", &bob_cookie)]).await;
    assert_eq!(answer.json["sub"], bob.id, "{}", answer.text);

    // Both present: the header wins.
    let both = [
        ("authorization", alice_header.as_str()),
        ("cookie", bob_cookie.as_str()),
    ];
    assert_eq!(fetch(&fx.url("/user"), &both).await.json["sub"], alice.id);
    // A bad header is not skipped in favour of a good cookie.
    let bad_header = [
        ("authorization", "Bearer not-a-jwt"),
        ("cookie", bob_cookie.as_str()),
    ];
    assert_invalid_token(
        &fetch(&fx.url("/user"), &bad_header).await,
        DecodeError::Malformed,
    );
    // Another scheme in the header is no bearer token: the cookie is used.
    let basic = [
        ("authorization", "Basic dXNlcjpwdw=="),
        ("cookie", bob_cookie.as_str()),
    ];
    assert_eq!(fetch(&fx.url("/user"), &basic).await.json["sub"], bob.id);

    // Nothing at all: the rejection names both places, and challenges for the header.
    let answer = fetch(&fx.url("/user"), &[]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        answer.detail(),
        "authentication required: no access token in the `Authorization: Bearer` header or \
         the `session` cookie"
    );
}

#[tokio::test]
async fn missing_token_is_401_with_a_bare_bearer_challenge() {
    let fx = Fixture::new(|layer| layer).await;
    assert_missing_token(&fetch(&fx.url("/user"), &[]).await);
    // Another scheme is not a bearer token, so the token is missing.
    assert_missing_token(
        &fetch(&fx.url("/user"), &[("authorization", "Basic dXNlcjpwdw==")]).await,
    );
    // Only the protected routes need a token: unknown paths are a JSON 404, public routes work.
    fetch(&fx.url("/nowhere"), &[])
        .await
        .assert_json_error(StatusCode::NOT_FOUND);
    let answer = Answer::read(http().get(fx.url("/login")).send().await.unwrap()).await;
    answer.assert_json_error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_token_the_cache_holds_is_judged_like_any_other() {
    let fx = Fixture::new(|layer| layer).await;
    let (user, tokens) = sign_up(&fx.client, "alice").await;
    let url = fx.url("/user");
    let valid = bearer(&tokens.access_token);
    // Seen twice, the token is remembered; the third request is served from the cache.
    for _ in 0..3 {
        let answer = fetch(&url, &[("authorization", &valid)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.json["sub"], user.id);
    }

    // The cache's shortcut reads one plain bearer header; anything else takes the long way and
    // is refused there as it would be for a token never seen.
    let answer = fetch(
        &url,
        &[("authorization", &valid), ("authorization", &valid)],
    )
    .await;
    assert_malformed(&answer, "more than one Authorization header");
    let answer = fetch(&url, &[("authorization", &format!("{valid} extra"))]).await;
    assert_malformed(&answer, "the bearer token contains spaces");

    // A hit is the whole token. Another payload with the same signature's tail lands in the
    // same slot of the cache and is refused; so are a prefix and an extension of the token.
    let token = &tokens.access_token;
    let middle = token.len() / 3;
    let flipped = if token.as_bytes()[middle] == b'A' {
        "B"
    } else {
        "A"
    };
    let same_tail = format!("{}{flipped}{}", &token[..middle], &token[middle + 1..]);
    for other in [&same_tail, &token[..token.len() - 1], &format!("{token}A")] {
        let answer = fetch(&url, &[("authorization", &bearer(other))]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    }
}

#[tokio::test]
async fn malformed_credentials_are_400_invalid_request() {
    let fx = Fixture::new(|layer| layer).await;
    let (_, tokens) = sign_up(&fx.client, "alice").await;
    let url = fx.url("/user");

    for value in ["Bearer", "Bearer ", "bearer   "] {
        let answer = fetch(&url, &[("authorization", value)]).await;
        assert_malformed(&answer, "the Bearer scheme is not followed by a token");
    }
    let answer = fetch(&url, &[("authorization", "Bearer a.b c.d")]).await;
    assert_malformed(&answer, "the bearer token contains spaces");

    // Two Authorization headers, even with a valid token in each: which one to trust?
    let valid = bearer(&tokens.access_token);
    let answer = fetch(
        &url,
        &[("authorization", &valid), ("authorization", &valid)],
    )
    .await;
    assert_malformed(&answer, "more than one Authorization header");

    let huge = format!("Bearer {}", "a".repeat(13 * 1024));
    assert_malformed(
        &fetch(&url, &[("authorization", &huge)]).await,
        "the Authorization header is too large",
    );

    let raw = http()
        .get(&url)
        .header(
            "authorization",
            http::HeaderValue::from_bytes(b"Bearer \xffxyz").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_malformed(
        &Answer::read(raw).await,
        "the Authorization header is not visible ASCII",
    );
}

#[tokio::test]
async fn every_invalid_token_is_401_invalid_token_saying_why() {
    let fx = Fixture::new(|layer| layer).await;
    let (user, tokens) = sign_up(&fx.client, "alice").await;
    let creds = fx.emu.credentials().clone();
    let secret = fx.secret();
    let valid = access_claims(&creds, &user.id);
    // The forging itself is sound: these claims signed with the pool's secret pass.
    let answer = fetch(
        &fx.url("/user"),
        &[(
            "authorization",
            &bearer(&sign(&valid, &secret, Algorithm::HS256)),
        )],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["sub"], user.id);

    let with = |field: &str, value: Value| {
        let mut claims = valid.clone();
        claims[field] = value;
        claims
    };
    let cases: Vec<(&str, String, DecodeError)> = vec![
        ("garbage", "not-a-jwt".into(), DecodeError::Malformed),
        (
            "three garbage parts",
            "aaa.bbb.ccc".into(),
            DecodeError::Malformed,
        ),
        (
            "signed with another secret",
            sign(
                &valid,
                "another-secret-of-at-least-32-bytes!!",
                Algorithm::HS256,
            ),
            DecodeError::BadSignature,
        ),
        (
            "a real token with its signature changed",
            tampered(&tokens.access_token),
            DecodeError::BadSignature,
        ),
        (
            "alg none",
            unsigned(&valid),
            DecodeError::DisallowedAlgorithm,
        ),
        (
            "HS512, not accepted",
            sign(&valid, &secret, Algorithm::HS512),
            DecodeError::DisallowedAlgorithm,
        ),
        (
            "expired beyond the leeway",
            sign(&with("exp", json!(now() - 120)), &secret, Algorithm::HS256),
            DecodeError::Expired,
        ),
        (
            "another audience",
            sign(&with("aud", json!("ADMIN")), &secret, Algorithm::HS256),
            DecodeError::WrongAudience,
        ),
        (
            "a refresh token",
            tokens.refresh_token.clone(),
            DecodeError::WrongType {
                expected: TokenType::Access,
                found: TokenType::Refresh,
            },
        ),
        (
            "claims of another owner",
            sign(
                &with("owner_sub", json!(uuid::Uuid::nil().to_string())),
                &secret,
                Algorithm::HS256,
            ),
            DecodeError::ForeignOwner,
        ),
        (
            "claims of another pool",
            sign(
                &with("user_pool_sub", json!(uuid::Uuid::nil().to_string())),
                &secret,
                Algorithm::HS256,
            ),
            DecodeError::ForeignPool,
        ),
    ];
    for (what, token, error) in cases {
        let answer = fetch(&fx.url("/user"), &[("authorization", &bearer(&token))]).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.text
        );
        assert_invalid_token(&answer, error);
    }

    // Expired, but within the 30 s leeway: still accepted.
    let just_expired = sign(&with("exp", json!(now() - 5)), &secret, Algorithm::HS256);
    let answer = fetch(
        &fx.url("/user"),
        &[("authorization", &bearer(&just_expired))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

/// The token with the first character of its signature changed.
fn tampered(token: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    format!("{signed}.{first}{}", &signature[1..])
}

#[tokio::test]
async fn tokens_of_another_pool_or_owner_are_refused() {
    let fx = Fixture::new(|layer| layer).await;
    for creds in [fx.emu.add_pool(), fx.emu.add_owner()] {
        let other = Client::new(creds.config().unwrap()).unwrap();
        let (_, tokens) = sign_up(&other, "mallory").await;
        // A genuine token, valid where it was issued...
        assert!(other.decode(&tokens.access_token).is_ok());
        // ...and refused here: another pool signs with another secret.
        let answer = fetch(
            &fx.url("/user"),
            &[("authorization", &bearer(&tokens.access_token))],
        )
        .await;
        assert_invalid_token(&answer, DecodeError::BadSignature);
    }
}

async fn maybe_user(user: Option<StlockUser>) -> Json<Value> {
    Json(json!({ "user_id": user.map(|user| user.user_id().to_owned()) }))
}

async fn required_user(user: StlockUser) -> String {
    user.user_id().to_owned()
}

fn probe_routes() -> Router {
    Router::new()
        .route("/maybe", get(maybe_user))
        .route("/must", get(required_user))
}

#[tokio::test]
async fn optional_mode_lets_requests_without_a_token_through_without_a_user() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let base =
        serve(probe_routes().layer(StlockLayer::from_client(client.clone()).optional())).await;
    let (user, tokens) = sign_up(&client, "alice").await;

    let answer = fetch(&format!("{base}/maybe"), &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json, json!({ "user_id": null }));

    let answer = fetch(
        &format!("{base}/maybe"),
        &[("authorization", &bearer(&tokens.access_token))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json, json!({ "user_id": user.id }));

    // Present but invalid or malformed: still refused.
    let answer = fetch(
        &format!("{base}/maybe"),
        &[("authorization", "Bearer not-a-jwt")],
    )
    .await;
    assert_invalid_token(&answer, DecodeError::Malformed);
    let answer = fetch(
        &format!("{base}/maybe"),
        &[("authorization", &bearer(&tokens.refresh_token))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_malformed(
        &fetch(&format!("{base}/maybe"), &[("authorization", "Bearer")]).await,
        "the Bearer scheme is not followed by a token",
    );

    // A handler that requires a user refuses the anonymous request itself.
    assert_missing_token(&fetch(&format!("{base}/must"), &[]).await);
    let answer = fetch(
        &format!("{base}/must"),
        &[("authorization", &bearer(&tokens.access_token))],
    )
    .await;
    assert_eq!(
        (answer.status, answer.text.as_str()),
        (StatusCode::OK, user.id.as_str())
    );
}

#[tokio::test]
async fn extractors_without_the_layer_answer_500_naming_it() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (_, tokens) = sign_up(&client, "alice").await;
    let base = serve(probe_routes()).await;

    for path in ["/maybe", "/must"] {
        // Even a valid token does not help: nothing verified it.
        let answer = fetch(
            &format!("{base}{path}"),
            &[("authorization", &bearer(&tokens.access_token))],
        )
        .await;
        answer.assert_json_error(StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            answer.detail().contains("StlockLayer"),
            "{path}: {}",
            answer.text
        );
        assert_eq!(answer.header("www-authenticate"), None);
    }
}

#[tokio::test]
async fn a_custom_rejection_replaces_every_http_rejection_but_not_grpc_ones() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    // A closure, capturing what it needs.
    let prefix = String::from("no entry");
    let teapot = move |error: &AuthError| -> Response {
        (
            StatusCode::IM_A_TEAPOT,
            [("x-stlock-status", error.status().as_u16().to_string())],
            format!("{prefix}: {error}"),
        )
            .into_response()
    };
    let auth = StlockLayer::from_client(client.clone()).rejection(teapot.clone());
    let grants = GrantLayer::new(client.clone()).rejection(teapot);
    let base = serve(App::with_layers(auth, grants).router()).await;
    let (user, tokens) = sign_up(&client, "alice").await;
    let token = bearer(&tokens.access_token);

    let cases: [(&[(&str, &str)], AuthError); 3] = [
        (&[], missing_header_token()),
        (
            &[("authorization", "Bearer not-a-jwt")],
            AuthError::InvalidToken {
                origin: HEADER,
                reason: DecodeError::Malformed,
            },
        ),
        (
            &[("authorization", "Bearer")],
            AuthError::MalformedCredentials {
                origin: HEADER,
                reason: "the Bearer scheme is not followed by a token",
            },
        ),
    ];
    for (headers, error) in cases {
        let answer = fetch(&format!("{base}/user"), headers).await;
        assert_eq!(answer.status, StatusCode::IM_A_TEAPOT, "{}", answer.text);
        assert_eq!(answer.text, format!("no entry: {error}"));
        assert_eq!(
            answer.header("x-stlock-status"),
            Some(error.status().as_str())
        );
        assert_eq!(answer.header("www-authenticate"), None);
    }
    assert_eq!(
        fetch(&format!("{base}/user"), &[("authorization", &token)])
            .await
            .json["sub"],
        user.id
    );

    // The grant layer has the same handler: a denial is a teapot too.
    let answer = fetch(&format!("{base}/orders/1"), &[("authorization", &token)]).await;
    assert_eq!(answer.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(
        answer.text,
        format!("no entry: {}", AuthError::GrantDenied { origin: HEADER })
    );
    assert_eq!(answer.header("x-stlock-status"), Some("403"));
    // And an allowed call goes through.
    let id = policy(&emu, Rule::allow(["GET"], ["/orders/*"]));
    emu.attach_policy(&emu.credentials().user_pool_id, &user.id, &id)
        .unwrap();
    let answer = fetch(&format!("{base}/orders/2"), &[("authorization", &token)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // A gRPC client cannot read a teapot: gRPC requests keep their trailers-only status.
    let answer = fetch(
        &format!("{base}/user"),
        &[("content-type", "application/grpc")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/grpc"));
    assert_eq!(answer.header("grpc-status"), Some("16"));
    assert!(answer
        .header("grpc-message")
        .is_some_and(|m| m.starts_with("authentication required")));
    assert_eq!(answer.text, "");
}

#[tokio::test]
async fn the_seed_flow_through_the_app() {
    let fx = Fixture::new(|layer| layer).await;
    let http = http();
    let post = |path: &str, body: Value| http.post(fx.url(path)).json(&body).send();

    // register: 201 and the user object
    let registration = json!({
        "username": "test", "email": "test@gmail.com", "phone": "79111111111", "password": "test"
    });
    let answer = Answer::read(post("/register", registration.clone()).await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    let user: stlock::User = serde_json::from_value(answer.json.clone()).unwrap();
    assert_eq!(
        (user.username.as_str(), user.email.as_str()),
        ("test", "test@gmail.com")
    );
    assert_eq!(user.user_pool_id, fx.emu.credentials().user_pool_id);
    assert_eq!(fx.emu.user(&user.user_pool_id, &user.id).unwrap(), user);
    assert!(answer.json.get("password").is_none());

    // the service's own errors keep their status and detail
    let answer = Answer::read(post("/register", registration).await.unwrap()).await;
    answer.assert_json_error(StatusCode::CONFLICT);
    assert!(answer.detail().contains("username"), "{}", answer.text);
    let answer = Answer::read(
        post("/login", json!({"username": "test", "password": "nope"}))
            .await
            .unwrap(),
    )
    .await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    let direct = fx.client.login("test", "nope").await.unwrap_err();
    assert_eq!(
        Some(answer.detail()),
        direct.service_error().unwrap().detail()
    );

    // login: a pair whose access token opens /user
    let answer = Answer::read(
        post("/login", json!({"username": "test", "password": "test"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let pair: stlock::TokenPair = serde_json::from_value(answer.json).unwrap();
    let me = fetch(
        &fx.url("/user"),
        &[("authorization", &bearer(&pair.access_token))],
    )
    .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json["sub"], user.id);
    assert_eq!(me.json["type"], "ACCESS");

    // refresh: a new pair, and the new access token works
    let answer = Answer::read(
        post("/refresh", json!({"refresh_token": pair.refresh_token}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let rotated: stlock::TokenPair = serde_json::from_value(answer.json).unwrap();
    assert_ne!(rotated.refresh_token, pair.refresh_token);
    assert_ne!(rotated.access_token, pair.access_token);
    let me = fetch(
        &fx.url("/user"),
        &[("authorization", &bearer(&rotated.access_token))],
    )
    .await;
    assert_eq!(me.json["sub"], user.id);

    // logout, then the refresh token is refused with the service's status and detail
    let answer = Answer::read(
        post("/logout", json!({"refresh_token": rotated.refresh_token}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let answer = Answer::read(
        post("/refresh", json!({"refresh_token": rotated.refresh_token}))
            .await
            .unwrap(),
    )
    .await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    let direct = fx.client.refresh(&rotated.refresh_token).await.unwrap_err();
    assert_eq!(direct.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(
        Some(answer.detail()),
        direct.service_error().unwrap().detail()
    );
}

#[tokio::test]
async fn bad_input_is_a_json_4xx_never_a_500() {
    let fx = Fixture::new(|layer| layer).await;
    let http = http();
    let send = |path: &str, content_type: Option<&str>, body: &str| {
        let mut request = http.post(fx.url(path)).body(body.to_owned());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let json = Some("application/json");
    let cases = [
        (
            "/register",
            None,
            r#"{"username":"a"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/login",
            Some("text/plain"),
            r#"{"username":"a","password":"b"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("/login", json, "{", StatusCode::BAD_REQUEST),
        ("/login", json, "", StatusCode::BAD_REQUEST),
        (
            "/login",
            json,
            r#"{"username":"a"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/login",
            json,
            r#"{"username":1,"password":"b"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/login",
            json,
            r#"{"username":"","password":"b"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/register",
            json,
            r#"{"username":"a","email":"a@b.c","phone":"7","password":" "}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/refresh", json, r#"{}"#, StatusCode::UNPROCESSABLE_ENTITY),
        (
            "/refresh",
            json,
            r#"{"refresh_token":""}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/refresh",
            json,
            r#"{"refresh_token":"not a jwt"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/logout",
            json,
            r#"{"refresh_token":"a\nb"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/logout",
            json,
            r#"[1,2]"#,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (path, content_type, body, status) in cases {
        let answer = Answer::read(send(path, content_type, body).await.unwrap()).await;
        assert_eq!(answer.status, status, "{path} {body}: {}", answer.text);
        answer.assert_json_error(status);
    }
    // A token-shaped refresh token the service does not know: the service's 401, passed on.
    let answer = Answer::read(
        send("/refresh", json, r#"{"refresh_token":"a.b.c"}"#)
            .await
            .unwrap(),
    )
    .await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
}

/// A token with these claims and `alg: none`: no signature at all.
pub fn unsigned(claims: &Value) -> String {
    let b64 = |value: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
    };
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}
