//! Sessions that hold, against the real emulator: a refresh token presented without the access
//! token it was exchanged with gets nothing and ends the session at the service; a fault (a
//! firewall's page, a wrong API key) signs nobody out; a flood of other users' refreshes costs
//! no one their grace window; and the handler sees the renewed credentials.

use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use stlock::refresh::{AutoRefresh, InProcessStore, ACCESS_TOKEN_HEADER, REFRESH_TOKEN_HEADER};
use stlock::{Client, Config, StlockLayer, TokenPair, User};
use stlock_emulator::Emulator;
use tracing::Level;

use crate::refresh::{
    access_token_expiring, assert_cleared, cookies, me, pair_set_by, set_cookies, Fixture,
};
use crate::support::emulator::{emulator, sign_up};
use crate::support::forge::now;
use crate::support::http::{http, serve, Answer};
use crate::support::logs::Capture;
use crate::support::proxy::Proxy;

const LONG_GRACE: Duration = Duration::from_secs(600);

/// A client of `emu`'s pool through `endpoint`, with this API key.
pub fn client_through(emu: &Emulator, endpoint: &str, api_key: &str) -> Client {
    let creds = emu.credentials();
    let config = Config::builder()
        .endpoint(endpoint)
        .user_pool_id(creds.user_pool_id.as_str())
        .owner_id(creds.owner_id.as_str())
        .api_key(api_key)
        .jwt_secret(creds.jwt_secret.expose())
        .build()
        .unwrap();
    Client::new(config).unwrap()
}

#[tokio::test]
async fn a_stolen_refresh_cookie_with_another_access_token_of_the_user_gets_nothing_and_ends_the_session(
) {
    let fx = Fixture::new(AutoRefresh::cookies().grace(LONG_GRACE).build().unwrap()).await;
    let (user, old, expired) = fx.expired_session("alice").await;
    let victim = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    assert_eq!(victim.status, StatusCode::OK, "{}", victim.text);
    let new = pair_set_by(&victim);

    // Within the grace window, a copy of the old refresh cookie beside an access token of the
    // same user that is not the one the refresh came with (an older one).
    let older = access_token_expiring(&fx.emu, &user, now() - 120);
    let log = Capture::start(Level::WARN);
    let thief = fx.me(&[cookies(&older, &old.refresh_token)]).await;
    thief.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(thief.detail(), "the session has ended: sign in again");
    assert_cleared(&thief);
    assert!(!thief.text.contains(&new.access_token));
    let warned = log.text();
    assert!(
        warned.contains("suspects a stolen refresh token"),
        "{warned}"
    );
    assert!(!warned.contains(&old.refresh_token) && !warned.contains(&older));

    // The service's reuse detection ended the session the thief was after.
    assert!(fx.client.refresh(&new.refresh_token).await.is_err());
    // Told once: the thief trying again costs the service nothing more.
    let asked = fx.refreshes();
    let again = fx.me(&[cookies(&older, &old.refresh_token)]).await;
    again.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(fx.refreshes(), asked);
}

#[tokio::test]
async fn a_stolen_refresh_cookie_with_the_thiefs_own_access_token_gets_nothing_and_ends_the_session(
) {
    let fx = Fixture::new(AutoRefresh::cookies().grace(LONG_GRACE).build().unwrap()).await;
    let (_, old, expired) = fx.expired_session("alice").await;
    let new = pair_set_by(&fx.me(&[cookies(&expired, &old.refresh_token)]).await);
    let (_, _, mallory) = fx.expired_session("mallory").await;

    let thief = fx.me(&[cookies(&mallory, &old.refresh_token)]).await;
    thief.assert_json_error(StatusCode::UNAUTHORIZED);
    assert!(set_cookies(&thief)
        .iter()
        .all(|(_, value, _)| value.is_empty()));
    assert!(fx.client.refresh(&new.refresh_token).await.is_err());
}

#[tokio::test]
async fn a_service_without_reuse_detection_has_the_pair_it_hands_the_thief_signed_out() {
    let emu = emulator().await;
    let proxy = Proxy::start(emu.endpoint()).await;
    proxy.forgive_reuse(true);
    let client = Client::new(emu.config()).unwrap();
    let proxied = client_through(&emu, proxy.endpoint(), emu.credentials().api_key.expose());
    let refresh = AutoRefresh::cookies().grace(LONG_GRACE).build().unwrap();
    let auth = StlockLayer::from_client(proxied).auto_refresh(refresh);
    let fx = Fixture::serving(emu, client, auth).await;
    let (user, old, expired) = fx.expired_session("alice").await;
    let new = pair_set_by(&fx.me(&[cookies(&expired, &old.refresh_token)]).await);

    let older = access_token_expiring(&fx.emu, &user, now() - 120);
    let thief = fx.me(&[cookies(&older, &old.refresh_token)]).await;
    thief.assert_json_error(StatusCode::UNAUTHORIZED);
    // The service handed the old pair out again; the layer signed it out at once.
    assert!(fx.client.refresh(&new.refresh_token).await.is_err());
}

#[tokio::test]
async fn a_stolen_refresh_cookie_alone_gets_no_token_and_no_call_within_the_grace_window() {
    let fx = Fixture::new(AutoRefresh::cookies().grace(LONG_GRACE).build().unwrap()).await;
    let (user, old, expired) = fx.expired_session("alice").await;
    let new = pair_set_by(&fx.me(&[cookies(&expired, &old.refresh_token)]).await);
    let asked = fx.refreshes();

    let alone = (
        "cookie",
        format!("__Host-stlock_refresh={}", old.refresh_token),
    );
    let thief = fx.me(&[alone]).await;
    thief.assert_json_error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(thief.header("retry-after"), Some("5"));
    assert!(set_cookies(&thief).is_empty(), "cookies kept, none set");
    assert_eq!(fx.refreshes(), asked, "no call to the service");

    // The victim's session is untouched.
    let answer = fx
        .me(&[cookies(&new.access_token, &new.refresh_token)])
        .await;
    assert_eq!(answer.text, user.id);
    assert!(fx.client.refresh(&new.refresh_token).await.is_ok());
}

#[tokio::test]
async fn past_the_grace_window_a_stolen_refresh_cookie_alone_ends_the_session_at_the_service() {
    let fx = Fixture::new(
        AutoRefresh::cookies()
            .grace(Duration::ZERO)
            .build()
            .unwrap(),
    )
    .await;
    let (_, old, expired) = fx.expired_session("alice").await;
    let new = pair_set_by(&fx.me(&[cookies(&expired, &old.refresh_token)]).await);

    let alone = (
        "cookie",
        format!("__Host-stlock_refresh={}", old.refresh_token),
    );
    let log = Capture::start(Level::WARN);
    let thief = fx.me(&[alone]).await;
    thief.assert_json_error(StatusCode::UNAUTHORIZED);
    assert!(fx.client.refresh(&new.refresh_token).await.is_err());
    // The service's reuse detection is a security event an operator sees.
    let warned = log.text();
    assert!(warned.contains("already used"), "{warned}");
    assert!(!warned.contains(&old.refresh_token));
}

#[tokio::test]
async fn in_header_mode_the_whole_access_token_is_compared_not_its_subject() {
    let fx = Fixture::new(AutoRefresh::headers().grace(LONG_GRACE).build().unwrap()).await;
    let (user, old, expired) = fx.expired_session("alice").await;
    let headers = |access: &str| {
        [
            ("authorization", format!("Bearer {access}")),
            ("x-refresh-token", old.refresh_token.clone()),
        ]
    };
    let victim = fx.me(&headers(&expired)).await;
    assert_eq!(victim.status, StatusCode::OK, "{}", victim.text);
    let new_refresh = victim.header(REFRESH_TOKEN_HEADER).unwrap().to_owned();
    // The same client racing with the same pair gets the same answer.
    let late = fx.me(&headers(&expired)).await;
    assert_eq!(
        late.header(REFRESH_TOKEN_HEADER),
        Some(new_refresh.as_str())
    );

    // Same user, another (long expired) access token: no pair.
    let older = access_token_expiring(&fx.emu, &user, now() - 3000);
    let thief = fx.me(&headers(&older)).await;
    thief.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(thief.header(ACCESS_TOKEN_HEADER), None);
    assert_eq!(thief.header(REFRESH_TOKEN_HEADER), None);
    assert!(fx.client.refresh(&new_refresh).await.is_err());
}

#[tokio::test]
async fn a_firewall_answering_the_refresh_with_a_403_page_signs_nobody_out() {
    let emu = emulator().await;
    let proxy = Proxy::start(emu.endpoint()).await;
    proxy.block_refreshes(true);
    let client = Client::new(emu.config()).unwrap();
    let proxied = client_through(&emu, proxy.endpoint(), emu.credentials().api_key.expose());
    let auth =
        StlockLayer::from_client(proxied).auto_refresh(AutoRefresh::cookies().build().unwrap());
    let fx = Fixture::serving(emu, client, auth).await;
    let (user, pair, past) = assert_fault_keeps_the_session(&fx, "403 Forbidden").await;

    // The firewall lets refreshes through again: the same session renews, its token unspent.
    proxy.block_refreshes(false);
    let answer = fx.me(&[cookies(&past, &pair.refresh_token)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, user.id);
    assert_ne!(pair_set_by(&answer), pair);
    assert_eq!(fx.refreshes(), 1);

    // A refresh succeeded: the firewall's next block is news again, logged once more.
    proxy.block_refreshes(true);
    let log = Capture::start(Level::ERROR);
    let (bob, bob_pair) = sign_up(&fx.client, "bob").await;
    let bob_past = access_token_expiring(&fx.emu, &bob, now() - 60);
    for _ in 0..2 {
        let answer = fx.me(&[cookies(&bob_past, &bob_pair.refresh_token)]).await;
        answer.assert_json_error(StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(log.text().matches("no session can be renewed").count(), 1);
}

#[tokio::test]
async fn a_wrong_api_key_is_a_configuration_fault_logged_once_not_a_sign_out() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let wrong = client_through(&emu, emu.endpoint(), "not-the-api-key");
    let auth =
        StlockLayer::from_client(wrong).auto_refresh(AutoRefresh::cookies().build().unwrap());
    let fx = Fixture::serving(emu, client.clone(), auth).await;
    let (user, pair, past) = assert_fault_keeps_the_session(&fx, "API key").await;

    // Fixed: the app with the right key renews the very same session, its token unspent.
    let right =
        StlockLayer::from_client(client).auto_refresh(AutoRefresh::cookies().build().unwrap());
    let base = serve(Router::new().route("/me", get(me)).route_layer(right)).await;
    let (name, value) = cookies(&past, &pair.refresh_token);
    let request = http().get(format!("{base}/me")).header(name, value);
    let answer = Answer::read(request.send().await.unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, user.id);
    assert_ne!(pair_set_by(&answer), pair);
    assert_eq!(fx.refreshes(), 1);
}

/// With refreshes failing for `cause`: a token in its leeway goes on, one past it gets 503 with
/// `Retry-After`, no cookie is touched, nothing reaches the service, and the fault is logged at
/// ERROR once, however many requests meet it. Returns the session and its access token past the
/// leeway.
async fn assert_fault_keeps_the_session(fx: &Fixture, cause: &str) -> (User, TokenPair, String) {
    let (user, pair) = sign_up(&fx.client, "alice").await;
    let in_leeway = access_token_expiring(&fx.emu, &user, now() - 5);
    let past = access_token_expiring(&fx.emu, &user, now() - 60);
    let log = Capture::start(Level::ERROR);

    let answer = fx.me(&[cookies(&in_leeway, &pair.refresh_token)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, user.id);
    assert!(set_cookies(&answer).is_empty());
    for _ in 0..3 {
        let answer = fx.me(&[cookies(&past, &pair.refresh_token)]).await;
        answer.assert_json_error(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.header("retry-after"), Some("5"));
        assert!(set_cookies(&answer).is_empty(), "the cookies stay");
        assert!(!answer.text.contains("127.0.0.1") && !answer.text.contains(cause));
    }
    assert_eq!(fx.refreshes(), 0, "the refresh token was never spent");
    let logged = log.text();
    assert_eq!(
        logged.matches("no session can be renewed").count(),
        1,
        "{logged}"
    );
    assert!(logged.contains(cause), "{logged}");
    (user, pair, past)
}

#[tokio::test]
async fn a_blocked_user_is_signed_out() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    let (user, pair, expired) = fx.expired_session("alice").await;
    fx.emu
        .block_user(&fx.emu.credentials().user_pool_id, &user.id)
        .unwrap();
    let answer = fx.me(&[cookies(&expired, &pair.refresh_token)]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(answer.detail(), "the session has ended: sign in again");
    assert_cleared(&answer);
}

#[tokio::test]
async fn a_flood_of_other_users_refreshes_costs_no_one_their_grace_window() {
    let store = InProcessStore::with_capacity(8);
    let fx = Fixture::new(
        AutoRefresh::cookies()
            .grace(LONG_GRACE)
            .store(store)
            .build()
            .unwrap(),
    )
    .await;
    let (victim, old, expired) = fx.expired_session("victim").await;
    let new = pair_set_by(&fx.me(&[cookies(&expired, &old.refresh_token)]).await);

    let mut unavailable = 0;
    for n in 0..20 {
        let (_, pair, expired) = fx.expired_session(&format!("user{n}")).await;
        let answer = fx.me(&[cookies(&expired, &pair.refresh_token)]).await;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                unavailable += 1;
                assert!(set_cookies(&answer).is_empty(), "nobody is signed out");
            }
            other => panic!("user{n}: {other} {}", answer.text),
        }
    }
    assert_eq!(unavailable, 13, "7 slots were left; the others wait");
    assert_eq!(fx.refreshes(), 8);

    // The victim's late request with the old cookies still gets its pair, no second refresh.
    let late = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    assert_eq!(late.status, StatusCode::OK, "{}", late.text);
    assert_eq!(late.text, victim.id);
    assert_eq!(pair_set_by(&late), new);
    assert_eq!(fx.refreshes(), 8);
    assert!(fx.client.refresh(&new.refresh_token).await.is_ok());
}

/// The credentials the handler saw.
async fn echo(headers: HeaderMap) -> Json<Value> {
    let header = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect::<Vec<_>>()
    };
    Json(json!({
        "cookie": header("cookie"),
        "authorization": header("authorization"),
        "refresh": header("x-refresh-token"),
    }))
}

#[tokio::test]
async fn after_a_renewal_the_handler_sees_the_new_pair_in_place_of_the_old_one() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (user, old) = sign_up(&client, "alice").await;
    let expired = access_token_expiring(&emu, &user, now() - 60);
    let app = |refresh: AutoRefresh| {
        let auth = StlockLayer::from_client(client.clone()).auto_refresh(refresh);
        serve(Router::new().route("/echo", get(echo)).route_layer(auth))
    };
    let get = |base: String, headers: Vec<(&'static str, String)>| async move {
        let mut request = http().get(format!("{base}/echo"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        Answer::read(request.send().await.unwrap()).await
    };

    // Cookie mode: one `Cookie` header, the session's two replaced, the others kept.
    let base = app(AutoRefresh::cookies().build().unwrap()).await;
    let (name, value) = cookies(&expired, &old.refresh_token);
    let answer = get(base, vec![(name, format!("theme=dark; {value}; lang=en"))]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let new = pair_set_by(&answer);
    let seen = answer.json["cookie"].as_array().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let seen = seen[0].as_str().unwrap();
    for part in [
        "theme=dark".to_owned(),
        "lang=en".to_owned(),
        format!("__Host-stlock_access={}", new.access_token),
        format!("__Host-stlock_refresh={}", new.refresh_token),
    ] {
        assert!(seen.split("; ").any(|p| p == part), "{part} in {seen}");
    }
    assert!(!seen.contains(&expired) && !seen.contains(&old.refresh_token));

    // Header mode: the bearer token and the refresh header are the new ones.
    let base = app(AutoRefresh::headers().build().unwrap()).await;
    let answer = get(
        base,
        vec![
            (
                "authorization",
                format!("Bearer {}", access_token_expiring(&emu, &user, now() - 60)),
            ),
            ("x-refresh-token", new.refresh_token.clone()),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let access = answer.header(ACCESS_TOKEN_HEADER).unwrap().to_owned();
    let refresh = answer.header(REFRESH_TOKEN_HEADER).unwrap().to_owned();
    assert_eq!(
        answer.json["authorization"],
        json!([format!("Bearer {access}")])
    );
    assert_eq!(answer.json["refresh"], json!([refresh]));
}
