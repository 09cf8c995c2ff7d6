//! The request body that [`serve`](super::serve) hands to the emulator's routes: hyper's, under
//! a deadline for the whole body.
//!
//! Not `tower_http::timeout::RequestBodyTimeoutLayer`: its timer starts afresh with every
//! chunk, so a client sending one byte just before each timeout keeps a connection forever.

use std::error::Error as StdError;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use tokio::time::Sleep;

type BoxError = Box<dyn StdError + Send + Sync>;

pin_project! {
    /// The body of a request served by [`serve`](super::serve): the bytes as they arrive, failing
    /// with [`BodyTimeout`] once the [body deadline](super::Limits::body_read_timeout) has passed.
    ///
    /// The deadline starts with the first read, so a handler that answers without reading the
    /// body (or before reading it) is not hurried.
    pub(crate) struct RequestBody {
        #[pin]
        incoming: Incoming,
        timeout: Duration,
        #[pin]
        deadline: Option<Sleep>,
    }
}

impl RequestBody {
    pub(super) fn new(incoming: Incoming, timeout: Duration) -> Self {
        Self {
            incoming,
            timeout,
            deadline: None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if this.deadline.is_none() {
            this.deadline.set(Some(tokio::time::sleep(*this.timeout)));
        }
        // What has arrived is handed over even at the deadline; only waiting is cut short.
        if let Poll::Ready(frame) = this.incoming.as_mut().poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(BoxError::from)));
        }
        match this.deadline.as_pin_mut().map(|deadline| deadline.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Some(Err(Box::new(BodyTimeout {
                limit: *this.timeout,
            })))),
            _ => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why reading a [`RequestBody`] failed: it had not all arrived by its deadline. axum wraps
/// body errors in its own; [`find`](Self::find) looks through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request body did not arrive within {limit:?}")]
pub(crate) struct BodyTimeout {
    /// The body deadline that passed.
    limit: Duration,
}

impl BodyTimeout {
    /// The `BodyTimeout` among `error` and its [sources](StdError::source), if there is one.
    pub(crate) fn find<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a BodyTimeout> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(timeout) = error.downcast_ref::<BodyTimeout>() {
                return Some(timeout);
            }
            current = error.source();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_sees_a_body_timeout_through_the_error_that_wraps_it() {
        let timeout = BodyTimeout {
            limit: Duration::from_secs(30),
        };
        let wrapped: BoxError = Box::new(timeout);
        assert_eq!(BodyTimeout::find(wrapped.as_ref()), Some(&timeout));
        assert_eq!(
            wrapped.to_string(),
            "the request body did not arrive within 30s"
        );
        let other: BoxError = "something else".into();
        assert_eq!(BodyTimeout::find(other.as_ref()), None);
    }
}
