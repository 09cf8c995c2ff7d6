//! [`RedisStoreBuilder`]: where Redis is, and how long a refresh may hold others up.

use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::{Client, RedisError};

use crate::error::BuildError;
use crate::store::RedisStore;

/// How long a replica holds the lock while it calls the service by default: 15 s, longer than
/// the client's own deadline ([`stlock::config::DEFAULT_TIMEOUT`], 10 s), so that a lock never
/// expires under a refresh still in flight (which would let a second replica present the same
/// refresh token). Others wait no longer than the client's timeout for it; a holder that died
/// keeps new requests for its token waiting (and then answered as unavailable) until it lapses.
///
/// ```
/// assert!(stlock_redis::DEFAULT_LOCK_EXPIRY > stlock::config::DEFAULT_TIMEOUT);
/// ```
pub const DEFAULT_LOCK_EXPIRY: Duration =
    Duration::from_secs(stlock::config::DEFAULT_TIMEOUT.as_secs() + 5);
/// What every key starts with by default.
///
/// ```
/// assert_eq!(stlock_redis::DEFAULT_PREFIX, "stlock:refresh:");
/// ```
pub const DEFAULT_PREFIX: &str = "stlock:refresh:";
/// How often a waiting replica looks for the outcome by default: 25 ms, small beside the
/// service's own answer time, and one cheap command per waiting replica each time.
///
/// ```
/// assert_eq!(stlock_redis::DEFAULT_POLL_INTERVAL, std::time::Duration::from_millis(25));
/// ```
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How long connecting to Redis may take by default: short, so that a Redis that is down costs
/// a request little before it goes on without it.
///
/// ```
/// assert!(stlock_redis::DEFAULT_CONNECT_TIMEOUT <= std::time::Duration::from_secs(1));
/// ```
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one Redis command may take by default; Redis answers in well under a millisecond
/// on a local network, so waiting longer only delays a request that must go on without it.
///
/// ```
/// assert!(stlock_redis::DEFAULT_COMMAND_TIMEOUT <= std::time::Duration::from_secs(1));
/// ```
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);

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

/// A [`RedisStore`]'s settings, checked.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) prefix: String,
    pub(crate) lock_expiry: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            lock_expiry: DEFAULT_LOCK_EXPIRY,
            poll_interval: DEFAULT_POLL_INTERVAL,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }
}

impl Settings {
    /// How long a stored outcome is kept, given how long it is remembered: that long, but at
    /// least long enough for a replica that looked just before it was stored to see it on its
    /// next look, whatever the grace window (even zero). Those who read it after its grace
    /// window are still told when that ended, and remember it no longer.
    pub(crate) fn keep_outcome(&self, remember: Duration) -> Duration {
        remember.max(self.poll_interval + self.call_deadline())
    }

    /// The deadline of one Redis call: connecting (when the connection is being made again)
    /// and the command itself.
    pub(crate) fn call_deadline(&self) -> Duration {
        self.connect_timeout + self.command_timeout
    }

    /// The connection manager's own deadlines, the same as ours; a connection that fails is
    /// tried again by the next call rather than retried in the background, so a Redis back up
    /// is used from the very next request.
    pub(crate) fn connection_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout))
            .set_number_of_retries(0)
    }
}

impl RedisStoreBuilder {
    pub(crate) fn new(client: Result<Client, RedisError>) -> Self {
        Self {
            client,
            settings: Settings::default(),
        }
    }

    /// What every key starts with ([`DEFAULT_PREFIX`]): set one per app sharing a Redis.
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

    /// How long a replica holds the lock while it calls the service ([`DEFAULT_LOCK_EXPIRY`]).
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
    /// ([`DEFAULT_POLL_INTERVAL`]): one cheap command per waiting replica each time, for at most
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

    /// How long connecting to Redis may take ([`DEFAULT_CONNECT_TIMEOUT`]).
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

    /// How long one Redis command may take ([`DEFAULT_COMMAND_TIMEOUT`]).
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
