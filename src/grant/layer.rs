//! `GrantLayer`: asks the service whether the request's user may call its method and path.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::cache::GrantCache;
use crate::layer::polled_after_completion;
use crate::rejection::{reject, RejectionBody};
use crate::source::{find_token, Found};
use crate::{
    AuthError, Client, DefaultRejection, Error, GrantDecision, RejectionHandler, StlockUser,
    TokenSource,
};

/// How long a grant answer is reused by default.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// How many grant answers are kept by default.
pub const DEFAULT_CACHE_CAPACITY: u64 = 10_000;

/// A Tower layer that enforces the service's grant policies on each request.
///
/// Put it *inside* a [`StlockLayer`](crate::StlockLayer) (which verifies the token) and get it
/// from there with [`StlockLayer::grant_layer`](crate::StlockLayer::grant_layer), so both share
/// one client. For each request it asks the service (`POST /grant`, with the request's access
/// token) whether the user may call the request's method on its path (the path as this layer
/// sees it: under axum's `nest`, without the prefix).
///
/// - **Allowed**: the request goes on. **Denied**: 403 with a JSON `{"detail": …}` body (gRPC:
///   `PERMISSION_DENIED`). **Service unreachable, timed out or failing**: the request is refused
///   with 503 (gRPC: `UNAVAILABLE`): the layer fails closed. **Token revoked at the service**: 401.
/// - **Caching**: answers (allowed and denied) are kept per token id, method and path for
///   [`DEFAULT_CACHE_TTL`] (30 s), at most [`DEFAULT_CACHE_CAPACITY`] of them; see
///   [`cache_ttl`](Self::cache_ttl). So a policy change or a revoked grant can take **up to the
///   TTL** to reach a token that already had an answer; a new token (every refresh issues one)
///   is always asked afresh. Failures are never cached. A cache hit takes no lock and allocates
///   nothing.
///
/// ```
/// use axum::{routing::get, Router};
/// use stlock::{StlockLayer, StlockUser};
///
/// async fn orders(user: StlockUser) -> String {
///     format!("orders of {}", user.user_id())
/// }
///
/// # fn app(auth: StlockLayer) -> Router {
/// let app = Router::new()
///     .route("/orders/{id}", get(orders))
///     .route_layer(auth.grant_layer())
///     .layer(auth);
/// # app }
/// ```
#[derive(Clone, Debug)]
pub struct GrantLayer<R = DefaultRejection> {
    client: Client,
    sources: Arc<[TokenSource]>,
    cache: GrantCache,
    rejection: R,
}

impl<R: RejectionHandler> GrantLayer<R> {
    pub(crate) fn new(client: Client, sources: Arc<[TokenSource]>, rejection: R) -> Self {
        Self {
            client,
            sources,
            cache: GrantCache::new(DEFAULT_CACHE_TTL, DEFAULT_CACHE_CAPACITY),
            rejection,
        }
    }

    /// Keeps each answer for `ttl` and at most `capacity` answers. `Duration::ZERO` (or a zero
    /// capacity) asks the service on every request.
    pub fn cache(mut self, ttl: Duration, capacity: u64) -> Self {
        self.cache = GrantCache::new(ttl, capacity);
        self
    }

    /// Keeps each answer for `ttl` (with the default capacity); `Duration::ZERO` turns caching off.
    pub fn cache_ttl(self, ttl: Duration) -> Self {
        self.cache(ttl, DEFAULT_CACHE_CAPACITY)
    }
}

impl<S, R: Clone> Layer<S> for GrantLayer<R> {
    type Service = GrantService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        GrantService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`GrantLayer`].
#[derive(Clone, Debug)]
pub struct GrantService<S, R = DefaultRejection> {
    inner: S,
    layer: GrantLayer<R>,
}

type GrantCheck = Pin<Box<dyn Future<Output = Result<GrantDecision, Error>> + Send>>;

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for GrantService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: RejectionHandler,
    ResBody: RejectionBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = GrantFuture<S, Request<ReqBody>, ResBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let layer = &self.layer;
        let user = match StlockUser::from_extensions(request.extensions()) {
            Ok(Some(user)) => user,
            Ok(None) => return GrantFuture::rejected(layer, AuthError::MissingToken, &request),
            Err(error) => return GrantFuture::rejected(layer, error, &request),
        };
        let (method, path) = (request.method(), request.uri().path());
        match layer.cache.get(user.token_id(), method, path) {
            Some(true) => return GrantFuture::calling(self.inner.call(request)),
            Some(false) => return GrantFuture::rejected(layer, AuthError::GrantDenied, &request),
            None => {}
        }
        // The user was verified from a token in these very sources, so one is there.
        let Found::Token(token) = find_token(&layer.sources, request.headers()) else {
            return GrantFuture::rejected(layer, AuthError::MissingToken, &request);
        };
        let check = {
            let (client, cache) = (layer.client.clone(), layer.cache.clone());
            let (token, token_id) = (token.to_owned(), user.token_id().to_owned());
            let (method, path) = (method.clone(), path.to_owned());
            Box::pin(async move {
                let decision = client.check_grant(&token, &method, &path).await?;
                cache.insert(&token_id, &method, &path, decision.allowed);
                Ok(decision)
            })
        };
        // Take the service that `poll_ready` readied; leave a fresh clone for the next call.
        let ready = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, ready);
        GrantFuture {
            state: GrantState::Checking {
                check,
                pending: Some((ready, request)),
                rejection: layer.rejection.clone(),
            },
        }
    }
}

pin_project! {
    /// Response future of [`GrantService`]: the grant check (on a cache miss), then the inner
    /// service's future.
    pub struct GrantFuture<S, Req, B, R>
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

impl<S, ReqBody, B, R> GrantFuture<S, Request<ReqBody>, B, R>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    R: RejectionHandler,
    B: RejectionBody,
{
    fn calling(future: S::Future) -> Self {
        Self {
            state: GrantState::Calling { future },
        }
    }

    fn rejected(layer: &GrantLayer<R>, error: AuthError, request: &Request<ReqBody>) -> Self {
        Self {
            state: GrantState::Ready {
                response: Some(reject(&layer.rejection, &error, request.headers())),
            },
        }
    }
}

impl<S, ReqBody, B, R> Future for GrantFuture<S, Request<ReqBody>, B, R>
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
                    let outcome = ready!(check.as_mut().poll(cx));
                    let Some((mut service, request)) = pending.take() else {
                        return Poll::Ready(Ok(polled_after_completion()));
                    };
                    match outcome.map_err(failure).and_then(allowed) {
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

fn allowed(decision: GrantDecision) -> Result<(), AuthError> {
    if decision.allowed {
        Ok(())
    } else {
        Err(AuthError::GrantDenied)
    }
}

/// What a failed grant check means for the request: the service's own refusals are passed on,
/// everything else fails closed.
fn failure(error: Error) -> AuthError {
    // The service's own words, for whoever must tell a revoked token from, say, a wrong API
    // key: both come back as 401. They never include the token.
    tracing::debug!(%error, "the grant check failed");
    match error.status() {
        Some(StatusCode::UNAUTHORIZED) => AuthError::RevokedToken,
        Some(StatusCode::FORBIDDEN) => AuthError::GrantDenied,
        _ => AuthError::GrantUnavailable(error.to_string()),
    }
}

impl<S: Service<Req>, Req, B, R> std::fmt::Debug for GrantFuture<S, Req, B, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrantFuture").finish_non_exhaustive()
    }
}
