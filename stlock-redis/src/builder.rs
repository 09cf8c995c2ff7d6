//! [`RedisStoreBuilder`]: where Redis is, and how long a refresh may hold others up.

use std::time::Duration;

use redis::{Client, IntoConnectionInfo, RedisError};

use crate::error::BuildError;
use crate::settings::Settings;
use crate::store::RedisStore;

/// Builds a [`RedisStore`]: every setting has a default, and
/// [`build`](RedisStoreBuilder::build) reports an unusable Redis URL or setting.
///
/// ```
/// use std::time::Duration;
/// use stlock_redis::RedisStore;
///
/// # fn main() -> Result<(), stlock_redis::BuildError> {
/// let store = RedisStore::builder("redis://:secret@127.0.0.1:6379/0")
///     .prefix("myapp:refresh:")
///     .lock_expiry(Duration::from_secs(20))
///     .poll_interval(Duration::from_millis(50))
///     .connect_timeout(Duration::from_secs(1))
///     .command_timeout(Duration::from_millis(500))
///     .build()?;
/// # drop(store); Ok(()) }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Debug)]
pub struct RedisStoreBuilder {
    client: Result<Client, RedisError>,
    settings: Settings,
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
}

impl RedisStoreBuilder {
    pub(crate) fn new(client: Result<Client, RedisError>) -> Self {
        Self {
            client,
            settings: Settings::default(),
        }
    }

    /// What every key starts with ([`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX)): set one per app sharing a Redis.
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// let builder = RedisStore::builder("redis://127.0.0.1/").prefix("shop:refresh:");
    /// # drop(builder);
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// How long a replica holds the lock while it calls the service ([`DEFAULT_LOCK_EXPIRY`](crate::DEFAULT_LOCK_EXPIRY)).
    /// Keep it longer than the client's timeout ([`stlock::Config::timeout`]): a lock that
    /// lapses under a refresh in flight lets a replica that never saw it present the same
    /// refresh token. It is not how long others wait (the client's timeout is), but how long a
    /// holder that died keeps its token from being refreshed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use stlock_redis::RedisStore;
    /// // For a client configured with `.timeout(Duration::from_secs(20))`:
    /// let builder = RedisStore::builder("redis://127.0.0.1/").lock_expiry(Duration::from_secs(25));
    /// # drop(builder);
    /// ```
    pub fn lock_expiry(mut self, expiry: Duration) -> Self {
        self.settings.lock_expiry = expiry;
        self
    }

    /// How often a replica waiting on another's refresh looks for its outcome
    /// ([`DEFAULT_POLL_INTERVAL`](crate::DEFAULT_POLL_INTERVAL)): one cheap command per waiting replica each time, for at most
    /// the client's timeout.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use stlock_redis::RedisStore;
    /// let builder = RedisStore::builder("redis://127.0.0.1/").poll_interval(Duration::from_millis(10));
    /// # drop(builder);
    /// ```
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// How long connecting to Redis may take ([`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use stlock_redis::RedisStore;
    /// let builder = RedisStore::builder("redis://127.0.0.1/").connect_timeout(Duration::from_secs(1));
    /// # drop(builder);
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// How long one Redis command may take ([`DEFAULT_COMMAND_TIMEOUT`](crate::DEFAULT_COMMAND_TIMEOUT)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use stlock_redis::RedisStore;
    /// let builder = RedisStore::builder("redis://127.0.0.1/").command_timeout(Duration::from_millis(100));
    /// # drop(builder);
    /// ```
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.settings.command_timeout = timeout;
        self
    }

    /// The store. Nothing connects yet: the first refresh does, so an app starts while Redis is
    /// down (and treats it as down until it is up).
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// assert!(RedisStore::builder("not a url").build().is_err());
    /// assert!(RedisStore::builder("redis://127.0.0.1/").build().is_ok());
    /// ```
    pub fn build(self) -> Result<RedisStore, BuildError> {
        let settings = self.settings;
        for (setting, value) in [
            ("lock_expiry", settings.lock_expiry),
            ("poll_interval", settings.poll_interval),
            ("connect_timeout", settings.connect_timeout),
            ("command_timeout", settings.command_timeout),
        ] {
            // Redis counts expiries in whole milliseconds; a zero deadline would fail every call.
            if value < Duration::from_millis(1) {
                return Err(BuildError::InvalidSetting {
                    setting,
                    reason: "at least one millisecond",
                });
            }
        }
        Ok(RedisStore::new(self.client?, settings))
    }
}
