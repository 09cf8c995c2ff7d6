//! Rotating a pool's signing secret: new tokens are signed with the new secret, tokens signed
//! with an earlier one stay valid at the emulator until they expire.

use std::time::Duration;

use crate::support::{fast_emulator, read, Answer, Wire};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stlock::{Secret, TokenDecoder};
use stlock_emulator::{AdminError, Credentials, Emulator};

const NEW_SECRET: &str = "0123456789abcdef0123456789abcdef-rotated-secret";

fn jwt_secret_path(pool: &str) -> String {
    format!("/api/v0/admin/pools/{pool}/jwt-secret")
}

async fn put_secret(wire: &Wire, body: Value) -> Answer {
    let path = jwt_secret_path(&wire.creds.user_pool_id);
    wire.send(Method::PUT, &path, None, Some(body.to_string()))
        .await
}

/// A decoder that knows only `secret`, as an app configured with it alone.
fn decoder(emu: &Emulator, secret: &str) -> TokenDecoder {
    let creds = Credentials {
        jwt_secret: Secret::new(secret),
        ..emu.credentials().clone()
    };
    TokenDecoder::new(&creds.config().expect("a valid configuration"))
}

fn token(answer: &Answer, name: &str) -> String {
    answer.assert_ok(StatusCode::OK)[name]
        .as_str()
        .expect("a token")
        .to_owned()
}

#[tokio::test]
async fn rotating_over_http_signs_new_tokens_with_the_new_secret_and_keeps_old_ones_valid() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let old_secret = emu.credentials().jwt_secret.expose().to_owned();
    wire.register_named("alice", "79111111111").await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    let (_, other_session) = wire.tokens("alice", "test").await;

    let rotated = put_secret(&wire, json!({ "jwt_secret": NEW_SECRET })).await;
    assert_eq!(
        rotated.assert_ok(StatusCode::OK).clone(),
        json!({"detail": "jwt secret rotated"})
    );
    assert_eq!(rotated.content_type.as_deref(), Some("application/json"));

    // Tokens signed with the old secret still work: grant check, refresh, logout.
    assert!(!wire.allowed(&access, "GET", "/orders/1").await);
    let refreshed = wire.refresh(&refresh).await;
    let (new_access, new_refresh) = (
        token(&refreshed, "access_token"),
        token(&refreshed, "refresh_token"),
    );
    wire.logout(&other_session).await.assert_ok(StatusCode::OK);

    // The new pair is signed with the new secret, not the old one.
    let new = decoder(&emu, NEW_SECRET);
    let old = decoder(&emu, &old_secret);
    assert!(new.decode_access(&new_access).is_ok());
    assert!(old.decode_access(&new_access).is_err());
    assert!(new.decode_refresh(&new_refresh).is_ok());
    assert!(old.decode_refresh(&new_refresh).is_err());
    // And so is a pair from a new login; the pre-rotation access token is the old secret's.
    let (login_access, _) = wire.tokens("alice", "test").await;
    assert!(new.decode_access(&login_access).is_ok());
    assert!(old.decode_access(&login_access).is_err());
    assert!(old.decode_access(&access).is_ok());
    assert!(new.decode_access(&access).is_err());

    // The new pair works at the emulator too.
    assert!(!wire.allowed(&new_access, "GET", "/orders/1").await);
    wire.refresh(&new_refresh).await.assert_ok(StatusCode::OK);
}

#[tokio::test]
async fn rotating_from_rust_keeps_every_earlier_secrets_tokens_until_they_expire() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let pool = emu.credentials().user_pool_id.clone();
    let first_secret = emu.credentials().jwt_secret.expose().to_owned();
    wire.register_named("alice", "79111111111").await;
    let (first_access, first_refresh) = wire.tokens("alice", "test").await;
    let (_, first_logout) = wire.tokens("alice", "test").await;

    emu.rotate_jwt_secret(&pool, Secret::new("a".repeat(32)))
        .expect("rotated");
    let (second_access, second_refresh) = wire.tokens("alice", "test").await;
    assert!(decoder(&emu, &"a".repeat(32))
        .decode_access(&second_access)
        .is_ok());
    emu.rotate_jwt_secret(&pool, Secret::new(NEW_SECRET))
        .expect("rotated again");

    // Tokens of both earlier secrets still work; each refresh is signed with the newest one.
    assert!(!wire.allowed(&first_access, "GET", "/").await);
    assert!(!wire.allowed(&second_access, "GET", "/").await);
    for refresh in [&first_refresh, &second_refresh] {
        let refreshed = wire.refresh(refresh).await;
        let access = token(&refreshed, "access_token");
        assert!(decoder(&emu, NEW_SECRET).decode_access(&access).is_ok());
        assert!(decoder(&emu, &"a".repeat(32))
            .decode_access(&access)
            .is_err());
    }
    wire.logout(&first_logout).await.assert_ok(StatusCode::OK);

    // The handle's credentials keep the secret the pool started with.
    assert_eq!(emu.credentials().jwt_secret.expose(), first_secret);
}

#[tokio::test]
async fn a_retired_secret_is_dropped_once_its_tokens_have_all_expired() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let pool = emu.credentials().user_pool_id.clone();
    wire.register_named("alice", "79111111111").await;
    let (_, refresh) = wire.tokens("alice", "test").await;
    emu.rotate_jwt_secret(&pool, Secret::new("a".repeat(32)))
        .unwrap();

    // A refresh lifetime later the token has expired, and its secret is still known...
    emu.advance_clock(Duration::from_secs(3600));
    let expired = wire.refresh(&refresh).await;
    assert_eq!(
        expired.assert_error(StatusCode::UNAUTHORIZED),
        "the token has expired"
    );
    // ...until the next rotation drops it: its tokens no longer verify at all.
    emu.rotate_jwt_secret(&pool, Secret::new(NEW_SECRET))
        .unwrap();
    let unknown = wire.refresh(&refresh).await;
    assert_eq!(
        unknown.assert_error(StatusCode::UNAUTHORIZED),
        "the token is not valid"
    );
}

#[tokio::test]
async fn a_short_or_missing_secret_is_422_and_changes_nothing() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let old_secret = emu.credentials().jwt_secret.expose().to_owned();
    wire.register_named("alice", "79111111111").await;

    let short = put_secret(&wire, json!({ "jwt_secret": "x".repeat(31) })).await;
    assert_eq!(
        short.assert_error(StatusCode::UNPROCESSABLE_ENTITY),
        "jwt_secret must be at least 32 bytes"
    );
    for (body, detail) in [
        (json!({}), "field `jwt_secret` is required"),
        (
            json!({ "jwt_secret": 42 }),
            "field `jwt_secret` must be a string",
        ),
        (
            json!([NEW_SECRET]),
            "the request body must be a JSON object",
        ),
    ] {
        let answer = put_secret(&wire, body).await;
        assert_eq!(
            answer.assert_error(StatusCode::UNPROCESSABLE_ENTITY),
            detail
        );
    }
    // Strict JSON, as every body: a key twice is refused, not read as its last value.
    let path = jwt_secret_path(&emu.credentials().user_pool_id);
    let twice = format!(
        r#"{{"jwt_secret": "{}", "jwt_secret": "{NEW_SECRET}"}}"#,
        "x".repeat(8)
    );
    let answer = wire.send(Method::PUT, &path, None, Some(twice)).await;
    assert!(answer
        .assert_error(StatusCode::BAD_REQUEST)
        .contains("duplicate key `jwt_secret`"));

    assert_eq!(
        emu.rotate_jwt_secret(&emu.credentials().user_pool_id, Secret::new("x".repeat(31))),
        Err(AdminError::JwtSecretTooShort)
    );

    // Nothing was rotated: tokens are still signed with the pool's first secret.
    let (access, _) = wire.tokens("alice", "test").await;
    assert!(decoder(&emu, &old_secret).decode_access(&access).is_ok());
    // 32 bytes is enough.
    put_secret(&wire, json!({ "jwt_secret": "x".repeat(32) }))
        .await
        .assert_ok(StatusCode::OK);
    let (access, _) = wire.tokens("alice", "test").await;
    assert!(decoder(&emu, &"x".repeat(32))
        .decode_access(&access)
        .is_ok());
}

#[tokio::test]
async fn an_unknown_or_foreign_pool_is_404() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let body = json!({ "jwt_secret": NEW_SECRET });

    let mut unknown_pool = wire.clone();
    unknown_pool.creds.user_pool_id = uuid::Uuid::new_v4().to_string();
    let answer = put_secret(&unknown_pool, body.clone()).await;
    assert_eq!(
        answer.assert_error(StatusCode::NOT_FOUND),
        "user pool not found"
    );
    // The pool is checked before the secret's length.
    let answer = put_secret(&unknown_pool, json!({ "jwt_secret": "short" })).await;
    assert_eq!(
        answer.assert_error(StatusCode::NOT_FOUND),
        "user pool not found"
    );
    assert_eq!(
        emu.rotate_jwt_secret(&unknown_pool.creds.user_pool_id, Secret::new(NEW_SECRET)),
        Err(AdminError::UnknownPool)
    );

    // Another owner's pool is not found either, and keeps its secret.
    let mut other_owner = wire.clone();
    other_owner.creds.api_key = emu.add_owner().api_key;
    let answer = put_secret(&other_owner, body).await;
    assert_eq!(
        answer.assert_error(StatusCode::NOT_FOUND),
        "user pool not found"
    );
    assert_pool_keeps_its_secret(&emu, &wire).await;
}

#[tokio::test]
async fn rotating_needs_the_owners_key() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let path = jwt_secret_path(&emu.credentials().user_pool_id);
    let body = json!({ "jwt_secret": NEW_SECRET }).to_string();

    let no_key = wire
        .http
        .put(wire.url(&path))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(no_key).await.assert_error(StatusCode::UNAUTHORIZED),
        "the x-api-key header is missing"
    );
    let mut wrong_key = wire.clone();
    wrong_key.creds.api_key = "stl_wrong".into();
    let answer = wrong_key.send(Method::PUT, &path, None, Some(body)).await;
    assert_eq!(
        answer.assert_error(StatusCode::UNAUTHORIZED),
        "the API key is not valid"
    );
    assert_pool_keeps_its_secret(&emu, &wire).await;
    // The same call with the owner's key is accepted.
    put_secret(&wire, json!({ "jwt_secret": NEW_SECRET }))
        .await
        .assert_ok(StatusCode::OK);
}

/// A login on `wire`'s pool is still signed with the pool's first secret.
async fn assert_pool_keeps_its_secret(emu: &Emulator, wire: &Wire) {
    let name = format!("u{}", uuid::Uuid::new_v4().simple());
    wire.register(&name, &format!("{name}@example.com"), "79333333333", "test")
        .await
        .assert_ok(StatusCode::CREATED);
    let (access, _) = wire.tokens(&name, "test").await;
    let first = emu.credentials().jwt_secret.expose().to_owned();
    assert!(decoder(emu, &first).decode_access(&access).is_ok());
}
