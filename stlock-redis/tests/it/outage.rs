//! Redis stopped in the middle of a run, and started again.

use std::time::Duration;

use stlock::refresh::{RefreshOutcome, RefreshStore};
use tokio::time::Instant;

use crate::support::app::{one_new_pair, Replicas};
use crate::support::redis_server::RedisServer;
use crate::support::within;

#[tokio::test]
async fn with_redis_down_requests_still_succeed_and_coordination_returns_with_redis() {
    let mut redis = RedisServer::start().await;
    let replicas = Replicas::start(3, &redis.url(), |store| store).await;
    let session = replicas.session("before").await;
    one_new_pair(&replicas.storm(&session, 30, &[0, 1, 2]).await, &session);
    assert_eq!(replicas.refreshes(), 1);

    redis.kill();
    // Parallel requests on one replica: coordinated in-process, one refresh, all succeed.
    let session = replicas.session("during").await;
    let started = Instant::now();
    one_new_pair(&replicas.storm(&session, 20, &[0]).await, &session);
    assert_eq!(replicas.refreshes(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a dead Redis costs a request little: {:?}",
        started.elapsed()
    );
    let down = &replicas.stores[0];
    assert!(!down.is_available());
    assert!(down.fallbacks() >= 1, "{down:?}");

    let redis = RedisServer::start_on(redis.port()).await;
    // The store is available again once it has made a call: wait for that, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut probe = 0;
    while !down.is_available() {
        assert!(Instant::now() < deadline, "the store never saw Redis again");
        probe += 1;
        let exchange = Box::pin(async { RefreshOutcome::Refused });
        within(down.coordinate(&format!("probe{probe}"), Duration::ZERO, exchange)).await;
    }
    let fallbacks = down.fallbacks();

    // Coordination across replicas is back, on the replicas that saw the outage and on those
    // whose connection Redis's restart dropped without their noticing.
    let session = replicas.session("after").await;
    one_new_pair(&replicas.storm(&session, 60, &[0, 1, 2]).await, &session);
    assert_eq!(replicas.refreshes(), 3, "one refresh again");
    assert_eq!(
        down.fallbacks(),
        fallbacks,
        "no fallback once Redis is back"
    );
    for store in &replicas.stores[1..] {
        assert_eq!(store.fallbacks(), 0, "{store:?}");
        assert!(store.is_available());
    }
    drop(redis);
}
