//! [`RedisStore`]: one refresh per refresh token across every replica sharing a Redis.

use std::fmt;
use std::sync::Arc;

use stlock::refresh::{BoxFuture, Refresh, RefreshStore, Settled};

use crate::attempt::Attempt;
use crate::connection::Target;
use crate::settings::Settings;
use crate::shared::Shared;

/// A [`RefreshStore`] shared by every replica of an app through Redis: for each refresh token,
/// at most one replica calls the service, and every request on every replica presenting that
/// token, then and until the outcome's grace window closes, gets its outcome.
///
/// - Within a replica, racing requests first share one attempt through an
///   [`InProcessStore`](stlock::refresh::InProcessStore), which also runs it as a task of its own: a client that hangs up does
///   not cancel a refresh the service may already have answered.
/// - Across replicas, that attempt takes a lock in Redis unless an outcome is already there.
///   The holder calls the service and stores the outcome (a new pair or a refusal, sealed with
///   the SHA-256 of the access token that came with it and how long it is remembered), and
///   lets go; an unavailable service is not stored, so the next request tries again.
/// - A replica that finds the lock held waits for the outcome, looking every
///   [`poll_interval`](crate::RedisStoreBuilder::poll_interval) (polling rather than pub/sub: it
///   needs no connection of its own per waiting replica, cannot miss an outcome stored before
///   it started listening, and notices a lock let go without an outcome, which no message would
///   announce). It hands out the outcome dated as Redis kept it, so that its grace window closes
///   on every replica when it closes on the holder's.
/// - **It never presents a token another replica may have spent.** A replica that saw the lock
///   held, found an outcome that does not open, or saw the lock let go without an outcome,
///   answers [`RefreshOutcome::Unavailable`](stlock::refresh::RefreshOutcome::Unavailable)
///   with [`NotRefreshed`](crate::NotRefreshed): the request goes on with its old token while
///   the leeway accepts it, else gets 503 with `Retry-After`, and nobody is signed out. No
///   request waits longer than the client's timeout ([`Refresh::patience`]), whatever Redis or
///   the holder does.
/// - If Redis fails or is too slow before another replica was seen at the refresh, a request
///   that the leeway still lets go on with its old token does so, unrefreshed; only one past
///   the leeway, which would otherwise fail, refreshes coordinated within this replica alone.
///   [`is_available`](Self::is_available) and [`fallbacks`](Self::fallbacks) tell, and one
///   warning is logged per outage.
///
/// Built on one Redis server by [`RedisStore::builder`], on a Redis Cluster by
/// [`RedisStore::cluster_builder`]: the same code and behaviour on both. Cloning is cheap and
/// clones share everything. Its `Debug` shows where Redis is (the server's address and
/// database, or the cluster's seed nodes; never a password) and the settings, and it never logs
/// a token.
///
/// ```no_run
/// use stlock::refresh::AutoRefresh;
/// use stlock_redis::RedisStore;
///
/// # fn wire(auth: stlock::StlockLayer) -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder("redis://redis.internal:6379/").build()?;
/// let auth = auth.auto_refresh(AutoRefresh::cookies().store(store.clone()).build()?);
/// // For a health check or a metric:
/// let (up, fallbacks, unopened) = (store.is_available(), store.fallbacks(), store.unopened());
/// # drop((auth, up, fallbacks, unopened)); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

impl RedisStore {
    pub(crate) fn new(target: Target, settings: Settings) -> Self {
        Self {
            shared: Arc::new(Shared::new(target, settings)),
        }
    }

    /// Whether Redis answered the last call made to it (true before the first). While it is
    /// false, requests whose access token the leeway still accepts go on with it unrefreshed,
    /// and the others refresh coordinated within this replica only. On a Redis Cluster each call
    /// goes to the master of its token's keys, so with one master down this goes back and forth
    /// as requests come for tokens it serves and for others; [`fallbacks`](Self::fallbacks) is
    /// the one to alert on. With the `metrics` feature, also the gauge `stlock_redis_available`.
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1/").build().expect("a valid URL");
    /// assert!(store.is_available());
    /// ```
    pub fn is_available(&self) -> bool {
        self.shared.commands.health.is_available()
    }

    /// How many refreshes this replica has coordinated by itself because Redis failed or did not
    /// answer in time, since the store was built: a counter to alert on, since parallel requests
    /// landing on different replicas may then each refresh, and the service may end the session.
    /// With the `metrics` feature, also the counter `stlock_redis_fallbacks_total`.
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1/").build().expect("a valid URL");
    /// assert_eq!(store.fallbacks(), 0);
    /// ```
    pub fn fallbacks(&self) -> u64 {
        self.shared.commands.health.fallbacks()
    }

    /// How many outcomes found in Redis did not open, since the store was built. A replica
    /// never stores one that does not, so each was altered, copied from another key, or sealed
    /// by another version of this crate: a counter to alert on. The refresh is not made (the
    /// token may be spent), and the request is answered as if the service were unavailable.
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1/").build().expect("a valid URL");
    /// assert_eq!(store.unopened(), 0);
    /// ```
    pub fn unopened(&self) -> u64 {
        self.shared.integrity.unopened()
    }
}

impl RefreshStore for RedisStore {
    fn coordinate<'a>(&'a self, refresh: Refresh<'a>) -> BoxFuture<'a, Settled> {
        // Redis is reached through Tokio; outside a runtime there is only this process.
        if tokio::runtime::Handle::try_current().is_err() {
            return self.shared.local.coordinate(refresh);
        }
        let attempt = Attempt::new(&self.shared.settings.prefix, &refresh);
        let shared = Arc::clone(&self.shared);
        let exchange = refresh.exchange;
        let across = Box::pin(async move { attempt.run(&shared, exchange).await });
        self.shared.local.coordinate(Refresh {
            exchange: across,
            ..refresh
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.shared.settings;
        let mut out = f.debug_struct("RedisStore");
        self.shared.commands.target().describe(&mut out);
        out.field("prefix", &settings.prefix)
            .field("lock_expiry", &settings.lock_expiry)
            .field("poll_interval", &settings.poll_interval)
            .field("connect_timeout", &settings.connect_timeout)
            .field("command_timeout", &settings.command_timeout)
            .field("available", &self.is_available())
            .field("fallbacks", &self.fallbacks())
            .field("unopened", &self.unopened())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::time::Duration;

    use stlock::refresh::{Binding, RefreshOutcome};

    #[test]
    fn outside_a_runtime_the_refresh_is_coordinated_in_process_without_panicking() {
        let store = RedisStore::builder("redis://127.0.0.1:1/")
            .build()
            .expect("a valid URL");
        let grace = Duration::from_secs(1);
        let refresh = Refresh {
            refresh_token: "t",
            grace,
            patience: Duration::from_secs(1),
            can_wait: false,
            exchange: Box::pin(async move {
                Settled::now(RefreshOutcome::Refused, Binding::none(), grace)
            }),
        };
        let mut future = std::pin::pin!(store.coordinate(refresh));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let settled = loop {
            if let std::task::Poll::Ready(settled) = future.as_mut().poll(&mut cx) {
                break settled;
            }
        };
        assert!(matches!(settled.outcome, RefreshOutcome::Refused));
        assert_eq!(store.fallbacks(), 0, "no Redis call was tried");
        assert!(store.is_available());
    }
}
