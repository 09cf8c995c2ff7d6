//! The per-pool call counts: what counts (every call that reaches its operation, whatever its
//! answer), what does not (a call refused before it), where, and reading them over HTTP.

use std::time::Duration;

use crate::support::{fast_emulator, fast_emulator_with, join_all, Answer, Wire};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stlock_emulator::{AdminError, Counts, Emulator};

/// A bound for waits on many concurrent calls; they take milliseconds.
const BOUND: Duration = Duration::from_secs(30);

fn counts(emu: &Emulator, wire: &Wire) -> Counts {
    emu.counts(&wire.creds.user_pool_id)
        .expect("the pool exists")
}

async fn counts_over_http(wire: &Wire, method: Method) -> Answer {
    let path = format!("/api/v0/admin/pools/{}/counts", wire.creds.user_pool_id);
    wire.send(method, &path, None, None).await
}

fn username_body(wire: &Wire, username: &str) -> Value {
    json!({ "user_pool_id": wire.creds.user_pool_id, "username": username })
}

fn email_body(wire: &Wire, email: &str) -> Value {
    json!({ "user_pool_id": wire.creds.user_pool_id, "email": email })
}

fn password_body(old: &str, new: &str) -> Value {
    json!({ "old_password": old, "new_password": new })
}

#[tokio::test]
async fn a_fresh_emulator_counts_nothing_in_any_pool() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    assert_eq!(counts(&emu, &wire), Counts::default());
    for creds in [emu.add_pool(), emu.add_owner()] {
        assert_eq!(emu.counts(&creds.user_pool_id).unwrap(), Counts::default());
    }
    let answer = counts_over_http(&wire, Method::GET).await;
    assert_eq!(
        answer.assert_ok(StatusCode::OK).clone(),
        json!({
            "registrations": 0, "logins": 0, "refreshes": 0, "logouts": 0, "grant_checks": 0,
            "username_changes": 0, "email_changes": 0, "password_changes": 0,
        })
    );
}

#[tokio::test]
async fn each_operation_counts_in_exactly_its_own_counter() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    let mut expected = Counts::default();

    wire.register_named("alice", "79111111111").await;
    expected.registrations += 1;
    assert_eq!(counts(&emu, &wire), expected, "register");

    let (access, refresh) = wire.tokens("alice", "test").await;
    expected.logins += 1;
    assert_eq!(counts(&emu, &wire), expected, "login");

    assert!(!wire.allowed(&access, "GET", "/orders").await);
    expected.grant_checks += 1;
    assert_eq!(counts(&emu, &wire), expected, "grant");

    let username = username_body(&wire, "alice2");
    wire.patch(&access, "username", username)
        .await
        .assert_ok(StatusCode::OK);
    expected.username_changes += 1;
    assert_eq!(counts(&emu, &wire), expected, "username");

    let email = email_body(&wire, "alice2@example.com");
    wire.patch(&access, "email", email)
        .await
        .assert_ok(StatusCode::OK);
    expected.email_changes += 1;
    assert_eq!(counts(&emu, &wire), expected, "email");

    let pair = wire.refresh(&refresh).await;
    let newest = pair.assert_ok(StatusCode::OK)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    expected.refreshes += 1;
    assert_eq!(counts(&emu, &wire), expected, "refresh");

    wire.logout(&newest).await.assert_ok(StatusCode::OK);
    expected.logouts += 1;
    assert_eq!(counts(&emu, &wire), expected, "logout");

    let (access, _) = wire.tokens("alice2", "test").await;
    expected.logins += 1;
    wire.patch(&access, "password", password_body("test", "new"))
        .await
        .assert_ok(StatusCode::OK);
    expected.password_changes += 1;
    assert_eq!(counts(&emu, &wire), expected, "password");
}

#[tokio::test]
async fn calls_refused_by_their_operation_count_all_the_same() {
    let emu =
        fast_emulator_with(Emulator::builder().login_throttle(1, Duration::from_secs(300))).await;
    let wire = Wire::new(emu.credentials());
    let alice = wire.register_named("alice", "79111111111").await;
    wire.register_named("bob", "79222222222").await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    let mut expected = Counts::default();
    expected.registrations = 2;
    expected.logins = 1;
    assert_eq!(counts(&emu, &wire), expected);

    // register: a value breaking the field rules (422), a taken username (409), an owner_id
    // that is not the key's (403) in one of its pools.
    let invalid = wire
        .register("no spaces", "c@example.com", "79333333333", "pw")
        .await;
    invalid.assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    let taken = wire
        .register("alice", "c@example.com", "79333333333", "pw")
        .await;
    taken.assert_error(StatusCode::CONFLICT);
    let mut foreign_owner = wire.clone();
    foreign_owner.creds.owner_id = uuid::Uuid::new_v4().to_string();
    let answer = foreign_owner
        .register("carol", "c@example.com", "79333333333", "pw")
        .await;
    answer.assert_error(StatusCode::FORBIDDEN);
    expected.registrations += 3;
    assert_eq!(counts(&emu, &wire), expected, "refused registrations");

    // login: a wrong password (401), then throttled (429); a foreign owner_id (403).
    wire.login("bob", "guess")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.login("bob", "test")
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS);
    foreign_owner
        .login("alice", "test")
        .await
        .assert_error(StatusCode::FORBIDDEN);
    expected.logins += 3;
    assert_eq!(counts(&emu, &wire), expected, "refused logins");

    // grant: a method the pattern rules refuse (422).
    wire.grant(&access, "NOT A METHOD", "/")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    expected.grant_checks += 1;
    // profile: another pool named (403), a taken e-mail (409), a wrong old password (401).
    let mut other_pool = username_body(&wire, "alice3");
    other_pool["user_pool_id"] = json!(uuid::Uuid::new_v4().to_string());
    wire.patch(&access, "username", other_pool)
        .await
        .assert_error(StatusCode::FORBIDDEN);
    expected.username_changes += 1;
    wire.patch(&access, "email", email_body(&wire, "bob@example.com"))
        .await
        .assert_error(StatusCode::CONFLICT);
    expected.email_changes += 1;
    wire.patch(&access, "password", password_body("guess", "new"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    expected.password_changes += 1;
    assert_eq!(counts(&emu, &wire), expected, "refused access-token calls");

    // refresh: 200, then the same token again is reuse (401) and ends the session, so the
    // newest token is revoked (401) too, and so is logging out with it (401).
    let newest = wire.refresh(&refresh).await.assert_ok(StatusCode::OK)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    wire.refresh(&refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.refresh(&newest)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.logout(&newest)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    expected.refreshes += 3;
    expected.logouts += 1;
    // A revoked access token on every access-token call (401).
    wire.grant(&access, "GET", "/")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.patch(&access, "username", username_body(&wire, "alice3"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    expected.grant_checks += 1;
    expected.username_changes += 1;
    assert_eq!(counts(&emu, &wire), expected, "revoked tokens");

    // A blocked user's refresh (403) counts too.
    let pool = &wire.creds.user_pool_id;
    let alice_id = alice["id"].as_str().unwrap();
    let (_, refresh) = wire.tokens("alice", "test").await;
    expected.logins += 1;
    emu.block_user(pool, alice_id).unwrap();
    wire.refresh(&refresh)
        .await
        .assert_error(StatusCode::FORBIDDEN);
    expected.refreshes += 1;
    assert_eq!(counts(&emu, &wire), expected, "blocked");
}

#[tokio::test]
async fn calls_refused_before_their_operation_count_nowhere() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    emu.reset_counts(&wire.creds.user_pool_id).unwrap();
    let other_owner = Wire::new(&emu.add_owner());
    let mut wrong_key = wire.clone();
    wrong_key.creds.api_key = "stl_not-the-key".into();

    // No API key, or a wrong one.
    let refresh_bearer = format!("bearer {refresh}");
    let path = "/api/v0/users/refresh";
    wire.send_without_key(Method::GET, path, Some(&refresh_bearer))
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wrong_key
        .login("alice", "test")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wrong_key
        .grant(&access, "GET", "/")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    // The token: of the wrong type, not valid, of another owner than the key's.
    wire.refresh(&access)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.grant(&refresh, "GET", "/")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    wire.logout("not.a.token")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    let mut foreign_key = wire.clone();
    foreign_key.creds.api_key = other_owner.creds.api_key.clone();
    foreign_key
        .refresh(&refresh)
        .await
        .assert_error(StatusCode::FORBIDDEN);
    // The body: not JSON, a missing field.
    wire.send(Method::POST, "/api/v0/users/login", None, Some("{".into()))
        .await
        .assert_error(StatusCode::BAD_REQUEST);
    let bearer = format!("bearer {access}");
    wire.send(
        Method::PATCH,
        "/api/v0/users/email",
        Some(&bearer),
        Some(json!({ "user_pool_id": wire.creds.user_pool_id }).to_string()),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    wire.send(
        Method::POST,
        "/api/v0/users/grant",
        Some(&bearer),
        Some("[]".into()),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY);
    // The route: `HEAD /refresh` is 405 and uses nothing up.
    let head = wire
        .http
        .head(wire.url("/api/v0/users/refresh"))
        .header("x-api-key", wire.creds.api_key.expose())
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A pool that is another owner's, or none, counts in no pool.
    let mut foreign_pool = wire.clone();
    foreign_pool.creds.user_pool_id = other_owner.creds.user_pool_id.clone();
    foreign_pool
        .login("alice", "test")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    foreign_pool
        .register("carol", "c@example.com", "79333333333", "pw")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    let mut no_pool = wire.clone();
    no_pool.creds.user_pool_id = uuid::Uuid::new_v4().to_string();
    no_pool
        .login("alice", "test")
        .await
        .assert_error(StatusCode::NOT_FOUND);
    // An expired token, by the emulator's clock.
    emu.advance_clock(Duration::from_secs(3600));
    wire.refresh(&refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED);

    assert_eq!(counts(&emu, &wire), Counts::default());
    assert_eq!(counts(&emu, &other_owner), Counts::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_one_of_concurrent_refreshes_with_one_token_counts() {
    const ATTEMPTS: usize = 20;
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let (_, refresh) = wire.tokens("alice", "test").await;

    let attempts = (0..ATTEMPTS).map(|_| {
        let (wire, refresh) = (wire.clone(), refresh.clone());
        tokio::spawn(async move { wire.refresh(&refresh).await.status })
    });
    let statuses = tokio::time::timeout(BOUND, join_all(attempts))
        .await
        .expect("every refresh is answered in time");
    let winners = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(winners, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let counts = counts(&emu, &wire);
    assert_eq!(counts.refreshes, ATTEMPTS as u64, "{counts:?}");
    assert_eq!((counts.logins, counts.logouts), (1, 0));
}

#[tokio::test]
async fn calls_count_in_their_own_pool_only() {
    let emu = fast_emulator().await;
    let first = Wire::new(emu.credentials());
    let second = Wire::new(&emu.add_pool());
    let other_owner = Wire::new(&emu.add_owner());

    for (wire, logins) in [(&first, 1), (&second, 2), (&other_owner, 3)] {
        wire.register_named("alice", "79111111111").await;
        for _ in 0..logins {
            let (access, _) = wire.tokens("alice", "test").await;
            wire.grant(&access, "GET", "/")
                .await
                .assert_ok(StatusCode::OK);
        }
    }
    for (wire, logins) in [(&first, 1), (&second, 2), (&other_owner, 3)] {
        let mut expected = Counts::default();
        expected.registrations = 1;
        expected.logins = logins;
        expected.grant_checks = logins;
        assert_eq!(counts(&emu, wire), expected, "{}", wire.creds.user_pool_id);
    }

    // A token call counts for the token's pool, whatever pool its body names.
    let (access, _) = second.tokens("alice", "test").await;
    let body = username_body(&first, "alice2");
    second
        .patch(&access, "username", body)
        .await
        .assert_error(StatusCode::FORBIDDEN);
    assert_eq!(counts(&emu, &first).username_changes, 0);
    assert_eq!(counts(&emu, &second).username_changes, 1);

    // Resetting one pool leaves the others alone.
    emu.reset_counts(&second.creds.user_pool_id).unwrap();
    assert_eq!(counts(&emu, &second), Counts::default());
    assert_eq!(counts(&emu, &first).logins, 1);
    assert_eq!(counts(&emu, &other_owner).logins, 3);
}

#[tokio::test]
async fn reset_zeroes_the_counts_and_counting_goes_on() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let (_, refresh) = wire.tokens("alice", "test").await;
    assert_ne!(counts(&emu, &wire), Counts::default());

    emu.reset_counts(&wire.creds.user_pool_id).unwrap();
    assert_eq!(counts(&emu, &wire), Counts::default());
    wire.refresh(&refresh).await.assert_ok(StatusCode::OK);
    let mut expected = Counts::default();
    expected.refreshes = 1;
    assert_eq!(counts(&emu, &wire), expected);

    // Pool ids are matched regardless of case, as everywhere.
    let upper = wire.creds.user_pool_id.to_ascii_uppercase();
    assert_eq!(emu.counts(&upper).unwrap(), expected);
    emu.reset_counts(&upper).unwrap();
    assert_eq!(counts(&emu, &wire), Counts::default());

    let nowhere = uuid::Uuid::new_v4().to_string();
    assert_eq!(emu.counts(&nowhere), Err(AdminError::UnknownPool));
    assert_eq!(emu.reset_counts(&nowhere), Err(AdminError::UnknownPool));
}

#[tokio::test]
async fn counts_are_read_and_reset_over_http() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    wire.tokens("alice", "test").await;
    wire.login("alice", "guess")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);

    let read = counts_over_http(&wire, Method::GET).await;
    assert_eq!(read.content_type.as_deref(), Some("application/json"));
    let body = read.assert_ok(StatusCode::OK).clone();
    assert_eq!(body, serde_json::to_value(counts(&emu, &wire)).unwrap());
    assert_eq!(
        (&body["registrations"], &body["logins"]),
        (&json!(1), &json!(2))
    );
    let parsed: Counts = serde_json::from_value(body).unwrap();
    assert_eq!(parsed, counts(&emu, &wire));

    let reset = counts_over_http(&wire, Method::DELETE).await;
    let zeroed: Counts = serde_json::from_value(reset.assert_ok(StatusCode::OK).clone()).unwrap();
    assert_eq!(zeroed, Counts::default());
    assert_eq!(counts(&emu, &wire), Counts::default());
    let read = counts_over_http(&wire, Method::GET).await;
    let parsed: Counts = serde_json::from_value(read.assert_ok(StatusCode::OK).clone()).unwrap();
    assert_eq!(parsed, Counts::default());
    // Reading and resetting the counts are admin calls, not counted calls.
    assert_eq!(counts(&emu, &wire), Counts::default());
}

#[tokio::test]
async fn the_counts_endpoints_need_the_owners_key() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    let path = format!("/api/v0/admin/pools/{}/counts", wire.creds.user_pool_id);

    for method in [Method::GET, Method::DELETE] {
        let answer = wire.send_without_key(method.clone(), &path, None).await;
        assert_eq!(
            answer.assert_error(StatusCode::UNAUTHORIZED),
            "the x-api-key header is missing"
        );
        let mut wrong_key = wire.clone();
        wrong_key.creds.api_key = "stl_wrong".into();
        let answer = counts_over_http(&wrong_key, method.clone()).await;
        assert_eq!(
            answer.assert_error(StatusCode::UNAUTHORIZED),
            "the API key is not valid"
        );
        // Another owner's pool is not found, exactly like one that does not exist.
        let mut other_owner = wire.clone();
        other_owner.creds.api_key = emu.add_owner().api_key;
        let answer = counts_over_http(&other_owner, method.clone()).await;
        assert_eq!(
            answer.assert_error(StatusCode::NOT_FOUND),
            "user pool not found"
        );
        let mut no_pool = wire.clone();
        no_pool.creds.user_pool_id = uuid::Uuid::new_v4().to_string();
        let answer = counts_over_http(&no_pool, method).await;
        assert_eq!(
            answer.assert_error(StatusCode::NOT_FOUND),
            "user pool not found"
        );
    }
    // Nothing above reset the counts.
    assert_eq!(counts(&emu, &wire).registrations, 1);

    let answer = counts_over_http(&wire, Method::POST).await;
    answer.assert_error(StatusCode::METHOD_NOT_ALLOWED);
    let allow = answer.headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("DELETE"), "{allow}");
}
