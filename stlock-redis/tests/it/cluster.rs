//! A real Redis Cluster of three masters: one refresh per token across replicas, each knowing
//! the cluster through a different seed node; then a master stalled and killed, and the tokens
//! whose keys it served treated as with Redis down, while the others' are still coordinated.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use stlock::refresh::{RefreshOutcome, RefreshStore};
use stlock_redis::{RedisStore, DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PREFIX};
use tokio::time::Instant;

use crate::support::app::{all_on_the_old_token, one_new_pair, Replicas, Session};
use crate::support::redis_cluster::RedisCluster;
use crate::support::{keys_of, refresh, within};

/// The deadline of one Redis call with the default settings: connecting, and the command.
const CALL: Duration = DEFAULT_CONNECT_TIMEOUT.saturating_add(DEFAULT_COMMAND_TIMEOUT);
/// What a request may take beyond the calls it waits for: its own round trips, on a loaded
/// machine.
const MARGIN: Duration = Duration::from_millis(750);

#[tokio::test]
async fn sixty_requests_spread_over_three_replicas_on_a_cluster_refresh_exactly_once() {
    let cluster = RedisCluster::start(&[]).await;
    // Each replica knows one node, a different one: it learns the others from it.
    let seeds = cluster.urls();
    let next = AtomicUsize::new(0);
    let replicas = Replicas::start_on(
        3,
        || RedisStore::cluster_builder([seeds[next.fetch_add(1, Ordering::Relaxed)].as_str()]),
        |config| config,
    )
    .await;
    let mut connection = cluster.connection().await;
    let mut masters = Vec::new();
    // Several rounds, each a fresh session (its keys on whichever master): a race that passes
    // once by luck fails here.
    for round in 0..3 {
        let session = replicas.session(&format!("user{round}")).await;
        replicas.refresh_once_in_a_storm(&session, round).await;

        // The two keys of the token are on one slot, as the cluster itself tells; the outcome
        // is kept there, the lock let go.
        let (lock, outcome) = keys_of(DEFAULT_PREFIX, &session.pair.refresh_token);
        let slot = cluster.slot(&lock).await;
        assert_eq!(cluster.slot(&outcome).await, slot);
        let kept: Vec<bool> = vec![
            within(connection.exists(&lock)).await.expect("EXISTS"),
            within(connection.exists(&outcome)).await.expect("EXISTS"),
        ];
        assert_eq!(
            kept,
            [false, true],
            "round {round}: the lock let go, the outcome kept"
        );
        masters.push(cluster.master_of(slot).await);
    }
    for store in &replicas.stores {
        assert!(store.is_available(), "{store:?}");
        assert_eq!(store.fallbacks(), 0, "{store:?}");
        assert_eq!(store.unopened(), 0, "{store:?}");
    }
    eprintln!("the sessions' keys were on the masters on ports {masters:?}");
}

/// Sessions until one whose keys are (or are not, per `on`) on the master at `port`: a token's
/// slot cannot be chosen, only found.
async fn session_on(
    replicas: &Replicas,
    cluster: &RedisCluster,
    name: &str,
    expired: Duration,
    port: u16,
    on: bool,
) -> Session {
    for n in 0..60 {
        let session = replicas
            .session_expired(&format!("{name}{n}"), expired)
            .await;
        let (lock, _) = keys_of(DEFAULT_PREFIX, &session.pair.refresh_token);
        if (cluster.master_of(cluster.slot(&lock).await).await == port) == on {
            return session;
        }
    }
    panic!("sixty sessions, and none whose keys are where wanted");
}

/// A token whose keys are on the master at `port`.
async fn token_on(cluster: &RedisCluster, port: u16) -> String {
    for n in 0.. {
        let token = format!("probe{n}");
        let (lock, _) = keys_of(DEFAULT_PREFIX, &token);
        if cluster.master_of(cluster.slot(&lock).await).await == port {
            return token;
        }
    }
    unreachable!()
}

// With `cluster-require-full-coverage no`, the masters left serve their slots whatever the
// timing; with `yes` (Redis's default) the whole cluster refuses once the others have marked the
// killed master failed (`cluster-node-timeout`, 15 s by default), and every token is then
// treated as with Redis down. What this test relies on is the killed master's own slots: a call
// for a key there fails at once, whichever the setting.
#[tokio::test]
async fn with_a_master_stalled_or_killed_its_tokens_are_refreshed_as_with_redis_down_and_the_others_coordinated(
) {
    let mut cluster = RedisCluster::start(&["--cluster-require-full-coverage", "no"]).await;
    let leeway = Duration::from_secs(30);
    let urls = cluster.urls();
    let replicas = Replicas::start_on(
        3,
        || RedisStore::cluster_builder(urls.clone()),
        |config| config.leeway(leeway),
    )
    .await;

    // The master to fail: the one serving a first session's keys. That session's access token
    // is still within the leeway; a second's, on the same master, is past it.
    let inside = replicas
        .session_expired("inside", leeway - Duration::from_secs(20))
        .await;
    let (lock, _) = keys_of(DEFAULT_PREFIX, &inside.pair.refresh_token);
    let failing = cluster.master_of(cluster.slot(&lock).await).await;
    let past = session_on(&replicas, &cluster, "past", 2 * leeway, failing, true).await;
    let elsewhere = session_on(&replicas, &cluster, "elsewhere", 2 * leeway, failing, false).await;
    assert_eq!(replicas.refreshes(), 0);

    // A store of its own, connected (its first call made), then the master stalls: a call for a
    // key it serves is cut at the call's deadline, and a refresh that cannot wait goes ahead
    // coordinated within this replica.
    let probe = RedisStore::cluster_builder(urls.clone())
        .build()
        .expect("store");
    let calls = Arc::new(AtomicUsize::new(0));
    let grace = Duration::from_secs(10);
    let token = token_on(&cluster, failing).await;
    within(probe.coordinate(refresh("warm-up", &calls, RefreshOutcome::Refused, grace))).await;
    assert!(probe.is_available());
    cluster.stall(failing, Duration::from_secs(5)).await;
    let started = Instant::now();
    let settled =
        within(probe.coordinate(refresh(&token, &calls, RefreshOutcome::Refused, grace))).await;
    let took = started.elapsed();
    assert!(matches!(settled.outcome, RefreshOutcome::Refused));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the exchange was made");
    assert!(
        took < CALL + MARGIN,
        "a stalled master holds a call up {took:?}"
    );
    assert!(!probe.is_available());
    assert_eq!(probe.fallbacks(), 1);

    // The master dies (in its sleep).
    cluster.kill(failing);

    // Inside the leeway: every request goes on with its old token, nothing refreshed.
    let started = Instant::now();
    let answers = replicas.storm(&inside, 30, &[0, 1, 2]).await;
    all_on_the_old_token(&answers, &inside);
    assert_eq!(replicas.refreshes(), 0, "no refresh without coordination");
    for answer in &answers {
        assert!(answer.took < CALL + MARGIN, "{:?}", answer.took);
    }
    for store in &replicas.stores {
        assert!(!store.is_available(), "{store:?}");
        assert_eq!(store.fallbacks(), 0, "{store:?}");
    }

    // Past it: the requests on one replica share one refresh, coordinated there.
    let answers = replicas.storm(&past, 20, &[0]).await;
    one_new_pair(&answers, &past);
    assert_eq!(replicas.refreshes(), 1);
    assert_eq!(
        replicas.stores[0].fallbacks(),
        1,
        "{:?}",
        replicas.stores[0]
    );
    assert!(!replicas.stores[0].is_available());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a dead master costs a request little: {:?}",
        started.elapsed()
    );

    // A token whose keys another master serves is still coordinated across the replicas, and
    // `is_available` tells of the last call, which answered.
    let answers = replicas.storm(&elsewhere, 60, &[0, 1, 2]).await;
    one_new_pair(&answers, &elsewhere);
    assert_eq!(replicas.refreshes(), 2, "one refresh for it");
    for (n, store) in replicas.stores.iter().enumerate() {
        assert!(store.is_available(), "{store:?}");
        assert_eq!(store.fallbacks(), u64::from(n == 0), "{store:?}");
    }
}
