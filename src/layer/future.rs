//! The response future of [`StlockService`](super::StlockService).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::refresh::flow::{Attach, Renewal};
use crate::refresh::BoxFuture;
use crate::rejection::{polled_after_completion, reject, RejectionBody, RejectionHandler};
use crate::telemetry;

pin_project! {
    /// Response future of [`StlockService`](super::StlockService): the inner service's future,
    /// a rejection that is ready at once, or, for a token due for a refresh, the refresh and then
    /// the inner service's future, whose response gets the new pair.
    pub struct ResponseFuture<S, Req, B, R>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, B, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, B, R>
    where
        S: Service<Req>,
    {
        // What only a refresh needs is boxed: every other request moves this future (into
        // axum's boxed route future, for one), and it should be no larger than it must.
        Calling { #[pin] future: S::Future, attach: Option<Box<Attach>> },
        Renewing {
            renewal: BoxFuture<'static, Renewal>,
            pending: Option<Box<(S, Req, R)>>,
            record_user: bool,
        },
        Ready { response: Option<Response<B>> },
    }
}

impl<S, ReqBody, B, R> ResponseFuture<S, Request<ReqBody>, B, R>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling {
                future,
                attach: None,
            },
        }
    }

    pub(crate) fn ready(response: Response<B>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn renewing(
        renewal: BoxFuture<'static, Renewal>,
        service: S,
        request: Request<ReqBody>,
        rejection: R,
        record_user: bool,
    ) -> Self {
        Self {
            state: State::Renewing {
                renewal,
                pending: Some(Box::new((service, request, rejection))),
                record_user,
            },
        }
    }
}

impl<S, ReqBody, B, R> Future for ResponseFuture<S, Request<ReqBody>, B, R>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    R: RejectionHandler,
    B: RejectionBody,
{
    type Output = Result<Response<B>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Calling { future, attach } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(attach) = attach.take() {
                        attach.apply(response.headers_mut());
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Renewing {
                    renewal,
                    pending,
                    record_user,
                } => {
                    let renewal = ready!(renewal.as_mut().poll(cx));
                    let Some(pending) = pending.take() else {
                        return Poll::Ready(Ok(polled_after_completion()));
                    };
                    let (mut service, mut request, rejection) = *pending;
                    match renewal {
                        Renewal::Admitted(user, renewed) => {
                            super::admitted(&user, *record_user);
                            request.extensions_mut().insert(user);
                            let attach = renewed.map(|renewed| {
                                renewed.hand_over(request.headers_mut());
                                Box::new(renewed.into_attach())
                            });
                            State::Calling {
                                future: service.call(request),
                                attach,
                            }
                        }
                        Renewal::Refused(error, attach) => {
                            telemetry::authentication_of(|| error.counted());
                            let mut response = reject(&rejection, &error, request.headers());
                            if let Some(attach) = attach {
                                attach.apply(response.headers_mut());
                            }
                            State::Ready {
                                response: Some(response),
                            }
                        }
                    }
                }
                StateProj::Ready { response } => {
                    return Poll::Ready(Ok(response.take().unwrap_or_else(polled_after_completion)))
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

impl<S: Service<Req>, Req, B, R> std::fmt::Debug for ResponseFuture<S, Req, B, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
