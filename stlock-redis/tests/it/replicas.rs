//! One refresh across replicas: a storm spread over three, a holder that died with the lock, a
//! holder that never lets go, a holder whose call to the service failed, and an outcome read
//! from Redis, which keeps its own binding and deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use stlock::refresh::{Binding, Refresh, RefreshOutcome, RefreshStore};
use stlock::TokenPair;
use stlock_redis::{NotRefreshed, RedisStore, DEFAULT_POLL_INTERVAL, DEFAULT_PREFIX};
use tokio::time::Instant;

use crate::support::app::{all_unavailable, one_new_pair, Replicas, SHORT_LOCK};
use crate::support::redis_server::RedisServer;
use crate::support::{keys_of, refresh, within, ACCESS};

/// The client's timeout in tests that wait on another replica: short, so that a wait bounded
/// by anything longer (the lock's expiry) shows.
const TIMEOUT: Duration = Duration::from_secs(2);
/// What a request may take beyond the client's timeout: its own round trips.
const MARGIN: Duration = Duration::from_millis(500);

fn pair(n: usize) -> TokenPair {
    TokenPair {
        access_token: format!("access{n}"),
        refresh_token: format!("refresh{n}"),
    }
}

#[tokio::test]
async fn sixty_requests_spread_over_three_replicas_refresh_exactly_once() {
    let redis = RedisServer::start().await;
    let replicas = Replicas::start(3, &redis.url(), |store| store).await;
    // Several rounds, each a fresh session: a race that passes once by luck fails here.
    for round in 0..3 {
        let session = replicas.session(&format!("user{round}")).await;
        replicas.refresh_once_in_a_storm(&session, round).await;
    }
    for store in &replicas.stores {
        assert!(store.is_available());
        assert_eq!(store.fallbacks(), 0);
        assert_eq!(store.unopened(), 0);
    }
}

#[tokio::test]
async fn requests_waiting_on_a_holder_that_died_give_up_without_exchanging_the_token() {
    let redis = RedisServer::start().await;
    let replicas = Replicas::start_with(
        3,
        &redis.url(),
        |store| store,
        |config| config.timeout(TIMEOUT),
    )
    .await;
    let session = replicas.session("alice").await;
    // A replica took the lock and died: before calling the service, or after, nobody can tell.
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

    let answers = replicas.storm(&session, 30, &[0, 1, 2]).await;
    // The token past the leeway, and no refresh to be had: 503, nobody signed out.
    all_unavailable(&answers);
    assert_eq!(
        replicas.refreshes(),
        0,
        "no replica that saw the lock exchanged the token, not even once it lapsed"
    );
    for answer in &answers {
        assert!(answer.took < TIMEOUT + MARGIN, "{:?}", answer.took);
    }

    // The next requests never saw that lock: they refresh, once.
    let answers = replicas.storm(&session, 30, &[0, 1, 2]).await;
    one_new_pair(&answers, &session);
    assert_eq!(replicas.refreshes(), 1);
}

#[tokio::test]
async fn a_lock_never_let_go_bounds_the_wait_by_the_clients_timeout_and_the_service_is_not_asked() {
    let redis = RedisServer::start().await;
    // The lock's own expiry (15 s) is far longer than the request can wait.
    let store = RedisStore::builder(redis.url()).build().expect("store");
    let (lock, _) = keys_of(DEFAULT_PREFIX, "token");
    let mut connection = redis.connection().await;
    let _: () = within(connection.set_ex(&lock, "another-replica", 60))
        .await
        .expect("SET");
    let calls = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let grace = Duration::from_secs(10);
    let waiting = Refresh {
        patience: TIMEOUT,
        ..refresh("token", &calls, RefreshOutcome::Refused, grace)
    };
    let settled = within(store.coordinate(waiting)).await;
    let waited = started.elapsed();
    let RefreshOutcome::Unavailable(cause) = settled.outcome else {
        panic!("expected Unavailable, got {:?}", settled.outcome);
    };
    assert!(
        matches!(
            cause.downcast_ref::<NotRefreshed>(),
            Some(NotRefreshed::StillHeld { waited }) if *waited >= TIMEOUT
        ),
        "{cause}"
    );
    assert!(waited >= TIMEOUT && waited < TIMEOUT + MARGIN, "{waited:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the service was not asked");
    // One look per poll interval, no more: the wait is no busy loop on Redis.
    let looks = redis.script_runs().await;
    let polls = TIMEOUT.as_millis() / DEFAULT_POLL_INTERVAL.as_millis();
    assert!(looks <= polls as u64 + 2, "{looks} looks in {waited:?}");
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
    let settled = within(first.coordinate(refresh("token", &calls, down, grace))).await;
    assert!(matches!(settled.outcome, RefreshOutcome::Unavailable(_)));
    let (lock, kept) = keys_of(DEFAULT_PREFIX, "token");
    let mut connection = redis.connection().await;
    let left: usize = within(connection.exists(&[&lock, &kept]))
        .await
        .expect("EXISTS");
    assert_eq!(left, 0, "the lock let go, and nothing kept");

    let refreshed = RefreshOutcome::Refreshed(pair(1));
    let settled = within(second.coordinate(refresh("token", &calls, refreshed, grace))).await;
    assert!(matches!(settled.outcome, RefreshOutcome::Refreshed(p) if p == pair(1)));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the second replica asked again"
    );
}

#[tokio::test]
async fn an_outcome_read_from_redis_keeps_its_binding_and_its_original_deadline() {
    let redis = RedisServer::start().await;
    let first = RedisStore::builder(redis.url()).build().expect("store");
    let second = RedisStore::builder(redis.url()).build().expect("store");
    let grace = Duration::from_secs(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let refreshed = |n| RefreshOutcome::Refreshed(pair(n));

    let reached = within(first.coordinate(refresh("token", &calls, refreshed(1), grace))).await;
    // Part of the grace window passes before the second replica is asked.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let read = within(second.coordinate(refresh("token", &calls, refreshed(2), grace))).await;
    assert!(matches!(&read.outcome, RefreshOutcome::Refreshed(p) if *p == pair(1)));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "read from Redis");
    assert_eq!(read.bound_to, Binding::of(Some(ACCESS)), "the binding kept");
    assert_ne!(read.bound_to, Binding::none());
    // Dated as Redis kept it (within a round trip), not as the second replica read it.
    let tolerance = Duration::from_millis(50);
    assert!(read.settled_at <= reached.settled_at + tolerance);
    assert!(read.settled_at + tolerance >= reached.settled_at);
    assert!(read.remember_until <= reached.remember_until + tolerance);
    assert!(read.remember_until + tolerance >= reached.remember_until);

    // Past the original deadline the second replica remembers nothing (it read the outcome
    // 400 ms in, and a fresh grace window would last 400 ms more), nor does Redis keep it: the
    // token is exchanged as any other.
    tokio::time::sleep_until((reached.remember_until + tolerance).into()).await;
    let after = within(second.coordinate(refresh("token", &calls, refreshed(3), grace))).await;
    assert!(
        matches!(&after.outcome, RefreshOutcome::Refreshed(p) if *p == pair(3)),
        "{:?}",
        after.outcome
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
