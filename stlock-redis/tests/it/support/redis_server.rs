//! Debian's `redis-server` on a free loopback port, stopped when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

pub struct RedisServer {
    port: u16,
    process: Option<Child>,
}

impl RedisServer {
    /// A server on a port no one listens on now. Another test may take that port before the
    /// server binds it, and the server then exits: it is started again on another.
    pub async fn start() -> Self {
        for _ in 0..10 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free loopback port")
                .port();
            if let Some(server) = Self::try_start_on(port).await {
                return server;
            }
        }
        panic!("redis-server exited at once on ten free ports in turn");
    }

    /// A server on `port`, once it answers.
    pub async fn start_on(port: u16) -> Self {
        Self::try_start_on(port)
            .await
            .unwrap_or_else(|| panic!("redis-server exited at once on port {port}"))
    }

    /// A server on `port` once it answers, or `None` if it exits first (the port taken).
    async fn try_start_on(port: u16) -> Option<Self> {
        let process = spawn(port, &[]);
        let mut server = Self {
            port,
            process: Some(process),
        };
        server.wait_until_ready().await.then_some(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A connection of the test's own, to look at or change what the stores keep.
    pub async fn connection(&self) -> MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("a valid URL")
            .get_multiplexed_async_connection()
            .await
            .expect("the test's connection to Redis")
    }

    /// How many connections ran `command` last (`CLIENT LIST`'s `cmd`): a connection's last
    /// command is the one it sent, and the answer to it is on its way once this says so.
    pub async fn connections_last_running(&self, command: &str) -> usize {
        let mut connection = self.connection().await;
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut connection)
            .await
            .expect("CLIENT LIST");
        let field = format!(" cmd={command} ");
        list.lines().filter(|line| line.contains(&field)).count()
    }

    /// How many times a script was run (`EVALSHA`, as the stores run them) since it started.
    pub async fn script_runs(&self) -> u64 {
        let mut connection = self.connection().await;
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut connection)
            .await
            .expect("INFO commandstats");
        stats
            .lines()
            .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |calls| calls.parse().expect("a count"))
    }

    /// Stalls the server for `duration` (`DEBUG SLEEP`), from a connection of its own: Redis
    /// answers nobody meanwhile. The task ends when the server answers again.
    pub async fn stall(&self, duration: Duration) -> tokio::task::JoinHandle<()> {
        // Without the client's default deadline on answers (500 ms), which the stall outlasts.
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        let mut connection = redis::Client::open(self.url())
            .expect("a valid URL")
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("the test's connection to Redis");
        tokio::spawn(async move {
            let () = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(duration.as_secs_f64())
                .query_async(&mut connection)
                .await
                .expect("DEBUG SLEEP (the server allows it from loopback)");
        })
    }

    /// Kills the server, as a crash would, and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Whether the server answers, and is ours; false if ours exited before it did.
    async fn wait_until_ready(&mut self) -> bool {
        wait_until_ours(self.port, &mut self.process, Duration::from_secs(10)).await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether the redis-server `process` started on `port` answers there within `patience`, and is
/// ours (by its process id: another test's server may hold the port); false, and `process`
/// cleared, if ours exited first.
pub async fn wait_until_ours(port: u16, process: &mut Option<Child>, patience: Duration) -> bool {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("a valid URL");
    let ours = format!("process_id:{}\r\n", process.as_ref().map_or(0, Child::id));
    let deadline = Instant::now() + patience;
    loop {
        if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
            let info: redis::RedisResult<String> = redis::cmd("INFO")
                .arg("server")
                .query_async(&mut connection)
                .await;
            if info.is_ok_and(|info| info.contains(&ours)) {
                return true;
            }
        }
        let exited = process
            .as_mut()
            .is_none_or(|process| !matches!(process.try_wait(), Ok(None)));
        if exited {
            *process = None;
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} did not answer within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts redis-server on loopback `port`, keeping nothing on disk, with `DEBUG SLEEP` allowed
/// (to stall it as a slow disk or a long command would) and these further arguments.
pub fn spawn(port: u16, extra: &[&std::ffi::OsStr]) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(["--enable-debug-command", "local"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "redis-server cannot be started ({err}): these tests need Debian's \
                 redis-server package (`bash .ci/test` installs it)"
            )
        })
}
