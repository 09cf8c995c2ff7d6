//! Where Redis is, one server or a cluster, and the one connection type the store's commands go
//! through either way: everything above this module is the same code for both.

use std::fmt;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, ConnectionAddr, Pipeline, RedisFuture, RedisResult, Value};

use crate::settings::Settings;

/// The Redis a store talks to.
pub(crate) enum Target {
    /// One server (or a proxy that looks like one).
    Server(Client),
    /// A Redis Cluster, found through its seed nodes.
    Cluster {
        client: ClusterClient,
        /// The seed nodes' addresses, for `Debug` (without credentials).
        seeds: Vec<ConnectionAddr>,
    },
}

impl Target {
    /// A connection for commands. On one server, the connection manager: it connects on its
    /// first command, and connects again by itself after a failure. On a cluster, the cluster
    /// client's connection: it connects to a seed node now and learns which node serves which
    /// slot, then routes each command by its keys' slot, following redirections and connecting
    /// to nodes again by itself. Either way the deadlines are [`Settings`]'s (set on the client
    /// when the store was built, for a cluster).
    pub(crate) async fn connect(&self, settings: &Settings) -> RedisResult<Connection> {
        match self {
            Self::Server(client) => ConnectionManager::new_lazy_with_config(
                client.clone(),
                settings.connection_config(),
            )
            .map(Connection::Server),
            Self::Cluster { client, .. } => client
                .get_async_connection()
                .await
                .map(|connection| Connection::Cluster(Box::new(connection))),
        }
    }

    /// Where Redis is, as the store's `Debug` shows it: addresses and database, never a
    /// password.
    pub(crate) fn describe(&self, out: &mut fmt::DebugStruct<'_, '_>) {
        match self {
            Self::Server(client) => {
                let info = client.get_connection_info();
                out.field("redis", &Address(info.addr()))
                    .field("db", &info.redis_settings().db());
            }
            Self::Cluster { seeds, .. } => {
                out.field("cluster", &Seeds(seeds));
            }
        }
    }
}

/// A connection to one server or to a cluster: cheap to clone, clones share it.
#[derive(Clone)]
pub(crate) enum Connection {
    Server(ConnectionManager),
    // Boxed: the cluster connection is several times the size of the manager.
    Cluster(Box<ClusterConnection>),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// An address as `host:port` (or a socket's path).
struct Address<'a>(&'a ConnectionAddr);

impl fmt::Debug for Address<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

/// The seed nodes' addresses.
struct Seeds<'a>(&'a [ConnectionAddr]);

impl fmt::Debug for Seeds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(Address)).finish()
    }
}
