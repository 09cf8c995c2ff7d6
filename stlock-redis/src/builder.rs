//! [`RedisStoreBuilder`]: where Redis is, and how long a refresh may hold others up.

use std::time::Duration;

use redis::{Client, ConnectionInfo, IntoConnectionInfo, RedisError};

use crate::connection::Target;
use crate::error::BuildError;
use crate::keys::prefix_keeps_keys_together;
use crate::settings::Settings;
use crate::store::RedisStore;

/// Builds a [`RedisStore`] on one Redis server ([`RedisStore::builder`]) or on a Redis Cluster
/// ([`RedisStore::cluster_builder`]), with the same settings either way: every setting has a
/// default, and [`build`](RedisStoreBuilder::build) reports an unusable Redis URL or setting.
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
    // `Debug` shows the connection info with its password redacted (the redis crate's own).
    redis: Result<Seed, RedisError>,
    settings: Settings,
}

/// Where the store's Redis is, as given to the builder: the cluster client is made by
/// [`RedisStoreBuilder::build`], with the deadlines set by then.
#[derive(Debug)]
enum Seed {
    Server(Client),
    Cluster(Vec<ConnectionInfo>),
}

impl RedisStore {
    /// A builder for a store on the Redis at `target`: a URL such as
    /// `redis://:password@host:6379/0` (`rediss://` needs one of the redis crate's TLS
    /// features), or any other [`IntoConnectionInfo`]. A URL that cannot be used is reported
    /// by [`build`](RedisStoreBuilder::build). One Redis server; for a Redis Cluster, see
    /// [`cluster_builder`](Self::cluster_builder).
    ///
    /// ```
    /// # use stlock_redis::RedisStore;
    /// let store = RedisStore::builder("redis://127.0.0.1:6379/").build();
    /// assert!(store.is_ok());
    /// ```
    pub fn builder(target: impl IntoConnectionInfo) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Client::open(target).map(Seed::Server))
    }

    /// A builder for a store on the Redis Cluster that `nodes` belong to: seed nodes' URLs,
    /// such as `redis://:password@10.0.0.1:6379` (or any other [`IntoConnectionInfo`]), one or
    /// more. The store connects to them on its first refresh, learns from one that answers
    /// which node serves which slot, and then sends each script to the master of its keys' slot,
    /// following the cluster as it changes (a resharding, a failover); a few seed nodes are
    /// enough, each able to tell about the whole cluster.
    ///
    /// Every setting of [`builder`](Self::builder) applies, its deadlines included: connecting
    /// to a node, one command, and one call with whatever the cluster client does for it
    /// (redirections, connecting again). Both keys of a refresh token carry its digest as their
    /// hash tag (`{…}`), so they are on one slot, as the scripts that use them together need.
    ///
    /// [`build`](RedisStoreBuilder::build) reports a URL that cannot be used, no node at all,
    /// nodes with different passwords, users or TLS modes, and a database other than 0
    /// (a cluster has no other).
    ///
    /// ```
    /// use std::time::Duration;
    /// use stlock_redis::RedisStore;
    ///
    /// # fn main() -> Result<(), stlock_redis::BuildError> {
    /// let store = RedisStore::cluster_builder([
    ///     "redis://:secret@10.0.0.1:6379",
    ///     "redis://:secret@10.0.0.2:6379",
    ///     "redis://:secret@10.0.0.3:6379",
    /// ])
    /// .prefix("myapp:refresh:")
    /// .command_timeout(Duration::from_millis(500))
    /// .build()?;
    /// # drop(store); Ok(()) }
    /// ```
    pub fn cluster_builder<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> RedisStoreBuilder {
        let nodes: Result<Vec<ConnectionInfo>, RedisError> = nodes
            .into_iter()
            .map(IntoConnectionInfo::into_connection_info)
            .collect();
        RedisStoreBuilder::new(nodes.map(Seed::Cluster))
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
        RedisStoreBuilder::new(Ok(Seed::Server(client)))
    }
}

impl RedisStoreBuilder {
    fn new(redis: Result<Seed, RedisError>) -> Self {
        Self {
            redis,
            settings: Settings::default(),
        }
    }

    /// What every key starts with ([`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX)): set one per app sharing a Redis.
    /// Keys are `<prefix>lock:{<sha256>}` and `<prefix>outcome:{<sha256>}`, the braces being
    /// Redis Cluster's hash tag; so a prefix may hold a `{` only if a `}` of its own closes it
    /// with something between (the tag is then the prefix's, and every key of the app is on one
    /// slot), else [`build`](RedisStoreBuilder::build) refuses it: the two keys of a token would
    /// be on two slots.
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
    /// assert!(RedisStore::cluster_builder(["redis://127.0.0.1:7000/", "not a url"]).build().is_err());
    /// assert!(RedisStore::cluster_builder(["redis://127.0.0.1:7000/"]).build().is_ok());
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
        if !prefix_keeps_keys_together(&settings.prefix) {
            return Err(BuildError::InvalidSetting {
                setting: "prefix",
                reason: "a `{` only if a `}` of the prefix closes it, with something between: \
                         both keys of a token must be on one Redis Cluster slot",
            });
        }
        let target = match self.redis? {
            Seed::Server(client) => Target::Server(client),
            Seed::Cluster(seeds) => {
                if seeds.is_empty() {
                    return Err(BuildError::InvalidSetting {
                        setting: "cluster_builder",
                        reason: "at least one seed node",
                    });
                }
                if seeds.iter().any(|seed| seed.redis_settings().db() != 0) {
                    return Err(BuildError::InvalidSetting {
                        setting: "cluster_builder",
                        reason: "database 0, a Redis Cluster's only one",
                    });
                }
                Target::Cluster {
                    seeds: seeds.iter().map(|seed| seed.addr().clone()).collect(),
                    client: settings.cluster_client(seeds)?,
                }
            }
        };
        Ok(RedisStore::new(target, settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The setting a refused build names, or `None` for a store built.
    fn refused(builder: RedisStoreBuilder) -> Option<String> {
        match builder.build() {
            Ok(_) => None,
            Err(BuildError::InvalidSetting { setting, .. }) => Some(setting.to_owned()),
            Err(BuildError::Redis(error)) => Some(format!("redis: {error}")),
        }
    }

    #[test]
    fn a_cluster_store_is_built_from_seed_nodes_in_any_form() {
        let seeds = vec![
            "redis://127.0.0.1:7000/".to_owned(),
            "redis://127.0.0.1:7001".to_owned(),
        ];
        assert_eq!(refused(RedisStore::cluster_builder(seeds)), None);
        assert_eq!(
            refused(RedisStore::cluster_builder([("127.0.0.1", 7000)])),
            None
        );
        // The cluster's only database, said explicitly.
        assert_eq!(
            refused(RedisStore::cluster_builder(["redis://127.0.0.1:7000/0"])),
            None
        );
    }

    #[test]
    fn what_a_cluster_cannot_use_is_refused_without_a_panic() {
        assert_eq!(
            refused(RedisStore::cluster_builder(Vec::<String>::new())).as_deref(),
            Some("cluster_builder"),
            "no node at all"
        );
        assert_eq!(
            refused(RedisStore::cluster_builder(["redis://127.0.0.1:7000/3"])).as_deref(),
            Some("cluster_builder"),
            "a database other than 0"
        );
        for nodes in [
            ["redis://127.0.0.1:7000/", "not a url"],
            [
                "redis://:hunter-one@127.0.0.1:7000/",
                "redis://:hunter-two@127.0.0.1:7001/",
            ],
            [
                "redis://alice:hunter-one@127.0.0.1:7000/",
                "redis://bob:hunter-one@127.0.0.1:7001/",
            ],
            ["redis://127.0.0.1:7000/", "redis+unix:///tmp/redis.sock"],
        ] {
            let refusal = refused(RedisStore::cluster_builder(nodes)).expect("refused");
            assert!(refusal.starts_with("redis: "), "{nodes:?}: {refusal}");
            for secret in ["hunter-one", "hunter-two"] {
                assert!(!refusal.contains(secret), "a password in {refusal}");
            }
        }
    }

    #[test]
    fn a_prefix_that_would_split_a_tokens_keys_over_two_slots_is_refused() {
        for prefix in ["app{", "a{b:", "x{}:"] {
            for builder in [
                RedisStore::builder("redis://127.0.0.1/"),
                RedisStore::cluster_builder(["redis://127.0.0.1:7000/"]),
            ] {
                assert_eq!(refused(builder.prefix(prefix)).as_deref(), Some("prefix"));
            }
        }
        for prefix in ["", "app:", "{app}:", "a}b:"] {
            assert_eq!(
                refused(RedisStore::builder("redis://127.0.0.1/").prefix(prefix)),
                None
            );
        }
    }

    #[test]
    fn the_settings_are_checked_for_a_cluster_as_for_one_server() {
        let zero = RedisStore::cluster_builder(["redis://127.0.0.1:7000/"])
            .command_timeout(Duration::ZERO);
        assert_eq!(refused(zero).as_deref(), Some("command_timeout"));
    }
}
