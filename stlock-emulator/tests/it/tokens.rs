//! Tokens issued by the emulator: their exact shape, lifetimes, rotation and revocation.

use std::time::Duration;

use crate::support::{fast_emulator, join_all, Wire};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stlock::token::AUDIENCE;
use stlock::{TokenDecoder, TokenType};
use stlock_emulator::{Emulator, HashCost};

fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("three segments");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

async fn alice(emu: &Emulator) -> (Wire, Value) {
    let wire = Wire::new(emu.credentials());
    let user = wire.register_named("alice", "79111111111").await;
    (wire, user)
}

#[tokio::test]
async fn tokens_have_the_services_header_and_claims() {
    let emu = fast_emulator().await;
    let (wire, user) = alice(&emu).await;
    let (access, refresh) = wire.tokens("alice", "test").await;

    for token in [&access, &refresh] {
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&header).unwrap(),
            r#"{"typ":"JWT","alg":"HS256"}"#
        );
        let claims = segment(token, 1);
        let mut names: Vec<&str> = claims
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "aud",
                "exp",
                "iat",
                "jti",
                "owner_sub",
                "sub",
                "type",
                "user_pool_sub"
            ]
        );
    }

    let decoder = TokenDecoder::new(&emu.config());
    let claims = decoder
        .decode_access(&access)
        .expect("verifies with the pool secret");
    assert_eq!(claims.token_type, TokenType::Access);
    assert_eq!(claims.aud, AUDIENCE);
    assert_eq!(claims.sub, user["id"].as_str().unwrap());
    assert_eq!(claims.owner_sub, emu.credentials().owner_id);
    assert_eq!(claims.user_pool_sub, emu.credentials().user_pool_id);
    assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
    assert_eq!(claims.exp - claims.iat, 600);

    let refresh_claims = decoder.decode_refresh(&refresh).unwrap();
    assert_eq!(refresh_claims.exp - refresh_claims.iat, 3600);
    assert_ne!(refresh_claims.jti, claims.jti);
}

#[tokio::test]
async fn lifetimes_can_be_configured() {
    let emu = Emulator::builder()
        .hash_cost(HashCost::Fast)
        .access_ttl(Duration::from_secs(30))
        .refresh_ttl(Duration::from_secs(90))
        .start()
        .await
        .unwrap();
    let (wire, _) = alice(&emu).await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    let decoder = TokenDecoder::new(&emu.config());
    let access = decoder.decode_access(&access).unwrap();
    let refresh = decoder.decode_refresh(&refresh).unwrap();
    assert_eq!(
        (access.exp - access.iat, refresh.exp - refresh.iat),
        (30, 90)
    );

    let too_short = Emulator::builder()
        .access_ttl(Duration::from_millis(500))
        .start()
        .await;
    assert!(matches!(
        too_short,
        Err(stlock_emulator::EmulatorError::TtlTooShort { which: "access" })
    ));
}

#[tokio::test]
async fn the_two_token_types_are_never_interchangeable() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    let expected_refresh = "expected a refresh token";
    let answer = wire.refresh(&access).await;
    assert_eq!(
        answer.assert_error(StatusCode::UNAUTHORIZED),
        expected_refresh
    );
    let answer = wire.logout(&access).await;
    assert_eq!(
        answer.assert_error(StatusCode::UNAUTHORIZED),
        expected_refresh
    );
    let answer = wire.grant(&refresh, "GET", "/").await;
    assert_eq!(
        answer.assert_error(StatusCode::UNAUTHORIZED),
        "expected an access token"
    );
    // Neither attempt used anything up.
    wire.grant(&access, "GET", "/")
        .await
        .assert_ok(StatusCode::OK);
    wire.refresh(&refresh).await.assert_ok(StatusCode::OK);
}

#[tokio::test]
async fn forged_tampered_and_foreign_tokens_are_refused() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    let (access, _) = wire.tokens("alice", "test").await;

    // Another pool of the same owner signs with its own secret.
    let other_pool = Wire::new(&emu.add_pool());
    other_pool.register_named("alice", "79111111111").await;
    let (foreign_access, _) = other_pool.tokens("alice", "test").await;
    assert!(TokenDecoder::new(&emu.config())
        .decode_access(&foreign_access)
        .is_err());

    let mut parts: Vec<String> = access.split('.').map(str::to_owned).collect();
    let mut claims = segment(&access, 1);
    claims["sub"] = json!(uuid::Uuid::new_v4().to_string());
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = parts.join(".");
    for token in [
        tampered.as_str(),
        "not-a-jwt",
        "a.b.c",
        &format!("{access}x"),
    ] {
        wire.grant(token, "GET", "/")
            .await
            .assert_error(StatusCode::UNAUTHORIZED);
    }

    // A valid token shown with another owner's API key: forbidden.
    let mut other_owner = wire.clone();
    other_owner.creds.api_key = emu.add_owner().api_key;
    other_owner
        .grant(&access, "GET", "/")
        .await
        .assert_error(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_token_revokes_the_whole_sign_in() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    let (access1, refresh1) = wire.tokens("alice", "test").await;
    let (_, other_session_refresh) = wire.tokens("alice", "test").await;

    let second = wire.refresh(&refresh1).await;
    let second = second.assert_ok(StatusCode::OK);
    let (access2, refresh2) = (
        second["access_token"].as_str().unwrap(),
        second["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(refresh2, refresh1);
    assert_ne!(access2, access1);
    wire.grant(access2, "GET", "/")
        .await
        .assert_ok(StatusCode::OK);
    // The previous access token lives on until it expires.
    wire.grant(&access1, "GET", "/")
        .await
        .assert_ok(StatusCode::OK);

    // Replay of the rotated token: refused, and the whole family goes.
    let replay = wire.refresh(&refresh1).await;
    assert!(replay
        .assert_error(StatusCode::UNAUTHORIZED)
        .contains("already used"));
    wire.refresh(refresh2)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.grant(access2, "GET", "/")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.grant(&access1, "GET", "/")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    // Another sign-in of the same user is untouched.
    wire.refresh(&other_session_refresh)
        .await
        .assert_ok(StatusCode::OK);
}

#[tokio::test]
async fn logout_answers_json_and_revokes_the_sign_in() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    let answer = wire.logout(&refresh).await;
    assert!(answer.assert_ok(StatusCode::OK)["detail"].is_string());
    wire.refresh(&refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.logout(&refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.grant(&access, "GET", "/")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.tokens("alice", "test").await;
}

#[tokio::test]
async fn password_change_revokes_every_session() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    let (other_access, other_refresh) = wire.tokens("alice", "test").await;
    wire.patch(
        &access,
        "password",
        json!({"old_password": "test", "new_password": "n3w-pass"}),
    )
    .await
    .assert_ok(StatusCode::OK);
    for refresh in [&refresh, &other_refresh] {
        wire.refresh(refresh)
            .await
            .assert_error(StatusCode::UNAUTHORIZED);
    }
    for access in [&access, &other_access] {
        wire.grant(access, "GET", "/")
            .await
            .assert_error(StatusCode::UNAUTHORIZED);
    }
    wire.login("alice", "test")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    let (fresh, _) = wire.tokens("alice", "n3w-pass").await;
    wire.grant(&fresh, "GET", "/")
        .await
        .assert_ok(StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uses_of_one_refresh_token_have_exactly_one_winner() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    for _ in 0..3 {
        let (_, refresh) = wire.tokens("alice", "test").await;
        let attempts = (0..8).map(|_| {
            let (wire, refresh) = (wire.clone(), refresh.clone());
            tokio::spawn(async move { wire.refresh(&refresh).await.status })
        });
        let statuses = join_all(attempts).await;
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "{statuses:?}"
        );
        assert!(statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED));
    }
}

#[tokio::test]
async fn tokens_expire_by_the_emulators_clock() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    let (access, refresh) = wire.tokens("alice", "test").await;

    emu.advance_clock(Duration::from_secs(599));
    wire.grant(&access, "GET", "/")
        .await
        .assert_ok(StatusCode::OK);
    emu.advance_clock(Duration::from_secs(1));
    let expired = wire.grant(&access, "GET", "/").await;
    assert!(expired
        .assert_error(StatusCode::UNAUTHORIZED)
        .contains("expired"));

    // 3500 s after login: the refresh token (3600 s) still works.
    emu.advance_clock(Duration::from_secs(2900));
    let answer = wire.refresh(&refresh).await;
    let pair = answer.assert_ok(StatusCode::OK);
    let new_refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    // New tokens are issued at the emulator's time.
    let iat = segment(&new_refresh, 1)["iat"].as_u64().unwrap();
    let old_iat = segment(&refresh, 1)["iat"].as_u64().unwrap();
    assert!(iat >= old_iat + 3500, "{iat} vs {old_iat}");

    emu.advance_clock(Duration::from_secs(3601));
    wire.refresh(&new_refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleted_users_tokens_stop_working() {
    let emu = fast_emulator().await;
    let (wire, user) = alice(&emu).await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    emu.delete_user(
        user["user_pool_id"].as_str().unwrap(),
        user["id"].as_str().unwrap(),
    )
    .unwrap();
    wire.grant(&access, "GET", "/")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.refresh(&refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.login("alice", "test")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    // The name, e-mail and phone are free again.
    wire.register_named("alice", "79111111111").await;
}

#[tokio::test]
async fn token_endpoints_need_the_api_key_too() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    let (_, refresh) = wire.tokens("alice", "test").await;
    let response = wire
        .http
        .get(wire.url("/api/v0/users/refresh"))
        .header("authorization", format!("bearer {refresh}"))
        .send()
        .await
        .unwrap();
    crate::support::read(response)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    let no_token = wire
        .send(Method::GET, "/api/v0/users/refresh", None, None)
        .await;
    no_token.assert_error(StatusCode::UNAUTHORIZED);
    // Neither attempt used the token up.
    wire.refresh(&refresh).await.assert_ok(StatusCode::OK);
}

#[tokio::test]
async fn head_on_refresh_is_405_and_uses_nothing_up() {
    let emu = fast_emulator().await;
    let (wire, _) = alice(&emu).await;
    let (_, refresh) = wire.tokens("alice", "test").await;
    let head = wire
        .http
        .head(wire.url("/api/v0/users/refresh"))
        .header("x-api-key", emu.credentials().api_key.expose())
        .header("authorization", format!("bearer {refresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(head.headers()["allow"], "GET");
    // A HEAD answer has no body; the headers are those of the JSON one a GET would get.
    assert_eq!(head.headers()["content-type"], "application/json");

    // The token is still the session's newest: a GET rotates it, with no reuse detected.
    let rotated = wire.refresh(&refresh).await;
    let next = rotated.assert_ok(StatusCode::OK)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    wire.refresh(&next).await.assert_ok(StatusCode::OK);
}

/// The answers a client reads to decide whether a sign-in has ended, each with its exact
/// status and detail: clients classify them by these texts.
#[tokio::test]
async fn refresh_answers_why_a_sign_in_cannot_go_on_in_exact_words() {
    let emu = fast_emulator().await;
    let (wire, user) = alice(&emu).await;
    let refresh_path = "/api/v0/users/refresh";

    // The API key: missing, not valid, another owner's.
    let (_, refresh) = wire.tokens("alice", "test").await;
    let bearer = format!("bearer {refresh}");
    let missing = wire
        .send_without_key(Method::GET, refresh_path, Some(&bearer))
        .await;
    assert_eq!(
        missing.assert_error(StatusCode::UNAUTHORIZED),
        "the x-api-key header is missing"
    );
    let mut wrong_key = wire.clone();
    wrong_key.creds.api_key = stlock::Secret::new("stl_not-a-key");
    assert_eq!(
        wrong_key
            .refresh(&refresh)
            .await
            .assert_error(StatusCode::UNAUTHORIZED),
        "the API key is not valid"
    );
    let mut other_owner = wire.clone();
    other_owner.creds.api_key = emu.add_owner().api_key;
    assert_eq!(
        other_owner
            .refresh(&refresh)
            .await
            .assert_error(StatusCode::FORBIDDEN),
        "the API key belongs to another owner"
    );

    // Blocked through the admin API: 403, and the token is not used up.
    let user_path = format!(
        "/api/v0/admin/pools/{}/users/{}",
        emu.credentials().user_pool_id,
        user["id"].as_str().unwrap()
    );
    let block = |action: &'static str| {
        let (wire, path) = (wire.clone(), format!("{user_path}/{action}"));
        async move { wire.send(Method::POST, &path, None, None).await }
    };
    block("block").await.assert_ok(StatusCode::OK);
    assert_eq!(
        wire.refresh(&refresh)
            .await
            .assert_error(StatusCode::FORBIDDEN),
        "the user is blocked"
    );
    block("unblock").await.assert_ok(StatusCode::OK);

    // Reused: an older refresh token of the sign-in ends it, and then every token of it is
    // revoked, the newest included.
    let rotated = wire.refresh(&refresh).await;
    let newest = rotated.assert_ok(StatusCode::OK)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        wire.refresh(&refresh)
            .await
            .assert_error(StatusCode::UNAUTHORIZED),
        "the refresh token was already used; every token of that sign-in is now revoked"
    );
    assert_eq!(
        wire.refresh(&newest)
            .await
            .assert_error(StatusCode::UNAUTHORIZED),
        "the token has been revoked"
    );

    // Logged out.
    let (_, refresh) = wire.tokens("alice", "test").await;
    wire.logout(&refresh).await.assert_ok(StatusCode::OK);
    assert_eq!(
        wire.refresh(&refresh)
            .await
            .assert_error(StatusCode::UNAUTHORIZED),
        "the token has been revoked"
    );

    // Expired, by the emulator's clock.
    let (_, refresh) = wire.tokens("alice", "test").await;
    emu.advance_clock(Duration::from_secs(3600));
    assert_eq!(
        wire.refresh(&refresh)
            .await
            .assert_error(StatusCode::UNAUTHORIZED),
        "the token has expired"
    );
}
