//! Redis stalled or killed while one replica holds a refresh and the others wait for it: the
//! waiting ones give up within the client's timeout, and never exchange the token themselves,
//! which would end the session once the holder's exchange lands too.

use std::sync::Arc;
use std::time::Duration;

use stlock::refresh::{Binding, Refresh, RefreshOutcome, RefreshStore, Settled};
use stlock::TokenPair;
use stlock_redis::RedisStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::app::{all_unavailable, Replicas, Session};
use crate::support::redis_server::RedisServer;
use crate::support::{until, within};

/// The client's timeout: short, so that a wait bounded by anything longer (the lock's expiry,
/// 15 s) shows.
const TIMEOUT: Duration = Duration::from_secs(2);
/// What a request may take beyond the client's timeout: its own round trips.
const MARGIN: Duration = Duration::from_millis(500);

/// A replica that holds the lock for a session's refresh and is calling the service: its call
/// goes out when released.
struct Holder {
    release: oneshot::Sender<()>,
    refresh: JoinHandle<Settled>,
}

impl Holder {
    /// Once the lock is taken: the exchange starts only under it.
    async fn start(replicas: &Replicas, redis: &RedisServer, session: &Session) -> Self {
        let store = RedisStore::builder(redis.url()).build().expect("store");
        let (started, holding) = oneshot::channel();
        let (release, released) = oneshot::channel::<()>();
        let client = replicas.client.clone();
        let token = session.pair.refresh_token.clone();
        let bound_to = Binding::of(Some(&session.expired));
        let grace = Duration::from_secs(10);
        let exchange = {
            let token = token.clone();
            Box::pin(async move {
                let _ = started.send(());
                let _ = released.await;
                let outcome = match client.refresh(&token).await {
                    Ok(pair) => RefreshOutcome::Refreshed(pair),
                    Err(error) => RefreshOutcome::Unavailable(Arc::new(error)),
                };
                Settled::now(outcome, bound_to, grace)
            })
        };
        let refresh = tokio::spawn(async move {
            store
                .coordinate(Refresh {
                    refresh_token: &token,
                    grace,
                    patience: TIMEOUT,
                    can_wait: false,
                    exchange,
                })
                .await
        });
        within(holding).await.expect("the holder calls the service");
        Self { release, refresh }
    }

    /// Lets the call to the service go, and returns the pair it came to.
    async fn finish(self) -> TokenPair {
        let _ = self.release.send(());
        let settled = within(self.refresh).await.expect("the holder's task");
        match settled.outcome {
            RefreshOutcome::Refreshed(pair) => pair,
            other => panic!("the holder's refresh: {other:?}"),
        }
    }
}

enum Failure {
    Stall,
    Crash,
}

/// Three replicas wait on a holder; Redis fails; then the holder's exchange lands.
async fn redis_fails_while_a_replica_holds_the_lock(failure: Failure) {
    let mut redis = RedisServer::start().await;
    let replicas = Replicas::start_with(
        3,
        &redis.url(),
        |store| store,
        |config| config.timeout(TIMEOUT),
    )
    .await;
    // Past the leeway: a request that got no refresh cannot go on, so a store tempted to
    // refresh by itself would.
    let session = replicas.session("alice").await;
    let holder = Holder::start(&replicas, &redis, &session).await;
    let storm = replicas.send(&session, 30, &[0, 1, 2]);
    // Every replica has asked Redis, and been told the lock is held: the holder's connection
    // and the three replicas' ran the scripts last.
    until("every replica waiting on the holder", || async {
        redis.connections_last_running("evalsha").await >= 4
    })
    .await;
    let stall = match failure {
        Failure::Stall => Some(redis.stall(TIMEOUT + Duration::from_secs(1)).await),
        Failure::Crash => {
            redis.kill();
            None
        }
    };

    let answers = storm.answers().await;
    all_unavailable(&answers);
    for answer in &answers {
        assert!(answer.took < TIMEOUT + MARGIN, "{:?}", answer.took);
    }
    assert_eq!(
        replicas.refreshes(),
        0,
        "no waiting replica exchanged the token"
    );
    for store in &replicas.stores {
        assert!(!store.is_available(), "Redis failed under it: {store:?}");
        assert_eq!(store.fallbacks(), 0, "{store:?}");
    }

    // The holder's exchange lands (storing its outcome fails or waits: it has it all the
    // same), and the session is whole: its new refresh token is live at the service.
    let pair = holder.finish().await;
    assert_eq!(replicas.refreshes(), 1);
    within(replicas.client.refresh(&pair.refresh_token))
        .await
        .expect("the session was not ended");
    if let Some(stall) = stall {
        within(stall).await.expect("the stall ends");
    }
}

#[tokio::test]
async fn redis_stalled_while_a_replica_holds_the_lock_ends_no_session_and_holds_no_request_past_the_timeout(
) {
    redis_fails_while_a_replica_holds_the_lock(Failure::Stall).await;
}

#[tokio::test]
async fn redis_killed_while_a_replica_holds_the_lock_ends_no_session_and_holds_no_request_past_the_timeout(
) {
    redis_fails_while_a_replica_holds_the_lock(Failure::Crash).await;
}
