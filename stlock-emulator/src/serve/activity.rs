//! What a connection is doing, as its watch needs to know: how many requests are in flight,
//! whether bytes have arrived since the last one ended, and whether it speaks HTTP/2.
//!
//! hyper closes an HTTP/1 connection whose head is late, but has no deadline for an HTTP/2
//! connection without streams, nor for a connection that has not yet sent enough bytes to tell
//! its protocol. The watch closes those, whatever the protocol.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

/// Shared by a connection's socket, its requests and its watch.
#[derive(Clone, Debug)]
pub(super) struct Activity(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    requests: watch::Sender<Requests>,
    /// Reads that returned bytes, ever: only compared with an earlier count.
    reads: AtomicU64,
    /// The connection began with the HTTP/2 preface. Its peer sends frames of its own (settings,
    /// pings, window updates) between requests, so bytes say nothing about a request coming.
    http2: AtomicBool,
}

/// The requests of a connection, and since when it has been waiting for one.
#[derive(Clone, Copy, Debug)]
struct Requests {
    in_flight: usize,
    /// Requests begun, ever: only compared with an earlier count. A watch keeps only the latest
    /// value, so a request that begins and ends between two looks leaves `in_flight` as it
    /// was; this count still moves.
    started: u64,
    /// When the connection began waiting: its acceptance, or the end of its last request.
    waiting_since: Instant,
    /// `reads` at that moment.
    reads_then: u64,
}

/// A request in flight, from its head until its answer has been sent (or dropped).
#[derive(Debug)]
pub(super) struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        let shared = &self.0 .0;
        shared.requests.send_modify(|requests| {
            requests.in_flight = requests.in_flight.saturating_sub(1);
            if requests.in_flight == 0 {
                requests.waiting_since = Instant::now();
                requests.reads_then = shared.reads.load(Ordering::Relaxed);
            }
        });
    }
}

impl Activity {
    /// The activity of a connection accepted just now.
    pub(super) fn new() -> Self {
        Self(Arc::new(Shared {
            requests: watch::Sender::new(Requests {
                in_flight: 0,
                started: 0,
                waiting_since: Instant::now(),
                reads_then: 0,
            }),
            reads: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        }))
    }

    /// Marks a request as in flight until the returned guard is dropped.
    pub(super) fn busy(&self) -> Busy {
        self.0.requests.send_modify(|requests| {
            requests.in_flight += 1;
            requests.started += 1;
        });
        Busy(self.clone())
    }

    /// Returns once the connection has waited too long for a request: `idle` with nothing
    /// received, or `head` (counted from the same moment) without a complete head. Waiting
    /// starts at acceptance and whenever the last request in flight ends. Never returns while
    /// a request is in flight. HTTP/2 gets `idle` whatever it receives: a stream in flight is
    /// the only sign of a request there.
    pub(super) async fn waited_too_long(&self, idle: Duration, head: Duration) {
        let mut requests = self.0.requests.subscribe();
        loop {
            let waiting = until(&mut requests, |requests| requests.in_flight == 0).await;
            // Not `in_flight > 0`: a whole request may come and go before this looks again, and
            // then waiting would still be counted from before it.
            let started = waiting.started;
            let request_starts = until(&mut requests, |requests| requests.started != started);
            if timeout_at(waiting.waiting_since + idle.min(head), request_starts)
                .await
                .is_ok()
            {
                continue;
            }
            // Bytes arrived since: a request is on its way, and has until the head deadline.
            let http2 = self.0.http2.load(Ordering::Relaxed);
            let received = self.0.reads.load(Ordering::Relaxed) != waiting.reads_then;
            if head > idle && received && !http2 {
                let request_starts = until(&mut requests, |requests| requests.started != started);
                if timeout_at(waiting.waiting_since + head, request_starts)
                    .await
                    .is_ok()
                {
                    continue;
                }
            }
            return;
        }
    }
}

/// Waits until the requests satisfy `condition`, and returns them as they were then.
async fn until(
    requests: &mut watch::Receiver<Requests>,
    condition: impl Fn(&Requests) -> bool,
) -> Requests {
    // Copied out at once: the guard `wait_for` returns would block the sender.
    let now = requests
        .wait_for(|requests| condition(requests))
        .await
        .map(|guard| *guard);
    match now {
        Ok(requests) => requests,
        // Cannot happen while `Activity` (which holds the sender) is alive; never wake.
        Err(_) => std::future::pending().await,
    }
}

/// What a client sends first to speak HTTP/2 without TLS (RFC 9113, section 3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection's socket, counting the reads that bring bytes and telling whether the
/// connection opened with the HTTP/2 preface.
#[derive(Debug)]
pub(super) struct Metered {
    stream: TcpStream,
    activity: Activity,
    /// How many of the first bytes matched the preface; `None` once one did not.
    preface_matched: Option<usize>,
}

impl Metered {
    pub(super) fn new(stream: TcpStream, activity: Activity) -> Self {
        Self {
            stream,
            activity,
            preface_matched: Some(0),
        }
    }

    fn saw(&mut self, bytes: &[u8]) {
        self.activity.0.reads.fetch_add(1, Ordering::Relaxed);
        let Some(matched) = self.preface_matched else {
            return;
        };
        let wanted = &HTTP2_PREFACE[matched..];
        let compared = wanted.len().min(bytes.len());
        self.preface_matched = if wanted[..compared] != bytes[..compared] {
            None
        } else if compared == wanted.len() {
            self.activity.0.http2.store(true, Ordering::Relaxed);
            None
        } else {
            Some(matched + compared)
        };
    }
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.saw(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Metered {
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

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use super::*;

    const IDLE: Duration = Duration::from_secs(1);
    const HEAD: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_request_that_comes_and_goes_between_two_looks_restarts_the_wait() {
        let activity = Activity::new();
        let mut watch = pin!(activity.waited_too_long(IDLE, HEAD));
        // One look: waiting since acceptance, for a request to begin.
        let looked = tokio::time::timeout(Duration::ZERO, watch.as_mut()).await;
        assert!(looked.is_err(), "no deadline has passed yet");
        tokio::time::advance(IDLE / 2).await;
        // A whole request, begun and answered before the watch looks again.
        drop(activity.busy());
        let answered = Instant::now();
        watch.await;
        assert_eq!(answered.elapsed(), IDLE, "idle counted from the answer");
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_in_flight_and_nothing_received_is_idle_at_the_idle_deadline() {
        let activity = Activity::new();
        let accepted = Instant::now();
        activity.waited_too_long(IDLE, HEAD).await;
        assert_eq!(accepted.elapsed(), IDLE);
    }
}
