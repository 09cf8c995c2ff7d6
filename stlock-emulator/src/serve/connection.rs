//! One accepted connection: its requests marked in flight, and its supervision until it closes.

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::server::graceful::GracefulConnection;
use pin_project_lite::pin_project;
use tokio::sync::watch;
use tower_service::Service;

use super::activity::{Activity, Busy};
use super::{Limits, RequestBody};

/// Runs one connection until it ends, has waited too long for a request, or the server stops;
/// the last two close it gracefully, letting in-flight requests finish for at most the
/// shutdown timeout.
pub(super) async fn supervise(
    connection: impl GracefulConnection,
    activity: &Activity,
    limits: &Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let mut connection = pin!(connection);
    tokio::select! {
        // Closed by the client, by hyper (a late head, a protocol error), or done.
        _ = connection.as_mut() => return,
        () = activity.waited_too_long(limits.idle_timeout, limits.header_read_timeout) => {}
        // An error means the server is gone: stop as well.
        _ = stopping.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    // Whatever is still running after the grace period is dropped with the connection.
    let _ = tokio::time::timeout(limits.shutdown_timeout, connection).await;
}

/// The application's service, seeing [`RequestBody`] and marking each request in flight until
/// its answer has been sent.
#[derive(Clone, Debug)]
pub(super) struct Tracked<S> {
    inner: S,
    activity: Activity,
    body_read_timeout: Duration,
}

impl<S> Tracked<S> {
    pub(super) fn new(inner: S, activity: Activity, body_read_timeout: Duration) -> Self {
        Self {
            inner,
            activity,
            body_read_timeout,
        }
    }
}

impl<S, B> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<RequestBody>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let busy = self.activity.busy();
        let timeout = self.body_read_timeout;
        let answer = self
            .inner
            .call(request.map(|body| RequestBody::new(body, timeout)));
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| TrackedBody { body, _busy: busy }))
        })
    }
}

pin_project! {
    /// An answer's body, keeping its request in flight until hyper is done with it.
    pub(super) struct TrackedBody<B> {
        #[pin]
        body: B,
        _busy: Busy,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
