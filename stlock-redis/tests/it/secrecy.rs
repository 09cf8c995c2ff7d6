//! What Redis holds: no token, nothing JWT-shaped, nothing that opens anywhere but where it was
//! stored; and no password in a store's `Debug`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use regex::bytes::Regex;
use stlock::refresh::{RefreshOutcome, RefreshStore};
use stlock::TokenPair;
use stlock_redis::{RedisStore, DEFAULT_PREFIX};

use crate::support::app::{one_new_pair, Replicas};
use crate::support::redis_server::RedisServer;
use crate::support::{counting, keys_of, within};

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

/// A replica's store with `prefix`, an outcome it reached for "token", and its Redis value.
async fn stored_outcome(redis: &RedisServer) -> Vec<u8> {
    let store = RedisStore::builder(redis.url()).build().expect("store");
    let calls = Arc::new(AtomicUsize::new(0));
    let exchange = counting(&calls, RefreshOutcome::Refreshed(pair()));
    within(store.coordinate("token", Duration::from_secs(60), exchange)).await;
    let (_, outcome) = keys_of(DEFAULT_PREFIX, "token");
    let mut connection = redis.connection().await;
    within(connection.get(&outcome)).await.expect("GET")
}

/// What another replica (a store of its own) comes to for "token" under `prefix`, and whether
/// it called the service for it.
async fn another_replica(redis: &RedisServer, prefix: &str) -> (RefreshOutcome, bool) {
    let store = RedisStore::builder(redis.url())
        .prefix(prefix)
        .build()
        .expect("store");
    let calls = Arc::new(AtomicUsize::new(0));
    let exchange = counting(&calls, RefreshOutcome::Refused);
    let outcome = within(store.coordinate("token", Duration::from_secs(60), exchange)).await;
    (outcome, calls.load(Ordering::SeqCst) == 1)
}

#[tokio::test]
async fn an_outcome_copied_to_another_key_does_not_open_there() {
    let redis = RedisServer::start().await;
    let value = stored_outcome(&redis).await;
    // Where it was stored, another replica opens it without calling the service.
    let (outcome, called) = another_replica(&redis, DEFAULT_PREFIX).await;
    assert!(matches!(outcome, RefreshOutcome::Refreshed(p) if p == pair()));
    assert!(!called);

    let (_, elsewhere) = keys_of("other:", "token");
    let mut connection = redis.connection().await;
    let _: () = within(connection.set(&elsewhere, value))
        .await
        .expect("SET");
    let (outcome, called) = another_replica(&redis, "other:").await;
    assert!(called, "the copy was taken for no outcome");
    assert!(matches!(outcome, RefreshOutcome::Refused));
}

#[tokio::test]
async fn an_altered_outcome_is_taken_for_none() {
    let redis = RedisServer::start().await;
    let mut value = stored_outcome(&redis).await;
    let last = value.len() - 1;
    value[last] ^= 0x01;
    let (_, outcome) = keys_of(DEFAULT_PREFIX, "token");
    let mut connection = redis.connection().await;
    let _: () = within(connection.set(&outcome, value)).await.expect("SET");
    let (outcome, called) = another_replica(&redis, DEFAULT_PREFIX).await;
    assert!(called, "the altered value was taken for no outcome");
    assert!(matches!(outcome, RefreshOutcome::Refused));
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
}
