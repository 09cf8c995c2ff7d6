//! A Redis Cluster of three masters on loopback: Debian's `redis-server`, three times with
//! `--cluster-enabled yes`, joined by `redis-cli --cluster create` (Debian's `redis-tools`), each
//! process killed when dropped.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::Duration;

use redis::cluster_async::ClusterConnection;
use redis::Value;
use tokio::time::Instant;

use super::redis_server::{spawn, wait_until_ours};

/// Redis Cluster's bus: each node listens on its port plus this, for the other nodes.
const BUS_OFFSET: u16 = 10_000;

/// How long a cluster may take to form on a loaded machine (`redis-cli` alone waits a second or
/// two for the nodes to agree).
const FORMING: Duration = Duration::from_secs(30);

pub struct RedisCluster {
    nodes: Vec<Node>,
    /// The nodes' files, removed with the cluster.
    dir: tempfile::TempDir,
}

struct Node {
    port: u16,
    process: Option<Child>,
}

impl RedisCluster {
    /// Three masters sharing the 16384 slots, every node reporting `cluster_state:ok`. `extra`
    /// goes to every `redis-server` (a setting of the cluster's). Ports are picked free, with
    /// their bus ports; another test may take one before the server binds it, and the server
    /// then exits: the cluster is started again on other ports.
    pub async fn start(extra: &[&str]) -> Self {
        for _ in 0..5 {
            if let Some(cluster) = Self::try_start(extra).await {
                return cluster;
            }
        }
        panic!("a node of a new Redis Cluster exited at once, five times in turn");
    }

    async fn try_start(extra: &[&str]) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a directory for the nodes' files");
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
        };
        for port in free_ports(3) {
            let conf = cluster.dir.path().join(format!("nodes-{port}.conf"));
            let mut args: Vec<&OsStr> = ["--cluster-enabled", "yes", "--cluster-config-file"]
                .map(OsStr::new)
                .to_vec();
            args.extend([
                conf.as_os_str(),
                OsStr::new("--dir"),
                cluster.dir.path().as_os_str(),
            ]);
            args.extend(extra.iter().map(OsStr::new));
            let process = spawn(port, &args);
            cluster.nodes.push(Node {
                port,
                process: Some(process),
            });
        }
        for index in 0..cluster.nodes.len() {
            if !cluster.wait_until_answering(index).await {
                return None;
            }
        }

        let addresses: Vec<String> = cluster
            .ports()
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let created = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output();
        let created = tokio::time::timeout(FORMING, created)
            .await
            .expect("redis-cli --cluster create within 30 s")
            .unwrap_or_else(|err| {
                panic!(
                    "redis-cli cannot be started ({err}): the cluster tests need Debian's \
                     redis-tools package (`bash .ci/test` installs it)"
                )
            });
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed:\n{}\n{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.wait_until_ok().await;
        Some(cluster)
    }

    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    /// Every node's URL, as seed nodes.
    pub fn urls(&self) -> Vec<String> {
        self.ports().into_iter().map(url).collect()
    }

    /// A connection of the test's own to one node (no cluster routing): to ask it about the
    /// cluster, or about its own keys.
    pub async fn node(&self, port: u16) -> redis::aio::MultiplexedConnection {
        redis::Client::open(url(port))
            .expect("a valid URL")
            .get_multiplexed_async_connection()
            .await
            .expect("the test's connection to a node")
    }

    /// A cluster connection of the test's own, to look at what the stores keep.
    pub async fn connection(&self) -> ClusterConnection {
        redis::cluster::ClusterClient::new(self.urls())
            .expect("valid URLs")
            .get_async_connection()
            .await
            .expect("the test's connection to the cluster")
    }

    /// The slot of `key`, as the cluster itself computes it (`CLUSTER KEYSLOT`).
    pub async fn slot(&self, key: &str) -> u16 {
        let port = self.alive().next().expect("a live node");
        let mut node = self.node(port).await;
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut node)
            .await
            .expect("CLUSTER KEYSLOT")
    }

    /// The port of the master serving `slot` (`CLUSTER SLOTS`, asked of a live node).
    pub async fn master_of(&self, slot: u16) -> u16 {
        let port = self.alive().next().expect("a live node");
        let mut node = self.node(port).await;
        let ranges: Vec<Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut node)
            .await
            .expect("CLUSTER SLOTS");
        for range in ranges {
            let Value::Array(range) = range else {
                panic!("a slot range: {range:?}");
            };
            let (Value::Int(first), Value::Int(last), Value::Array(master)) =
                (&range[0], &range[1], &range[2])
            else {
                panic!("a slot range: {range:?}");
            };
            if (*first..=*last).contains(&i64::from(slot)) {
                let Value::Int(port) = master[1] else {
                    panic!("a master: {master:?}");
                };
                return u16::try_from(port).expect("a port");
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// Stalls the node on `port` for `duration` (`DEBUG SLEEP`), from a connection of its own:
    /// it answers nobody meanwhile. Returns once the node has received the command.
    pub async fn stall(&self, port: u16, duration: Duration) {
        // Without the client's default deadline on answers, which the stall outlasts.
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        let mut connection = redis::Client::open(url(port))
            .expect("a valid URL")
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("the test's connection to a node");
        // Connected before the sleep, which would hold up its handshake.
        let mut probe = self.node(port).await;
        let mut command = redis::cmd("DEBUG");
        command.arg("SLEEP").arg(duration.as_secs_f64());
        tokio::spawn(async move {
            // The node may be killed in its sleep: the answer does not matter.
            let _: redis::RedisResult<()> = command.query_async(&mut connection).await;
        });
        // The node is asleep once it no longer answers a PING of another connection promptly.
        // (A PING slower than that on loopback, the sleep not begun yet, is possible on a
        // loaded machine but harmless: the sleep was sent first, and begins next.)
        let deadline = Instant::now() + Duration::from_secs(10);
        let ping = redis::cmd("PING");
        loop {
            if tokio::time::timeout(
                Duration::from_millis(200),
                ping.query_async::<String>(&mut probe),
            )
            .await
            .is_err()
            {
                return;
            }
            assert!(Instant::now() < deadline, "node {port} never stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Kills the node on `port`, as a crash would, and waits until it is gone.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .expect("a node of the cluster");
        node.kill();
    }

    fn alive(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|node| node.process.is_some())
            .map(|node| node.port)
    }

    /// Whether the node answers, and is ours; false if ours exited first.
    async fn wait_until_answering(&mut self, index: usize) -> bool {
        let node = &mut self.nodes[index];
        wait_until_ours(node.port, &mut node.process, FORMING).await
    }

    /// Waits until every node reports the cluster whole: `cluster_state:ok` (every slot
    /// served, as that node sees it) and the three nodes known. Polled, under a deadline.
    async fn wait_until_ok(&self) {
        let deadline = Instant::now() + FORMING;
        for port in self.ports() {
            let mut node = self.node(port).await;
            loop {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut node)
                    .await
                    .expect("CLUSTER INFO");
                if info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {port} never reported the cluster whole:\n{info}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

impl Node {
    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }
}

fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// `count` ports no one listens on now, nor on their bus ports, all distinct: each is held
/// (with its bus port) until all are found, then let go for the servers to bind.
fn free_ports(count: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..1_000 {
        if ports.len() == count {
            return ports;
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("its address").port();
        let Some(bus) = port.checked_add(BUS_OFFSET) else {
            continue;
        };
        if let Ok(bus) = TcpListener::bind(("127.0.0.1", bus)) {
            held.extend([listener, bus]);
            ports.push(port);
        }
    }
    panic!("no {count} free loopback ports with free bus ports");
}
