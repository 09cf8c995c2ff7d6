//! What a [`RedisStore`](crate::RedisStore) is configured with, and the defaults.

use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::cluster::ClusterClient;
use redis::{ConnectionInfo, RedisResult};

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

/// A [`RedisStore`](crate::RedisStore)'s settings, checked.
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

    /// A cluster client for `seeds` with the same deadlines: connecting to a node, and one
    /// command. The client's own bound on a command with its retries (redirections after a
    /// resharding or a failover, a node connected again) is one call's deadline, as the store's
    /// is; its waits between retries are a few milliseconds, so that one fits in it (its
    /// default, over a second, never would).
    pub(crate) fn cluster_client(&self, seeds: Vec<ConnectionInfo>) -> RedisResult<ClusterClient> {
        ClusterClient::builder(seeds)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.command_timeout)
            .overall_response_timeout(Some(self.call_deadline()))
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(CLUSTER_RETRY_WAIT.0)
            .max_retry_wait(CLUSTER_RETRY_WAIT.1)
            .build()
    }
}

/// How many times the cluster client sends a command again: after a redirection (`MOVED`,
/// `ASK`), a node connected again, or a cluster that is not ready (`TRYAGAIN`, `CLUSTERDOWN`).
/// A few are enough for a redirection and a reconnection in a row; the call's deadline bounds
/// them all.
const CLUSTER_RETRIES: u32 = 3;
/// The shortest and longest wait before the cluster client sends a command again, in ms.
const CLUSTER_RETRY_WAIT: (u64, u64) = (5, 50);
