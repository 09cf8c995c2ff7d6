//! The response future of [`GrantService`](super::GrantService).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;
use tracing::Instrument as _;

use super::cache::GrantCache;
use super::Asked;
use crate::client::{Client, Error, GrantDecision, Refusal};
use crate::credentials::TokenSource;
use crate::path::PathError;
use crate::rejection::{
    polled_after_completion, reject, AuthError, RejectionBody, RejectionHandler,
};
use crate::telemetry::{self, GrantDecided, Timed};

/// The grant check of a cache miss, and what it means for the request. Boxed: it is the
/// client's `async fn`, whose type cannot be named, and it costs a network round trip anyway;
/// cache hits never build one.
type GrantCheck = Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send>>;

/// Asks the service, in a span of its own; remembers the answer, counts the check and records
/// how long the service took.
pub(super) fn check(client: Client, cache: GrantCache, asked: Asked) -> GrantCheck {
    let span = telemetry::grant_check_span(&asked.method, &asked.path);
    Box::pin(
        async move {
            let started = Instant::now();
            let answer = client
                .check_grant(&asked.token, &asked.method, &asked.path)
                .await;
            Timed::GrantCheck.took(started.elapsed());
            if let Ok(decision) = &answer {
                cache.insert(
                    &asked.token_id,
                    &asked.method,
                    &asked.path,
                    decision.allowed,
                );
            }
            let verdict = answer
                .map_err(|error| failure(error, &asked.origin))
                .and_then(|decision| allowed(decision, &asked.origin));
            let decided = decided(&verdict);
            decided.asked(cache.is_on()).count();
            tracing::Span::current().record("decision", decided.as_str());
            verdict
        }
        .instrument(span),
    )
}

/// The decision a check's verdict stands for.
fn decided(verdict: &Result<(), AuthError>) -> GrantDecided {
    match verdict {
        Ok(()) => GrantDecided::Allowed,
        Err(AuthError::GrantDenied { .. }) => GrantDecided::Denied,
        Err(AuthError::RevokedToken { .. }) => GrantDecided::Revoked,
        Err(AuthError::InvalidPath(_)) => GrantDecided::InvalidPath,
        Err(_) => GrantDecided::Unavailable,
    }
}

pin_project! {
    /// Response future of [`GrantService`](super::GrantService): the grant check (on a cache miss), then the inner
    /// service's future.
    pub struct ResponseFuture<S, Req, B, R>
    where
        S: Service<Req>,
    {
        #[pin]
        state: GrantState<S, Req, B, R>,
    }
}

pin_project! {
    #[project = GrantStateProj]
    enum GrantState<S, Req, B, R>
    where
        S: Service<Req>,
    {
        Checking { check: GrantCheck, pending: Option<(S, Req)>, rejection: R },
        Calling { #[pin] future: S::Future },
        Ready { response: Option<Response<B>> },
    }
}

impl<S, ReqBody, B, R> ResponseFuture<S, Request<ReqBody>, B, R>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    R: RejectionHandler,
    B: RejectionBody,
{
    pub(super) fn calling(future: S::Future) -> Self {
        Self {
            state: GrantState::Calling { future },
        }
    }

    pub(super) fn rejected(rejection: &R, error: AuthError, request: &Request<ReqBody>) -> Self {
        Self {
            state: GrantState::Ready {
                response: Some(reject(rejection, &error, request.headers())),
            },
        }
    }

    pub(super) fn checking(
        check: GrantCheck,
        service: S,
        request: Request<ReqBody>,
        rejection: R,
    ) -> Self {
        Self {
            state: GrantState::Checking {
                check,
                pending: Some((service, request)),
                rejection,
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
                GrantStateProj::Checking {
                    check,
                    pending,
                    rejection,
                } => {
                    let verdict = ready!(check.as_mut().poll(cx));
                    let Some((mut service, request)) = pending.take() else {
                        return Poll::Ready(Ok(polled_after_completion()));
                    };
                    match verdict {
                        Ok(()) => GrantState::Calling {
                            future: service.call(request),
                        },
                        Err(error) => GrantState::Ready {
                            response: Some(reject(rejection, &error, request.headers())),
                        },
                    }
                }
                GrantStateProj::Calling { future } => return future.poll(cx),
                GrantStateProj::Ready { response } => {
                    return Poll::Ready(Ok(response.take().unwrap_or_else(polled_after_completion)))
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

fn allowed(decision: GrantDecision, origin: &TokenSource) -> Result<(), AuthError> {
    if decision.allowed {
        Ok(())
    } else {
        Err(AuthError::GrantDenied {
            origin: origin.clone(),
        })
    }
}

/// What a failed grant check means for the request: the service's own refusals are passed on,
/// everything else fails closed.
fn failure(error: Error, origin: &TokenSource) -> AuthError {
    match error.status() {
        // A refusal of the app's API key or owner says nothing of the token: the app is
        // misconfigured, so the check is unavailable (503, the cause logged at warn), and the
        // client is not told its token was revoked.
        Some(_) if error.refusal().is_some_and(Refusal::is_configuration) => {
            AuthError::GrantUnavailable(Arc::new(error))
        }
        // The service no longer knows the token.
        Some(StatusCode::UNAUTHORIZED) => {
            tracing::debug!(%error, "the grant check was refused");
            AuthError::RevokedToken {
                origin: origin.clone(),
            }
        }
        // A 403 with a JSON body is a denial and never gets here; one without is a proxy's or a
        // firewall's, a refusal all the same.
        Some(StatusCode::FORBIDDEN) => AuthError::GrantDenied {
            origin: origin.clone(),
        },
        Some(StatusCode::UNPROCESSABLE_ENTITY) => AuthError::InvalidPath(PathError::Refused),
        _ => AuthError::GrantUnavailable(Arc::new(error)),
    }
}

impl<S: Service<Req>, Req, B, R> std::fmt::Debug for ResponseFuture<S, Req, B, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
