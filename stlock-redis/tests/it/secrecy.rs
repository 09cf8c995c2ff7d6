//! What Redis holds: no token, nothing JWT-shaped, nothing that opens anywhere but where it was
//! stored; what whoever writes to Redis can do with that (make refreshes unavailable, never
//! obtain a token nor sign anyone out); and no password in a store's `Debug`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use regex::bytes::Regex;
use stlock::refresh::{RefreshOutcome, RefreshStore, Settled};
use stlock::TokenPair;
use stlock_redis::{NotRefreshed, RedisStore, DEFAULT_PREFIX};

use crate::support::app::{all_unavailable, one_new_pair, pair_set_by, Replicas};
use crate::support::logs::Capture;
use crate::support::redis_server::RedisServer;
use crate::support::{keys_of, refresh, within};

/// The warning for an outcome that does not open.
const UNOPENED: &str = "a refresh outcome stored in Redis does not open";

#[tokio::test]
async fn after_a_storm_redis_holds_no_token_and_nothing_readable() {
    let redis = RedisServer::start().await;
    let replicas = Replicas::start(3, &redis.url(), |store| store).await;
    let session = replicas.session("alice").await;
    let new = one_new_pair(&replicas.storm(&session, 60, &[0, 1, 2]).await, &session);

    let mut connection = redis.connection().await;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = within(
            redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(100)
                .query_async(&mut connection),
        )
        .await
        .expect("SCAN");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    // The lock was let go; the outcome is kept, under the digest of the old refresh token.
    let (_, outcome) = keys_of(DEFAULT_PREFIX, &session.pair.refresh_token);
    assert_eq!(keys, vec![outcome.clone().into_bytes()]);

    let jwt = Regex::new(r"eyJ[A-Za-z0-9_-]+\.").expect("regex");
    let secrets = [
        &session.pair.refresh_token,
        &session.pair.access_token,
        &session.expired,
        &new.access_token,
        &new.refresh_token,
    ];
    for key in &keys {
        let value: Vec<u8> = within(connection.get(key)).await.expect("GET");
        let dump: Vec<u8> = within(redis::cmd("DUMP").arg(key).query_async(&mut connection))
            .await
            .expect("DUMP");
        assert!(!value.is_empty());
        for bytes in [key, &value, &dump] {
            assert!(!jwt.is_match(bytes), "JWT-shaped: {bytes:?}");
            for secret in secrets {
                let secret = secret.as_bytes();
                assert!(!bytes.windows(secret.len()).any(|w| w == secret));
            }
        }
        assert!(
            serde_json::from_slice::<serde_json::Value>(&value).is_err(),
            "the outcome is no JSON"
        );
    }
    // Kept for the grace window (10 s by default), no longer.
    let ttl: i64 = within(connection.pttl(&outcome)).await.expect("PTTL");
    assert!(ttl > 0 && ttl <= 10_000, "{ttl}");
}

fn pair() -> TokenPair {
    TokenPair {
        access_token: "access".to_owned(),
        refresh_token: "refresh".to_owned(),
    }
}

/// A replica's store, an outcome it reached for "token", and its Redis value.
async fn stored_outcome(redis: &RedisServer) -> Vec<u8> {
    let store = RedisStore::builder(redis.url()).build().expect("store");
    let calls = Arc::new(AtomicUsize::new(0));
    let outcome = RefreshOutcome::Refreshed(pair());
    let grace = Duration::from_secs(60);
    within(store.coordinate(refresh("token", &calls, outcome, grace))).await;
    let (_, outcome) = keys_of(DEFAULT_PREFIX, "token");
    let mut connection = redis.connection().await;
    within(connection.get(&outcome)).await.expect("GET")
}

/// What another replica (a store of its own) comes to for "token" under `prefix`, whether it
/// called the service for it, and the store.
async fn another_replica(redis: &RedisServer, prefix: &str) -> (Settled, bool, RedisStore) {
    let store = RedisStore::builder(redis.url())
        .prefix(prefix)
        .build()
        .expect("store");
    let calls = Arc::new(AtomicUsize::new(0));
    let exchange = refresh(
        "token",
        &calls,
        RefreshOutcome::Refused,
        Duration::from_secs(60),
    );
    let settled = within(store.coordinate(exchange)).await;
    (settled, calls.load(Ordering::SeqCst) == 1, store)
}

/// Asserts that `settled` is no refresh, for an outcome that did not open.
#[track_caller]
fn unopened(settled: &Settled) {
    match &settled.outcome {
        RefreshOutcome::Unavailable(cause) => assert!(
            matches!(
                cause.downcast_ref::<NotRefreshed>(),
                Some(NotRefreshed::Unopened)
            ),
            "{cause}"
        ),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn an_outcome_copied_to_another_key_does_not_open_there_and_nothing_is_exchanged() {
    let redis = RedisServer::start().await;
    let value = stored_outcome(&redis).await;
    // Where it was stored, another replica opens it without calling the service.
    let (settled, called, store) = another_replica(&redis, DEFAULT_PREFIX).await;
    assert!(matches!(settled.outcome, RefreshOutcome::Refreshed(p) if p == pair()));
    assert!(!called);
    assert_eq!(store.unopened(), 0);

    let (_, elsewhere) = keys_of("other:", "token");
    let mut connection = redis.connection().await;
    let _: () = within(connection.set(&elsewhere, value))
        .await
        .expect("SET");
    let (settled, called, store) = another_replica(&redis, "other:").await;
    unopened(&settled);
    assert!(!called, "the token may be spent: it is not presented");
    assert_eq!(store.unopened(), 1);
}

#[tokio::test]
async fn an_altered_outcome_is_counted_and_nothing_is_exchanged() {
    let redis = RedisServer::start().await;
    let mut value = stored_outcome(&redis).await;
    let last = value.len() - 1;
    value[last] ^= 0x01;
    let (_, outcome) = keys_of(DEFAULT_PREFIX, "token");
    let mut connection = redis.connection().await;
    let _: () = within(connection.set(&outcome, value)).await.expect("SET");
    let (settled, called, store) = another_replica(&redis, DEFAULT_PREFIX).await;
    unopened(&settled);
    assert!(!called, "the token may be spent: it is not presented");
    assert_eq!(store.unopened(), 1);
}

#[tokio::test]
async fn rewriting_an_outcome_in_redis_signs_nobody_out() {
    let logs = Capture::start(tracing::Level::WARN);
    let redis = RedisServer::start().await;
    let replicas = Replicas::start(3, &redis.url(), |store| store).await;
    let alice = replicas.session("alice").await;
    let bob = replicas.session("bob").await;
    // Both refresh on the first replica; the others never saw either refresh.
    let new = one_new_pair(&replicas.storm(&alice, 20, &[0]).await, &alice);
    one_new_pair(&replicas.storm(&bob, 20, &[0]).await, &bob);
    assert_eq!(replicas.refreshes(), 2);

    // Whoever writes to Redis replaces alice's outcome: with garbage, then with bob's (a value
    // that opens, but only under bob's key and with bob's token).
    let (_, alices) = keys_of(DEFAULT_PREFIX, &alice.pair.refresh_token);
    let (_, bobs) = keys_of(DEFAULT_PREFIX, &bob.pair.refresh_token);
    let mut connection = redis.connection().await;
    let bobs: Vec<u8> = within(connection.get(&bobs)).await.expect("GET");
    for (replica, value) in [(1, b"garbage".to_vec()), (2, bobs)] {
        let _: () = within(connection.set_ex(&alices, value, 60))
            .await
            .expect("SET");
        // Alice's late requests, with her old cookies: a replica that exchanged her spent
        // token would make the service end her session. None does.
        for _ in 0..2 {
            all_unavailable(&replicas.storm(&alice, 10, &[replica]).await);
        }
        assert!(
            replicas.stores[replica].unopened() >= 2,
            "counted each time"
        );
    }
    assert_eq!(
        replicas.refreshes(),
        2,
        "no exchange of a token that may be spent"
    );
    // Her session is whole: the first replica still remembers her pair, and the pair is live.
    let later = replicas.storm(&alice, 1, &[0]).await;
    assert_eq!(pair_set_by(&later[0]), new);
    within(replicas.client.refresh(&new.refresh_token))
        .await
        .expect("alice's session was not ended");

    let text = logs.text();
    assert_eq!(
        text.matches(UNOPENED).count(),
        2,
        "one warning per replica that found one, not one per request:\n{text}"
    );
    for token in [
        &alice.pair.refresh_token,
        &new.access_token,
        &new.refresh_token,
    ] {
        assert!(!text.contains(token.as_str()), "a token in the logs");
    }
}

#[test]
fn debug_shows_the_settings_and_no_password() {
    let builder = RedisStore::builder("redis://user:hunter2@127.0.0.1:6379/3")
        .prefix("shop:")
        .lock_expiry(Duration::from_secs(20));
    assert!(!format!("{builder:?}").contains("hunter2"));
    let store = builder.build().expect("store");
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    for shown in ["127.0.0.1:6379", "db: 3", "shop:", "20s"] {
        assert!(debug.contains(shown), "{shown} in {debug}");
    }

    let builder = RedisStore::cluster_builder([
        "redis://user:hunter2@127.0.0.1:7000/",
        "redis://user:hunter2@127.0.0.1:7001/",
    ])
    .prefix("shop:");
    assert!(!format!("{builder:?}").contains("hunter2"));
    let store = builder.build().expect("store");
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    for shown in ["cluster: [127.0.0.1:7000, 127.0.0.1:7001]", "shop:"] {
        assert!(debug.contains(shown), "{shown} in {debug}");
    }
}
