//! Serving as a production app would: the part to copy, shared by the axum and tonic examples.
//!
//! Both examples serve on servers of the ecosystem: the axum app on hyper-util's connection
//! builder with tower-http's layers (`examples/axum_app/serve.rs`), the gRPC service on tonic's
//! own `Server` (`examples/tonic_app/service.rs`). What both lack lives here, in
//! [`incoming`], the stream of connections they serve:
//!
//! - **A cap on connections.** A connection is accepted only once it holds one of a fixed number
//!   of permits, and the [`Connection`] keeps its permit until it closes. Beyond the cap nothing
//!   is accepted, and further clients wait in the kernel's accept queue: every connection costs
//!   a task, buffers and a file descriptor, and a server that takes them all runs out of
//!   descriptors (a process may commonly open 1,024) long before it runs out of work it could
//!   do.
//! - **A bound on silence.** A connection from which nothing has been received for a while fails
//!   its next read, and its server closes it. hyper keeps no deadline while it waits for the
//!   HTTP/2 preface, so without this a client that connects and sends nothing (or half a
//!   preface) would hold its permit for ever on tonic's server. The bound is set above what a
//!   live client can be silent for: an HTTP/2 peer answers the keep-alive pings, and an HTTP/1
//!   client waits for its answer no longer than the request deadline.
//!
//! The bounds the examples share, and why each is there:
//!
//! | bound | value | why |
//! |---|---|---|
//! | [`MAX_CONNECTIONS`] | 512 at once | below the 1,024 file descriptors a process may commonly open, with room for the rest of it (the client of the STLock service, logs) |
//! | [`MAX_SILENCE`] | 60 s without a byte received | above the keep-alive ping's 20 s and its 20 s answer, and above the request deadline |
//! | [`REQUEST_DEADLINE`] | 30 s per request, its body included | a handler waiting on a stalled peer (the STLock service, a slow client's body) must not hold its connection for ever; 30 s is far above what a call here takes |
//! | [`HTTP2_KEEP_ALIVE_INTERVAL`], [`HTTP2_KEEP_ALIVE_TIMEOUT`] | a `PING` after 20 s of silence, 20 s to answer it | finds HTTP/2 peers that went away without closing, whose connections would otherwise hold a permit |
//! | [`SHUTDOWN_GRACE`] | 10 s | on Ctrl-C, requests in flight may finish; a client slower than that does not hold up the stop |
//!
//! Each example adds what its server needs on top (the head deadline and the body limit of the
//! axum app; the connection age and the message size of the gRPC service): see their modules.
//! A cap is a cap: a client that opens as many connections as it allows keeps others waiting
//! for as long as those connections may live. Limits per client belong to the reverse proxy or
//! load balancer in front of the app.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How many connections are served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// How long a connection may go without sending a byte before it is closed.
pub const MAX_SILENCE: Duration = Duration::from_secs(60);
/// How long a request may take, from its head to its answer (reading its body included).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// HTTP/2: after how long without a frame from the peer a `PING` is sent.
pub const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// HTTP/2: how long a `PING` may go unanswered before the connection is closed.
pub const HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stop waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Pause after an accept error that is not about one connection (out of file descriptors, say),
/// so that accepting does not spin while the cause lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The connections `listener` accepts, at most `max_connections` open at once (at least one),
/// each closed once nothing has been received on it for `max_silence`.
///
/// A permit comes first, then the connection: while none is free, nothing is accepted. Accept
/// errors are yielded (the servers skip them); one that is not about a single connection is
/// yielded after a short pause. Dropping the stream closes the listener.
pub fn incoming(
    listener: TcpListener,
    max_connections: usize,
    max_silence: Duration,
) -> impl Stream<Item = io::Result<Connection>> + Send {
    let permits = Arc::new(Semaphore::new(
        max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    futures_util::stream::unfold((listener, permits), move |(listener, permits)| async move {
        // The semaphore is never closed; were it, accept nothing more.
        let permit = Arc::clone(&permits).acquire_owned().await.ok()?;
        let accepted = match listener.accept().await {
            Ok((stream, _peer)) => {
                // Answers are small and written whole: send them at once. (tonic's own
                // `tcp_nodelay` applies only to the listener it binds itself.)
                let _ = stream.set_nodelay(true);
                Ok(Connection {
                    stream,
                    silence: Box::pin(tokio::time::sleep(max_silence)),
                    max_silence,
                    _permit: permit,
                })
            }
            Err(error) => {
                if !is_about_one_connection(&error) {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
                Err(error)
            }
        };
        Some((accepted, (listener, permits)))
    })
}

fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// An accepted connection, holding its permit until it is dropped. A read fails once nothing
/// has been received for the silence bound; its server then closes it.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    /// Passes `max_silence` after the last bytes received.
    silence: Pin<Box<Sleep>>,
    max_silence: Duration,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(read) => {
                if buf.filled().len() > before {
                    // A bound too far to count to stays where `sleep` put it: far in the future.
                    if let Some(next) = Instant::now().checked_add(this.max_silence) {
                        this.silence.as_mut().reset(next);
                    }
                }
                Poll::Ready(read)
            }
            // Waiting for bytes: as long as the bound allows.
            Poll::Pending => match this.silence.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("nothing received for {:?}", this.max_silence),
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// tonic hands the peer's address to the service (`Request::remote_addr`) from this.
impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}
