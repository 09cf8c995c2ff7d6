//! [`GrantLayer`]: asks the service whether the request's user may call its method and path
//! (the service's answer is a [`GrantDecision`](crate::client::GrantDecision)), and the
//! canonical path it judges.

mod cache;
mod future;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, Response, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::client::Client;
use crate::credentials::TokenSources;
use crate::extract::StlockUser;
use crate::rejection::{AuthError, DefaultRejection, RejectionBody, RejectionHandler};
use crate::telemetry::GrantCheck;
use cache::GrantCache;

pub use crate::path::{canonical_path, PathError};
pub use future::ResponseFuture;

/// How long a grant answer is reused by default.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// How many grant answers are kept by default.
pub const DEFAULT_CACHE_CAPACITY: u64 = 10_000;

/// A Tower layer that enforces the service's grant policies on each request.
///
/// It needs a [`StlockLayer`](crate::StlockLayer) further out, which verifies the token and
/// leaves the [`StlockUser`] in the request's extensions, together with where the token came
/// from; nothing else ties the two together, so they can be built in any order, with different
/// clients or rejection handlers. For each request it asks the service (`POST /grant`, with the
/// request's access token) whether the user may call the request's method on its path.
///
/// - **Which path**: the one the client called (with the `axum` feature, on by default, also
///   inside `nest`, which strips the prefix from the request's own URI), without the query,
///   [percent-decoded once](canonical_path) as the handler's `Path` extractor sees it. A path
///   with a `.` or `..` segment, an encoded `/`, `?` or `#`, a control character or bytes that
///   are not UTF-8 is refused with 400 before the service is asked, since the service and the
///   handler would read it differently. **Which method**: the request's, except that `HEAD` is
///   checked as `GET`, whose handler it runs.
/// - **Allowed**: the request goes on. **Denied**: 403 with a JSON `{"detail": …}` body (gRPC:
///   `PERMISSION_DENIED`). **Service unreachable, timed out or failing**: the request is refused
///   with 503 (gRPC: `UNAVAILABLE`) and a fixed message: the layer fails closed, and logs the
///   cause at `warn`. **Token revoked at the service**: 401.
///   **No verified user** (an optional `StlockLayer` let the request through without a token):
///   401. **No `StlockLayer` at all**: 500, a wiring mistake.
/// - **Caching**: answers (allowed and denied) are kept per token id, method and path for
///   [`DEFAULT_CACHE_TTL`] (30 s), at most [`DEFAULT_CACHE_CAPACITY`] of them; see
///   [`cache`](Self::cache). So a policy change or a revoked grant can take **up to the
///   TTL** to reach a token that already had an answer; a new token (every refresh issues one)
///   is always asked afresh. Failures are never cached. A cache hit takes no lock and allocates
///   nothing.
///
/// ```
/// use axum::{routing::get, Router};
/// use stlock::{GrantLayer, StlockLayer, StlockUser};
///
/// async fn orders(user: StlockUser) -> String {
///     format!("orders of {}", user.user_id())
/// }
///
/// # fn app(auth: StlockLayer) -> Router {
/// let grants = GrantLayer::new(auth.client().clone());
/// let app = Router::new()
///     .route("/orders/{id}", get(orders))
///     // The last layer added runs first: the token is verified, then the grant checked.
///     .route_layer(grants)
///     .route_layer(auth);
/// # app }
/// ```
#[derive(Clone, Debug)]
pub struct GrantLayer<R = DefaultRejection> {
    client: Client,
    cache: GrantCache,
    rejection: R,
}

impl GrantLayer {
    /// A layer asking the service through `client`, with the default cache and rejections.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            cache: GrantCache::new(DEFAULT_CACHE_TTL, DEFAULT_CACHE_CAPACITY),
            rejection: DefaultRejection,
        }
    }
}

impl<R: RejectionHandler> GrantLayer<R> {
    /// Keeps each answer for `ttl` and at most `capacity` answers. `Duration::ZERO` (or a zero
    /// capacity) asks the service on every request.
    #[must_use]
    pub fn cache(mut self, ttl: Duration, capacity: u64) -> Self {
        self.cache = GrantCache::new(ttl, capacity);
        self
    }

    /// Keeps each answer for `ttl` (with the default capacity); `Duration::ZERO` turns caching off.
    #[must_use]
    pub fn cache_ttl(self, ttl: Duration) -> Self {
        self.cache(ttl, DEFAULT_CACHE_CAPACITY)
    }

    /// Replaces the HTTP rejection response (gRPC requests keep their gRPC status), as
    /// [`StlockLayer::rejection`](crate::StlockLayer::rejection) does; this changes the layer's
    /// type to `GrantLayer<H>`.
    #[must_use]
    pub fn rejection<H: RejectionHandler>(self, handler: H) -> GrantLayer<H> {
        GrantLayer {
            client: self.client,
            cache: self.cache,
            rejection: handler,
        }
    }

    /// The client this layer asks the service with.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl<S, R: Clone> Layer<S> for GrantLayer<R> {
    type Service = GrantService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        GrantService {
            inner,
            layer: Arc::new(self.clone()),
        }
    }
}

/// What the service is asked on a cache miss: may the user of `token` call `method` on `path`.
struct Asked {
    token: String,
    token_id: String,
    method: Method,
    path: String,
    /// Where the token came from, for a rejection.
    origin: crate::credentials::TokenSource,
}

/// The URI whose path is checked: the one the client called. Inside axum's `nest` the request's
/// own URI has lost the prefix, and axum keeps the original in `OriginalUri`.
fn checked_uri<B>(request: &Request<B>) -> &Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = request.extensions().get() {
        return uri;
    }
    request.uri()
}

/// The service of [`GrantLayer`]: checks the grant, then calls the inner service.
#[derive(Clone, Debug)]
pub struct GrantService<S, R = DefaultRejection> {
    inner: S,
    /// Behind one `Arc`, as `StlockService` keeps its layer: cloned for every request.
    layer: Arc<GrantLayer<R>>,
}

impl<S, R> GrantService<S, R> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Takes the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for GrantService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: RejectionHandler,
    ResBody: RejectionBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>, ResBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let layer = &self.layer;
        let rejected = |error| ResponseFuture::rejected(&layer.rejection, error, &request);
        let user = match StlockUser::require(request.extensions()) {
            Ok(user) => user,
            Err(error) => return rejected(error),
        };
        let origin = user.token_source();
        let path = match canonical_path(checked_uri(&request).path()) {
            Ok(path) => path,
            Err(error) => return rejected(AuthError::InvalidPath(error)),
        };
        // A `HEAD` runs the `GET` handler (axum routes it there), so it is judged as one.
        let method = match request.method() {
            &Method::HEAD => &Method::GET,
            method => method,
        };
        match layer.cache.get(user.token_id(), method, &path) {
            Some(true) => {
                GrantCheck::AllowedHit.count();
                return ResponseFuture::calling(self.inner.call(request));
            }
            Some(false) => {
                GrantCheck::DeniedHit.count();
                let origin = origin.clone();
                return rejected(AuthError::GrantDenied { origin });
            }
            None => {}
        }
        // The token the outer layer verified: the one it renewed the request's to, else the one in
        // the source it read. Should a layer in between have taken that away, there is nothing
        // to ask the service with.
        let Some(token) = user.access_token(request.headers()) else {
            let accepted = TokenSources::new([origin.clone()]);
            return rejected(AuthError::MissingToken { accepted });
        };
        let check = future::check(
            layer.client.clone(),
            layer.cache.clone(),
            Asked {
                token: token.to_owned(),
                token_id: user.token_id().to_owned(),
                method: method.clone(),
                path: path.into_owned(),
                origin: origin.clone(),
            },
        );
        // Take the service that `poll_ready` readied; leave a fresh clone for the next call.
        let ready = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, ready);
        ResponseFuture::checking(check, ready, request, layer.rejection.clone())
    }
}
