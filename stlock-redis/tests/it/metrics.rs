//! The `metrics` feature: `stlock_redis_available` set by every call, answered or failed, and
//! `stlock_redis_fallbacks_total` counted with `fallbacks()`, read through recorders of the
//! test's own, installed one after another as an app might install its exporter late.
//!
//! The recorders are the thread's (`set_default_local_recorder`), not the process's, so that the
//! other tests' stores, running at the same time, record nothing here: the test runs on Tokio's
//! current-thread runtime (`#[tokio::test]`'s default), where every task it starts, the stores'
//! refreshes included, runs on this thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use stlock::refresh::{Refresh, RefreshOutcome, RefreshStore};
use stlock_redis::RedisStore;

use crate::support::redis_server::RedisServer;
use crate::support::{refresh, within};

use stlock::metrics::{REDIS_AVAILABLE as AVAILABLE, REDIS_FALLBACKS as FALLBACKS};

/// What a recorder got since the last look: the gauge, the counter, and their descriptions.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    available: Option<f64>,
    fallbacks: Option<u64>,
    described: usize,
}

fn seen(snapshotter: &Snapshotter) -> Seen {
    let mut seen = Seen::default();
    for (key, _, description, value) in snapshotter.snapshot().into_vec() {
        assert!(key.key().labels().next().is_none(), "no labels: {key:?}");
        seen.described += usize::from(description.is_some());
        if !key.key().name().starts_with("stlock_redis_") {
            continue;
        }
        match (key.kind(), key.key().name(), value) {
            (MetricKind::Gauge, AVAILABLE, DebugValue::Gauge(value)) => {
                seen.available = Some(value.into_inner());
            }
            (MetricKind::Counter, FALLBACKS, DebugValue::Counter(count)) => {
                seen.fallbacks = Some(count);
            }
            other => panic!("an unexpected metric: {other:?}"),
        }
    }
    seen
}

/// A refresh of `token` that cannot go on without one (`can_wait` false): with Redis down, it
/// falls back to this replica.
fn urgent<'a>(token: &'a str, calls: &Arc<AtomicUsize>) -> Refresh<'a> {
    refresh(token, calls, RefreshOutcome::Refused, Duration::ZERO)
}

#[tokio::test]
async fn the_gauge_is_set_by_every_call_and_the_counter_counts_every_fallback() {
    let mut redis = RedisServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));

    // Installed when the store is built: the counter is known at 0 at once; both described by
    // stlock's `describe`.
    let first = DebuggingRecorder::new();
    let store = {
        let _installed = metrics::set_default_local_recorder(&first);
        stlock::metrics::describe();
        RedisStore::builder(redis.url()).build().expect("store")
    };
    let at_start = seen(&first.snapshotter());
    assert_eq!(at_start.fallbacks, Some(0), "{at_start:?}");
    assert_eq!(at_start.available, None, "no call made yet: {at_start:?}");
    assert_eq!(at_start.described, 1, "{at_start:?}");

    {
        let _installed = metrics::set_default_local_recorder(&first);
        within(store.coordinate(urgent("one", &calls))).await;
    }
    assert_eq!(seen(&first.snapshotter()).available, Some(1.0));

    // A recorder installed later gets the gauge from the next call, though nothing changed.
    let later = DebuggingRecorder::new();
    {
        let _installed = metrics::set_default_local_recorder(&later);
        within(store.coordinate(urgent("two", &calls))).await;
    }
    let seen_later = seen(&later.snapshotter());
    assert_eq!(seen_later.available, Some(1.0), "{seen_later:?}");
    assert_eq!(
        seen_later.fallbacks, None,
        "nothing counted: {seen_later:?}"
    );
    assert!(store.is_available());

    redis.kill();
    let down = DebuggingRecorder::new();
    {
        let _installed = metrics::set_default_local_recorder(&down);
        // One that falls back, one that goes on with its access token: both calls failed.
        within(store.coordinate(urgent("three", &calls))).await;
        let waiting = Refresh {
            can_wait: true,
            ..urgent("four", &calls)
        };
        let settled = within(store.coordinate(waiting)).await;
        assert!(matches!(settled.outcome, RefreshOutcome::Unavailable(_)));
    }
    let seen_down = seen(&down.snapshotter());
    assert_eq!(seen_down.available, Some(0.0), "{seen_down:?}");
    assert_eq!(seen_down.fallbacks, Some(1), "{seen_down:?}");
    assert_eq!(store.fallbacks(), 1);

    // Again a recorder installed during the outage: it gets the gauge at 0 from the next
    // failure, though Redis was down already, and that fallback.
    let during = DebuggingRecorder::new();
    {
        let _installed = metrics::set_default_local_recorder(&during);
        within(store.coordinate(urgent("five", &calls))).await;
    }
    let seen_during = seen(&during.snapshotter());
    assert_eq!(seen_during.available, Some(0.0), "{seen_during:?}");
    assert_eq!(seen_during.fallbacks, Some(1), "{seen_during:?}");
    assert_eq!(store.fallbacks(), 2);
    assert!(!store.is_available());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "every urgent refresh was made"
    );
}
