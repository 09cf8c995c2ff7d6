//! What the emulator's server allows a connection: its deadlines and how many at once.

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

/// Longest duration taken as given; longer ones are cut to this. Deadlines are computed as
/// `now + duration`, which must not overflow, and a year is "never" for a connection.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The deadlines and the connection cap of the emulator's server, for
/// [`EmulatorBuilder::limits`](crate::EmulatorBuilder::limits).
///
/// | limit | default | what happens when it is reached |
/// |---|---|---|
/// | [`header_read_timeout`](Self::header_read_timeout) | 10 s | the request head is not complete this long after the connection began waiting for it: the connection is closed, without an answer |
/// | [`body_read_timeout`](Self::body_read_timeout) | 30 s | the body is not complete this long after the emulator began reading it: the answer is 408, and the connection is closed after it |
/// | [`idle_timeout`](Self::idle_timeout) | 5 s | no request in flight and no byte of a next one received for this long (HTTP/2: no stream in flight, whatever frames arrive): the connection is closed (HTTP/2: `GOAWAY`) |
/// | [`max_connections`](Self::max_connections) | 512 | further connections wait in the listener's accept queue until one closes |
/// | [`shutdown_timeout`](Self::shutdown_timeout) | 10 s | after shutdown (or a connection's own close) began, what is still running is dropped |
/// | [`http2_keep_alive_interval`](Self::http2_keep_alive_interval) | 20 s | HTTP/2 only: a `PING` is sent when the peer has been silent this long |
/// | [`http2_keep_alive_timeout`](Self::http2_keep_alive_timeout) | 20 s | HTTP/2 only: a `PING` unanswered this long closes the connection |
///
/// Setters take any duration; one above a year is taken as a year. A zero duration makes that
/// deadline pass at once.
///
/// ```
/// use std::time::Duration;
/// use stlock_emulator::Limits;
///
/// let limits = Limits::default()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(64);
/// # drop(limits);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub(super) header_read_timeout: Duration,
    pub(super) body_read_timeout: Duration,
    pub(super) idle_timeout: Duration,
    pub(super) max_connections: usize,
    pub(super) shutdown_timeout: Duration,
    http2_keep_alive_interval: Duration,
    http2_keep_alive_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
            http2_keep_alive_interval: Self::DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
            http2_keep_alive_timeout: Self::DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT,
        }
    }
}

impl Limits {
    /// Default [`header_read_timeout`](Self::header_read_timeout): 10 s.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`body_read_timeout`](Self::body_read_timeout): 30 s.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default [`idle_timeout`](Self::idle_timeout): 5 s. A client keeping connections alive
    /// lets them go before this, so that it never sends a request on a connection the emulator
    /// is closing.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default [`max_connections`](Self::max_connections): 512.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    /// Default [`shutdown_timeout`](Self::shutdown_timeout): 10 s.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`http2_keep_alive_interval`](Self::http2_keep_alive_interval): 20 s.
    pub const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
    /// Default [`http2_keep_alive_timeout`](Self::http2_keep_alive_timeout): 20 s.
    pub const DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

    /// How long a request head may take (default [`Self::DEFAULT_HEADER_READ_TIMEOUT`], 10 s),
    /// counted from when the connection began waiting for it: its acceptance, or the end of the
    /// previous answer. A connection whose head is not complete by then is closed.
    ///
    /// HTTP/1 has hyper enforce it (`header_read_timeout`, whose clock hyper starts as soon as
    /// the connection waits, so it also bounds an idle keep-alive connection), and the server's
    /// own watch too, which also covers a connection whose protocol is not known yet. On
    /// HTTP/2 a peer sends frames of its own between requests, so bytes do not show a head
    /// under way: there a connection with no stream in flight has the smaller of this and the
    /// [idle timeout](Self::idle_timeout).
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.min(MAX_DURATION);
        self
    }

    /// How long a request body may take (default [`Self::DEFAULT_BODY_READ_TIMEOUT`], 30 s), counted
    /// from the emulator's first read of it, in total: unlike a timeout between chunks, a
    /// client sending a byte now and then cannot stretch it.
    #[must_use]
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout.min(MAX_DURATION);
        self
    }

    /// How long a connection may wait for its next request with nothing received (default
    /// [`Self::DEFAULT_IDLE_TIMEOUT`], 5 s). Once a byte of the next request has arrived, the
    /// [`header_read_timeout`](Self::header_read_timeout) decides instead; since that one is
    /// counted from the same moment, an idle timeout above it has no effect. An HTTP/2
    /// connection waits whenever no stream is in flight, whatever frames its peer sends.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.min(MAX_DURATION);
        self
    }

    /// How many connections are served at once (default [`Self::DEFAULT_MAX_CONNECTIONS`], 512; at
    /// least 1). Each holds a permit from its acceptance to its close; while none is free,
    /// nothing is accepted, so further clients wait in the listener's accept queue (the
    /// kernel's backlog) and are served as permits come free.
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self
    }

    /// How long shutdown waits for in-flight requests (default [`Self::DEFAULT_SHUTDOWN_TIMEOUT`],
    /// 10 s) before dropping their connections. The same bound applies to a connection closed
    /// for being idle, while it says goodbye (an HTTP/2 `GOAWAY`).
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout.min(MAX_DURATION);
        self
    }

    /// HTTP/2: after how long without a frame from the peer a `PING` is sent (default
    /// [`Self::DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL`], 20 s), to find peers that went away during a
    /// long request.
    #[must_use]
    pub fn http2_keep_alive_interval(mut self, interval: Duration) -> Self {
        self.http2_keep_alive_interval = interval.min(MAX_DURATION);
        self
    }

    /// HTTP/2: how long a `PING` may go unanswered before the connection is closed (default
    /// [`Self::DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT`], 20 s).
    #[must_use]
    pub fn http2_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.http2_keep_alive_timeout = timeout.min(MAX_DURATION);
        self
    }

    /// hyper's connection builder, HTTP/1.1 and HTTP/2 (by prior knowledge, as gRPC clients
    /// speak it over plain TCP) on one port.
    pub(super) fn connection_builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            // The timer first: hyper needs one for `header_read_timeout`.
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(self.http2_keep_alive_interval)
            .keep_alive_timeout(self.http2_keep_alive_timeout);
        builder
    }
}
