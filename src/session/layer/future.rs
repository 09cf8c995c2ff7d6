//! The response future of [`SessionService`](super::SessionService).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{authorize, refuses_token, CallError, Replay};
use crate::refresh::BoxFuture;
use crate::session::{AccessToken, Session, SessionError};

/// The session's answer: a token, or why there is none.
type TokenFuture = BoxFuture<'static, Result<AccessToken, SessionError>>;

/// A refresh after a refusal: a new token, `None` when the session kept the one refused.
type RenewalFuture = BoxFuture<'static, Result<Option<AccessToken>, SessionError>>;

pin_project! {
    /// Response future of [`SessionService`](super::SessionService): the token (at once when it
    /// is not due), the inner service's future, and after a `401` for an invalid token, the
    /// refresh and the request sent again.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        // What only a due token, a refusal or a replay needs is boxed: the common request
        // moves this future, and it should be no larger than it must.
        Fetching {
            token: TokenFuture,
            pending: Option<Box<(S, Request<B>)>>,
            session: Session,
            replay: Option<Box<Replay<S>>>,
        },
        // `refusal` is what a `401` for an invalid token calls for: the token sent and the
        // session; `None` for a request sent again, whose `401` is the answer.
        Calling {
            #[pin]
            future: S::Future,
            refusal: Option<(AccessToken, Session)>,
            replay: Option<Box<Replay<S>>>,
        },
        Refreshing {
            refresh: RenewalFuture,
            refused: Option<S::Response>,
            replay: Option<Box<Replay<S>>>,
        },
        Replaying {
            replay: Option<Box<Replay<S>>>,
            token: AccessToken,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(super) fn calling(
        future: S::Future,
        token: AccessToken,
        session: Session,
        replay: Option<Box<Replay<S>>>,
    ) -> Self {
        Self {
            state: State::Calling {
                future,
                refusal: Some((token, session)),
                replay,
            },
        }
    }

    pub(super) fn fetching(
        session: Session,
        service: S,
        request: Request<B>,
        replay: Option<Box<Replay<S>>>,
    ) -> Self {
        let asking = session.clone();
        Self {
            state: State::Fetching {
                token: Box::pin(async move { asking.access_token().await }),
                pending: Some(Box::new((service, request))),
                session,
                replay,
            },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone,
    B: Default,
{
    type Output = Result<Response<ResBody>, CallError<S::Error>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Fetching {
                    token,
                    pending,
                    session,
                    replay,
                } => {
                    let token = ready!(token.as_mut().poll(cx)).map_err(CallError::Session)?;
                    let Some(pending) = pending.take() else {
                        return Poll::Ready(Err(CallError::Polled));
                    };
                    let (mut service, mut request) = *pending;
                    authorize(request.headers_mut(), &token);
                    State::Calling {
                        future: service.call(request),
                        refusal: Some((token, session.clone())),
                        replay: replay.take(),
                    }
                }
                StateProj::Calling {
                    future,
                    refusal,
                    replay,
                } => {
                    let response = ready!(future.poll(cx)).map_err(CallError::Service)?;
                    if !refuses_token(&response) {
                        return Poll::Ready(Ok(response));
                    }
                    let Some((rejected, session)) = refusal.take() else {
                        return Poll::Ready(Ok(response));
                    };
                    // Refused: refresh (once, however many requests saw this token refused).
                    // A request that can be sent again is, with the new token; one that cannot
                    // gets its `401`, and the next request the new token.
                    let replay = replay.take();
                    State::Refreshing {
                        refresh: Box::pin(async move {
                            let token = session.refresh_rejected(&rejected).await;
                            token.map(|token| (token != rejected).then_some(token))
                        }),
                        refused: Some(response),
                        replay,
                    }
                }
                StateProj::Refreshing {
                    refresh,
                    refused,
                    replay,
                } => {
                    let renewed = ready!(refresh.as_mut().poll(cx)).map_err(CallError::Session)?;
                    // Sent again only with another token, and only when it can be: else the
                    // refusal is the answer.
                    match (renewed, replay.take()) {
                        (Some(token), Some(replay)) => State::Replaying {
                            replay: Some(replay),
                            token,
                        },
                        _ => {
                            return Poll::Ready(
                                refused.take().map(Ok).unwrap_or(Err(CallError::Polled)),
                            )
                        }
                    }
                }
                StateProj::Replaying { replay, token } => {
                    let Some(replaying) = replay.as_mut() else {
                        return Poll::Ready(Err(CallError::Polled));
                    };
                    ready!(replaying.service.poll_ready(cx)).map_err(CallError::Service)?;
                    let mut request = replaying.request::<B>();
                    authorize(request.headers_mut(), token);
                    let Some(replaying) = replay.take() else {
                        return Poll::Ready(Err(CallError::Polled));
                    };
                    let mut service = replaying.service;
                    State::Calling {
                        future: service.call(request),
                        refusal: None,
                        replay: None,
                    }
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

impl<S: Service<Request<B>>, B> std::fmt::Debug for ResponseFuture<S, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
