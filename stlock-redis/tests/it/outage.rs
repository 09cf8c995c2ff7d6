//! Redis stopped in the middle of a run, and started again: requests the leeway lets go on
//! with their old token do so, unrefreshed; the others refresh coordinated within each replica.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use stlock::refresh::{RefreshOutcome, RefreshStore};
use tokio::time::Instant;

use crate::support::app::{all_on_the_old_token, one_new_pair, Replicas};
use crate::support::logs::Capture;
use crate::support::redis_server::RedisServer;
use crate::support::{refresh, within};

const UNAVAILABLE: &str = "Redis is unavailable:";
const BACK: &str = "Redis answers again";

#[tokio::test]
async fn with_redis_down_requests_past_the_leeway_refresh_within_their_replica_until_redis_returns()
{
    let logs = Capture::start(tracing::Level::INFO);
    let mut redis = RedisServer::start().await;
    let replicas = Replicas::start(3, &redis.url(), |store| store).await;
    let session = replicas.session("before").await;
    one_new_pair(&replicas.storm(&session, 30, &[0, 1, 2]).await, &session);
    assert_eq!(replicas.refreshes(), 1);

    redis.kill();
    // Sessions refreshing while Redis is down, their tokens past the leeway, each with parallel
    // requests on one replica: coordinated in-process, one refresh each, every request
    // succeeds.
    let mut tokens = Vec::new();
    for n in 0..3 {
        let session = replicas.session(&format!("during{n}")).await;
        let started = Instant::now();
        let new = one_new_pair(&replicas.storm(&session, 20, &[0]).await, &session);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a dead Redis costs a request little: {:?}",
            started.elapsed()
        );
        tokens.extend([
            session.pair.refresh_token,
            new.access_token,
            new.refresh_token,
        ]);
    }
    assert_eq!(replicas.refreshes(), 4);
    let down = &replicas.stores[0];
    assert!(!down.is_available());
    assert_eq!(down.fallbacks(), 3, "{down:?}");
    assert_eq!(
        logs.text().matches(UNAVAILABLE).count(),
        1,
        "one warning for the outage, not one per refresh:\n{}",
        logs.text()
    );

    let redis = RedisServer::start_on(redis.port()).await;
    // The store is available again once it has made a call: wait for that, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut probe = 0;
    let calls = Arc::new(AtomicUsize::new(0));
    while !down.is_available() {
        assert!(Instant::now() < deadline, "the store never saw Redis again");
        probe += 1;
        let token = format!("probe{probe}");
        let probe = refresh(&token, &calls, RefreshOutcome::Refused, Duration::ZERO);
        within(down.coordinate(probe)).await;
    }
    let fallbacks = down.fallbacks();

    // Coordination across replicas is back, on the replica that saw the outage and on those
    // whose connection Redis's restart dropped without their noticing.
    let session = replicas.session("after").await;
    one_new_pair(&replicas.storm(&session, 60, &[0, 1, 2]).await, &session);
    assert_eq!(replicas.refreshes(), 5, "one refresh again");
    assert_eq!(
        down.fallbacks(),
        fallbacks,
        "no fallback once Redis is back"
    );
    for store in &replicas.stores[1..] {
        assert_eq!(store.fallbacks(), 0, "{store:?}");
        assert!(store.is_available());
    }
    let text = logs.text();
    assert_eq!(text.matches(UNAVAILABLE).count(), 1, "{text}");
    assert_eq!(text.matches(BACK).count(), 1, "{text}");
    for token in &tokens {
        assert!(
            !text.contains(token.as_str()),
            "a token in the logs:\n{text}"
        );
    }
    drop(redis);
}

#[tokio::test]
async fn with_redis_down_a_storm_inside_the_leeway_goes_on_with_the_old_token_and_refreshes_nothing(
) {
    let logs = Capture::start(tracing::Level::WARN);
    let mut redis = RedisServer::start().await;
    let leeway = Duration::from_secs(30);
    let replicas = Replicas::start_with(
        3,
        &redis.url(),
        |store| store,
        |config| config.leeway(leeway),
    )
    .await;
    redis.kill();
    // Expired, but the leeway still accepts it.
    let session = replicas
        .session_expired("alice", leeway - Duration::from_secs(20))
        .await;

    let answers = replicas.storm(&session, 30, &[0, 1, 2]).await;
    all_on_the_old_token(&answers, &session);
    assert_eq!(
        replicas.refreshes(),
        0,
        "no refresh without coordination while the request can do without one"
    );
    for store in &replicas.stores {
        assert!(!store.is_available());
        assert_eq!(store.fallbacks(), 0, "{store:?}");
    }
    let text = logs.text();
    assert_eq!(
        text.matches(UNAVAILABLE).count(),
        replicas.stores.len(),
        "one warning per replica for the outage:\n{text}"
    );
    for token in [&session.expired, &session.pair.refresh_token] {
        assert!(!text.contains(token.as_str()), "a token in the logs");
    }
}
