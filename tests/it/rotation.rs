//! Rotating the pool's secret, as the README's runbook has it, with sessions alive on both sides
//! of the rotation: app replicas configured at each step serve the same users against the real
//! emulator, which rotates its secret in the middle. And the rotation done in the wrong order.

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use stlock::config::Config;
use stlock::refresh::AutoRefresh;
use stlock::{Client, Secret, StlockLayer};
use stlock_emulator::Emulator;
use tracing::Level;

use crate::refresh::{access_token_expiring, cookies, me, pair_set_by};
use crate::support::emulator::{emulator, sign_up};
use crate::support::forge::now;
use crate::support::http::{http, serve, Answer};
use crate::support::logs::Capture;

const NEW_SECRET: &str = "a-new-pool-secret-of-at-least-32-bytes";

/// A replica of the app: `GET /me` behind a layer with cookie-mode auto-refresh, verifying with
/// `secret` and accepting `extra` too.
async fn replica(emu: &Emulator, secret: &str, extra: &[&str]) -> String {
    let credentials = emu.credentials();
    let config = Config::builder()
        .endpoint(&credentials.endpoint)
        .user_pool_id(&credentials.user_pool_id)
        .owner_id(&credentials.owner_id)
        .api_key(credentials.api_key.clone())
        .jwt_secret(secret)
        .extra_jwt_secrets(extra.iter().copied())
        .build()
        .unwrap();
    let auth = StlockLayer::new(config)
        .unwrap()
        .auto_refresh(AutoRefresh::cookies().build().unwrap());
    serve(Router::new().route("/me", get(me)).route_layer(auth)).await
}

async fn me_with_bearer(base: &str, access_token: &str) -> Answer {
    let request = http().get(format!("{base}/me")).bearer_auth(access_token);
    Answer::read(request.send().await.unwrap()).await
}

async fn me_with_cookies(base: &str, access_token: &str, refresh_token: &str) -> Answer {
    let (name, value) = cookies(access_token, refresh_token);
    let request = http().get(format!("{base}/me")).header(name, value);
    Answer::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn the_runbook_rotates_the_secret_without_signing_anyone_out() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let old_secret = emu.credentials().jwt_secret.expose().to_owned();
    let (alice, before) = sign_up(&client, "alice").await;

    // Step 1: every replica also accepts the new secret; tokens are still signed with the old.
    let step1 = replica(&emu, &old_secret, &[NEW_SECRET]).await;
    let answer = me_with_bearer(&step1, &before.access_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // Step 2: the service rotates. New sign-ins get tokens of the new secret; the old tokens
    // stay valid everywhere.
    emu.rotate_jwt_secret(
        &emu.credentials().user_pool_id,
        Secret::from(NEW_SECRET.to_owned()),
    )
    .unwrap();
    let (bob, after) = sign_up(&client, "bob").await;
    for token in [&before.access_token, &after.access_token] {
        let answer = me_with_bearer(&step1, token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    // Alice's access token expires: her refresh token, of the old secret, is renewed into a
    // pair of the new one, which the replica accepts.
    let expired = access_token_expiring(&emu, &alice, now() - 60);
    let renewed = me_with_cookies(&step1, &expired, &before.refresh_token).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    assert_eq!(renewed.text, alice.id);
    let renewed = pair_set_by(&renewed);
    assert!(
        Client::new(emu.config())
            .unwrap()
            .decode(&renewed.access_token)
            .is_err(),
        "the renewed pair is signed with the new secret, not the old"
    );

    // Step 3: the new secret first, the old one still accepted.
    let step3 = replica(&emu, NEW_SECRET, &[&old_secret]).await;
    for (token, user) in [
        (&before.access_token, &alice),
        (&renewed.access_token, &alice),
        (&after.access_token, &bob),
    ] {
        let answer = me_with_bearer(&step3, token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.text, user.id);
    }

    // Once the old tokens have expired, the old secret goes: its tokens are refused, the new
    // ones are not.
    let step4 = replica(&emu, NEW_SECRET, &[]).await;
    let refused = me_with_bearer(&step4, &before.access_token).await;
    refused.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.detail(),
        "invalid access token: the token's signature is invalid"
    );
    for token in [&renewed.access_token, &after.access_token] {
        let answer = me_with_bearer(&step4, token).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
}

#[tokio::test]
async fn a_rotation_in_the_wrong_order_keeps_the_session_and_says_so_at_error() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let old_secret = emu.credentials().jwt_secret.expose().to_owned();
    let (alice, pair) = sign_up(&client, "alice").await;
    let behind = replica(&emu, &old_secret, &[]).await;

    // The service rotates before the app accepts the new secret.
    emu.rotate_jwt_secret(
        &emu.credentials().user_pool_id,
        Secret::from(NEW_SECRET.to_owned()),
    )
    .unwrap();
    let expired = access_token_expiring(&emu, &alice, now() - 60);
    let log = Capture::start(Level::ERROR);
    let answer = me_with_cookies(&behind, &expired, &pair.refresh_token).await;
    answer.assert_json_error(StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers.contains_key("retry-after"));
    let logged = log.text();
    assert!(logged.contains("do not verify"), "{logged}");
    assert!(!logged.contains(&pair.refresh_token));
    // The pair the service issued for the spent refresh token reached the browser.
    let handed = pair_set_by(&answer);
    assert!(!logged.contains(&handed.refresh_token));

    // Once the app accepts the new secret, the session goes on with that pair.
    let caught_up = replica(&emu, &old_secret, &[NEW_SECRET]).await;
    let answer = me_with_cookies(&caught_up, &handed.access_token, &handed.refresh_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, alice.id);
    // And it is the session's live pair at the service.
    assert!(client.refresh(&handed.refresh_token).await.is_ok());
}
