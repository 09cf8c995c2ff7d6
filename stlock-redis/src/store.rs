//! [`RedisStore`]: one refresh per refresh token across every replica sharing a Redis.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand_core::{OsRng, RngCore};
use redis::{Client, IntoConnectionInfo};
use stlock::refresh::{BoxFuture, InProcessStore, RefreshOutcome, RefreshStore};
use tokio::time::Instant;

use crate::builder::{RedisStoreBuilder, Settings};
use crate::commands::{Acquired, Commands};
use crate::error::{Failure, LockWaitExpired};
use crate::keys::{hex, Keys};
use crate::seal;

/// A [`RefreshStore`] shared by every replica of an app through Redis: for each refresh token,
/// exactly one replica calls the service, and every request on every replica presenting that
/// token, then and for the grace window after, gets its outcome.
///
/// - Within a replica, racing requests first share one attempt through an
///   [`InProcessStore`], which also runs it as a task of its own: a client that hangs up does
///   not cancel a refresh the service may already have answered.
/// - Across replicas, that attempt takes a lock in Redis unless an outcome is already there.
///   The holder calls the service and stores the outcome (a new pair or a refusal) for the grace
///   window (at least one poll interval and call deadline, so that a replica already waiting
///   sees it even with a zero grace window); an unavailable service is not stored, and the lock is let go so the next request
///   tries again. The others poll every [`poll_interval`](RedisStoreBuilder::poll_interval):
///   polling rather than pub/sub because it needs no connection of its own per waiting replica,
///   cannot miss an outcome stored before it started listening, and notices a lock that lapsed,
///   which no message would announce. A lock that disappears without an outcome (its holder
///   failed, or died and the lock expired) is taken by the next poll. The wait is bounded by the
///   lock's expiry and one more poll; past that the answer is
///   [`RefreshOutcome::Unavailable`] with [`LockWaitExpired`].
/// - If Redis fails or is too slow, the refresh is coordinated in this replica only: no request
///   fails for Redis alone. [`is_available`](Self::is_available) and
///   [`fallbacks`](Self::fallbacks) tell, and one warning is logged per outage.
///
/// Cloning is cheap and clones share everything. Its `Debug` shows where Redis is (without a
/// password) and the settings, and it never logs a token.
///
/// ```no_run
/// use stlock::refresh::AutoRefresh;
/// use stlock_redis::RedisStore;
///
/// # fn wire(auth: stlock::StlockLayer) -> Result<(), stlock_redis::BuildError> {
/// let store = RedisStore::builder("redis://redis.internal:6379/").build()?;
/// let auth = auth.auto_refresh(AutoRefresh::cookies().store(store.clone()));
/// // For a health check or a metric:
/// let (up, fallbacks) = (store.is_available(), store.fallbacks());
/// # drop((auth, up, fallbacks)); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    commands: Commands,
    local: InProcessStore,
}

/// Where a request stands once it has looked at Redis.
enum Turn {
    /// Another replica's outcome.
    Settled(RefreshOutcome),
    /// The lock, held under this owner id: call the service.
    Lead(String),
    /// Another replica held the lock all along and left no outcome.
    GaveUp(Duration),
}

impl RedisStore {
    /// A builder for a store on the Redis at `target`: a URL such as
    /// `redis://:password@host:6379/0` (`rediss://` needs one of the redis crate's TLS
    /// features), or any other [`IntoConnectionInfo`]. A URL that cannot be used is reported
    /// by [`build`](RedisStoreBuilder::build). One Redis server: both keys of a token are used
    /// in one script, which Redis Cluster would refuse.
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1:6379/").build();
    /// assert!(store.is_ok());
    /// ```
    pub fn builder(target: impl IntoConnectionInfo) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Client::open(target))
    }

    /// A builder for a store on the Redis `client` connects to.
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://127.0.0.1:6379/")?;
    /// let store = RedisStore::builder_with_client(client).build()?;
    /// # drop(store); Ok(()) }
    /// ```
    pub fn builder_with_client(client: Client) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Ok(client))
    }

    pub(crate) fn new(client: Client, settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                commands: Commands::new(client, settings.clone()),
                settings,
                local: InProcessStore::new(),
            }),
        }
    }

    /// Whether Redis answered the last call made to it (true before the first). While it is
    /// false, refreshes are coordinated within this replica only.
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1/").build().expect("a valid URL");
    /// assert!(store.is_available());
    /// ```
    pub fn is_available(&self) -> bool {
        self.inner.commands.health.is_available()
    }

    /// How many refreshes this replica has coordinated by itself because Redis failed or did not
    /// answer in time, since the store was built: a counter to alert on, since during that time
    /// parallel requests landing on different replicas may each refresh, and the service may
    /// then end the session.
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1/").build().expect("a valid URL");
    /// assert_eq!(store.fallbacks(), 0);
    /// ```
    pub fn fallbacks(&self) -> u64 {
        self.inner.commands.health.fallbacks()
    }

    /// This replica's one attempt for `refresh_token`, coordinated with the other replicas.
    async fn across_replicas(
        &self,
        refresh_token: &str,
        grace: Duration,
        exchange: BoxFuture<'static, RefreshOutcome>,
    ) -> RefreshOutcome {
        let keys = Keys::new(&self.inner.settings.prefix, refresh_token);
        match self.take_turn(refresh_token, &keys).await {
            Ok(Turn::Settled(outcome)) => outcome,
            Ok(Turn::Lead(owner)) => {
                self.lead(refresh_token, &keys, &owner, grace, exchange)
                    .await
            }
            Ok(Turn::GaveUp(waited)) => {
                RefreshOutcome::Unavailable(Arc::new(LockWaitExpired { waited }))
            }
            Err(failure) => {
                self.inner.commands.health.fell_back(&failure);
                exchange.await
            }
        }
    }

    /// Looks for an outcome or takes the lock, and while another replica holds it, polls until
    /// one of those happens or the wait limit passes.
    async fn take_turn(&self, refresh_token: &str, keys: &Keys) -> Result<Turn, Failure> {
        let settings = &self.inner.settings;
        let owner = lock_owner()?;
        let started = Instant::now();
        let mut unopened = Vec::new();
        loop {
            match self.inner.commands.acquire(keys, &owner, &unopened).await? {
                Acquired::Outcome(value) => {
                    match seal::open(refresh_token, &keys.outcome, &value) {
                        Some(outcome) => return Ok(Turn::Settled(outcome)),
                        None => {
                            tracing::warn!(
                            "a refresh outcome stored in Redis does not open (altered, or copied \
                             from another key): taken for no outcome"
                        );
                            // Look again at once, past this value.
                            unopened = value;
                            continue;
                        }
                    }
                }
                Acquired::Lock => return Ok(Turn::Lead(owner)),
                Acquired::Held => {}
            }
            let waited = started.elapsed();
            let Some(left) = settings.wait_limit().checked_sub(waited) else {
                return Ok(Turn::GaveUp(waited));
            };
            tokio::time::sleep(settings.poll_interval.min(left)).await;
        }
    }

    /// Calls the service under the lock, stores what is worth storing, and lets go.
    async fn lead(
        &self,
        refresh_token: &str,
        keys: &Keys,
        owner: &str,
        grace: Duration,
        exchange: BoxFuture<'static, RefreshOutcome>,
    ) -> RefreshOutcome {
        let outcome = exchange.await;
        let keep = match seal::seal(refresh_token, &keys.outcome, &outcome) {
            Ok(sealed) => sealed.map(|value| (value, self.inner.settings.keep_outcome(grace))),
            Err(failure) => {
                tracing::warn!(error = %failure, "a refresh outcome could not be stored in Redis");
                None
            }
        };
        // A failure here is recorded (and logged once) by the call itself; this request has
        // its outcome either way, and the lock lapses by itself.
        let _ = self.inner.commands.finish(keys, owner, keep).await;
        outcome
    }
}

/// A lock owner id: random, so that a replica lets go only of a lock it still holds.
fn lock_owner() -> Result<String, Failure> {
    let mut id = [0u8; 16];
    OsRng.try_fill_bytes(&mut id)?;
    Ok(hex(&id))
}

impl RefreshStore for RedisStore {
    fn coordinate<'a>(
        &'a self,
        refresh_token: &'a str,
        grace: Duration,
        exchange: BoxFuture<'static, RefreshOutcome>,
    ) -> BoxFuture<'a, RefreshOutcome> {
        // Redis is reached through Tokio; outside a runtime there is only this process.
        if tokio::runtime::Handle::try_current().is_err() {
            return self.inner.local.coordinate(refresh_token, grace, exchange);
        }
        let store = self.clone();
        let token = refresh_token.to_owned();
        let across = Box::pin(async move { store.across_replicas(&token, grace, exchange).await });
        self.inner.local.coordinate(refresh_token, grace, across)
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.inner.commands.client().get_connection_info();
        let settings = &self.inner.settings;
        f.debug_struct("RedisStore")
            .field("redis", &format_args!("{}", info.addr()))
            .field("db", &info.redis_settings().db())
            .field("prefix", &settings.prefix)
            .field("lock_expiry", &settings.lock_expiry)
            .field("poll_interval", &settings.poll_interval)
            .field("connect_timeout", &settings.connect_timeout)
            .field("command_timeout", &settings.command_timeout)
            .field("available", &self.is_available())
            .field("fallbacks", &self.fallbacks())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[test]
    fn outside_a_runtime_the_refresh_is_coordinated_in_process_without_panicking() {
        let store = RedisStore::builder("redis://127.0.0.1:1/")
            .build()
            .expect("a valid URL");
        let exchange = Box::pin(async { RefreshOutcome::Refused });
        let mut future = std::pin::pin!(store.coordinate("t", Duration::from_secs(1), exchange));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let outcome = loop {
            if let std::task::Poll::Ready(outcome) = future.as_mut().poll(&mut cx) {
                break outcome;
            }
        };
        assert!(matches!(outcome, RefreshOutcome::Refused));
        assert_eq!(store.fallbacks(), 0, "no Redis call was tried");
    }
}
