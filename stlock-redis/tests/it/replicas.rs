//! One refresh across replicas: a storm spread over three, a holder that died with the lock,
//! a holder that never lets go, and a holder whose call to the service failed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use stlock::refresh::{RefreshOutcome, RefreshStore};
use stlock::TokenPair;
use stlock_redis::{LockWaitExpired, RedisStore, DEFAULT_PREFIX};
use tokio::time::Instant;

use crate::support::app::{one_new_pair, pair_set_by, Replicas, SHORT_LOCK};
use crate::support::redis_server::RedisServer;
use crate::support::{counting, keys_of, within};

#[tokio::test]
async fn sixty_requests_spread_over_three_replicas_refresh_exactly_once() {
    let redis = RedisServer::start().await;
    let replicas = Replicas::start(3, &redis.url(), |store| store).await;
    // Several rounds, each a fresh session: a race that passes once by luck fails here.
    for round in 0..3 {
        let session = replicas.session(&format!("user{round}")).await;
        let before = replicas.refreshes();
        let answers = replicas.storm(&session, 60, &[0, 1, 2]).await;
        let new = one_new_pair(&answers, &session);
        assert_eq!(
            replicas.refreshes() - before,
            1,
            "round {round}: one refresh"
        );

        // Later, within the grace window, the old cookies on any replica get the same pair.
        for replica in 0..3 {
            let later = replicas.storm(&session, 1, &[replica]).await;
            assert_eq!(pair_set_by(&later[0]), new, "replica {replica}");
        }
        assert_eq!(replicas.refreshes() - before, 1, "round {round}: still one");
        // And the new pair is the one the service issued: it refreshes (once) at the service.
        within(replicas.client.refresh(&new.refresh_token))
            .await
            .expect("the new refresh token is live");
    }
    for store in &replicas.stores {
        assert!(store.is_available());
        assert_eq!(store.fallbacks(), 0);
    }
}

#[tokio::test]
async fn a_replica_that_died_holding_the_lock_holds_the_others_up_until_it_lapses_only() {
    let redis = RedisServer::start().await;
    let replicas = Replicas::start(3, &redis.url(), |store| store.lock_expiry(SHORT_LOCK)).await;
    let session = replicas.session("alice").await;
    // A replica took the lock and died before calling the service.
    let (lock, _) = keys_of(DEFAULT_PREFIX, &session.pair.refresh_token);
    let mut connection = redis.connection().await;
    let taken: Option<String> = within(
        redis::cmd("SET")
            .arg(&lock)
            .arg("a-replica-that-died")
            .arg("NX")
            .arg("PX")
            .arg(SHORT_LOCK.as_millis() as u64)
            .query_async(&mut connection),
    )
    .await
    .expect("SET");
    assert_eq!(taken.as_deref(), Some("OK"));
    let started = Instant::now();

    let answers = replicas.storm(&session, 30, &[0, 1, 2]).await;
    let waited = started.elapsed();
    one_new_pair(&answers, &session);
    assert_eq!(
        replicas.refreshes(),
        1,
        "one refresh, after the lock lapsed"
    );
    assert!(
        waited >= SHORT_LOCK - Duration::from_millis(100),
        "no replica refreshed while the lock was held: {waited:?}"
    );
    assert!(
        waited < SHORT_LOCK + Duration::from_secs(2),
        "they took over soon after it lapsed: {waited:?}"
    );
}

#[tokio::test]
async fn a_lock_never_let_go_bounds_the_wait_and_the_service_is_not_asked() {
    let redis = RedisServer::start().await;
    let store = RedisStore::builder(redis.url())
        .lock_expiry(SHORT_LOCK)
        .build()
        .expect("store");
    let (lock, _) = keys_of(DEFAULT_PREFIX, "token");
    let mut connection = redis.connection().await;
    // Held far longer than this store's lock expiry: by a replica configured otherwise.
    let _: () = within(connection.set_ex(&lock, "another-replica", 60))
        .await
        .expect("SET");
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let exchange = counting(&calls, RefreshOutcome::Refused);
    let outcome = within(store.coordinate("token", Duration::from_secs(10), exchange)).await;
    let waited = started.elapsed();
    let RefreshOutcome::Unavailable(cause) = outcome else {
        panic!("expected Unavailable, got {outcome:?}");
    };
    let cause = cause
        .downcast_ref::<LockWaitExpired>()
        .unwrap_or_else(|| panic!("a typed cause: {cause}"));
    assert!(cause.waited >= SHORT_LOCK, "{cause}");
    assert!(waited < SHORT_LOCK + Duration::from_secs(1), "{waited:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the service was not asked");
    assert!(store.is_available(), "Redis answered all along");
}

#[tokio::test]
async fn a_failed_call_to_the_service_is_not_kept_and_the_next_replica_tries_again() {
    let redis = RedisServer::start().await;
    let first = RedisStore::builder(redis.url()).build().expect("store");
    let second = RedisStore::builder(redis.url()).build().expect("store");
    let grace = Duration::from_secs(10);
    let calls = Arc::new(AtomicUsize::new(0));

    let down = RefreshOutcome::Unavailable(Arc::new(std::io::Error::other("service down")));
    let outcome = within(first.coordinate("token", grace, counting(&calls, down))).await;
    assert!(matches!(outcome, RefreshOutcome::Unavailable(_)));
    let (lock, kept) = keys_of(DEFAULT_PREFIX, "token");
    let mut connection = redis.connection().await;
    let left: usize = within(connection.exists(&[&lock, &kept]))
        .await
        .expect("EXISTS");
    assert_eq!(left, 0, "the lock let go, and nothing kept");

    let pair = TokenPair {
        access_token: "access".to_owned(),
        refresh_token: "refresh".to_owned(),
    };
    let refreshed = RefreshOutcome::Refreshed(pair.clone());
    let outcome = within(second.coordinate("token", grace, counting(&calls, refreshed))).await;
    assert!(matches!(outcome, RefreshOutcome::Refreshed(p) if p == pair));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the second replica asked again"
    );
}
