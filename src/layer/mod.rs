//! [`StlockLayer`]: verifies the access token of every request and hands the handler a
//! [`StlockUser`], for axum, tonic and any Tower stack.

mod future;
pub(crate) mod source;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::Anonymous;
use crate::rejection::{reject, DefaultRejection, RejectionBody, RejectionHandler};
use crate::{AuthError, Client, Config, Error, StlockUser};
use source::{find_token, Found};

pub use future::ResponseFuture;
pub use source::TokenSource;

/// A Tower layer that verifies the access token of each request and puts the
/// [`StlockUser`] into its extensions.
///
/// Works with axum (`Router::layer`, `Router::route_layer`) and tonic
/// (`Server::builder().layer(…)`), and with any other Tower stack: the service is generic over
/// the request body and over any response body that implements [`RejectionBody`]. Verification is
/// local (HMAC with the pool's secret, keys prepared once), takes no lock and allocates nothing
/// beyond the decoded claims.
///
/// - **Token sources**: the `Authorization: Bearer` header by default; see
///   [`token_sources`](Self::token_sources) for a cookie.
/// - **Modes**: by default a request without a valid token is rejected; with
///   [`optional`](Self::optional) a request *without* a token goes on without a user, while a
///   request with an invalid one is still rejected.
/// - **Rejections**: 401 with a JSON `{"detail": …}` body that names where a token was looked for
///   (and `WWW-Authenticate: Bearer …` when the `Authorization` header is one of the sources), or
///   the gRPC status `UNAUTHENTICATED` for gRPC requests; replace the HTTP response with
///   [`rejection`](Self::rejection).
///
/// ```
/// use axum::{routing::get, Router};
/// use stlock::{StlockLayer, StlockUser};
///
/// async fn me(user: StlockUser) -> String {
///     user.user_id().to_owned()
/// }
///
/// # fn app(config: stlock::Config) -> Result<Router, stlock::Error> {
/// let app = Router::new()
///     .route("/me", get(me))
///     // `route_layer`: a wrong method still answers 405 and an unknown path 404, token or not.
///     .route_layer(StlockLayer::new(config)?);
/// # Ok(app) }
/// ```
#[derive(Clone, Debug)]
pub struct StlockLayer<R = DefaultRejection> {
    client: Client,
    sources: Arc<[TokenSource]>,
    optional: bool,
    rejection: R,
}

impl StlockLayer {
    /// A layer, with its own [`Client`], that requires a valid access token in the
    /// `Authorization` header.
    pub fn new(config: Config) -> Result<Self, Error> {
        Client::new(config).map(Self::from_client)
    }

    /// A layer sharing an existing client (its configuration, connection pool and keys).
    pub fn from_client(client: Client) -> Self {
        Self {
            client,
            sources: Arc::new([TokenSource::AuthorizationHeader]),
            optional: false,
            rejection: DefaultRejection,
        }
    }
}

impl<R: RejectionHandler> StlockLayer<R> {
    /// Lets requests *without* a token through, without a user: handlers take
    /// `Option<StlockUser>`. A token that is present but invalid is still rejected.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Where to look for the token, tried in order; the first source that holds one wins.
    ///
    /// ```
    /// use stlock::{StlockLayer, TokenSource};
    /// # fn wire(layer: StlockLayer) {
    /// // The header for API clients, then the `session` cookie for browsers.
    /// let layer = layer.token_sources([TokenSource::AuthorizationHeader, TokenSource::cookie("session")]);
    /// # }
    /// ```
    ///
    /// An empty list keeps the default, the `Authorization` header. Rejections name these
    /// sources, and carry a `WWW-Authenticate: Bearer` challenge only when the header is one of
    /// them.
    ///
    /// Browsers send cookies with every request, cross-site ones included: a route that changes
    /// state and accepts the token from a cookie needs CSRF protection (a `SameSite=Strict` or
    /// `Lax` cookie at least), which the header does not.
    #[must_use]
    pub fn token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        let sources: Vec<_> = sources.into_iter().collect();
        if !sources.is_empty() {
            self.sources = sources.into();
        }
        self
    }

    /// Replaces the HTTP rejection response (gRPC requests keep their gRPC status).
    ///
    /// This changes the layer's type to `StlockLayer<H>`: a function or closure is a
    /// [`RejectionHandler`] as it is, but a closure needs its argument and return types written
    /// out (`|error: &AuthError| -> Response`), since nothing else tells the compiler what they
    /// are.
    ///
    /// ```
    /// use axum::response::{IntoResponse, Response};
    /// use stlock::{AuthError, StlockLayer};
    ///
    /// # fn wire(layer: StlockLayer) {
    /// let layer = layer.rejection(|error: &AuthError| -> Response {
    ///     (error.status(), format!("no entry: {error}")).into_response()
    /// });
    /// # }
    /// ```
    #[must_use]
    pub fn rejection<H: RejectionHandler>(self, handler: H) -> StlockLayer<H> {
        StlockLayer {
            client: self.client,
            sources: self.sources,
            optional: self.optional,
            rejection: handler,
        }
    }

    /// The client this layer verifies with, to share with handlers and with a
    /// [`GrantLayer`](crate::GrantLayer).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where this layer looks for the token, in order.
    pub fn sources(&self) -> &[TokenSource] {
        &self.sources
    }

    fn authenticate(&self, headers: &http::HeaderMap) -> Result<Option<StlockUser>, AuthError> {
        match find_token(&self.sources, headers) {
            (Found::Token(token), index) => match self.client.decode(token) {
                Ok(claims) => Ok(Some(StlockUser::new(claims, &self.sources, index))),
                Err(reason) => Err(AuthError::InvalidToken {
                    origin: self.sources[index].clone(),
                    reason,
                }),
            },
            (Found::Absent, _) if self.optional => Ok(None),
            (Found::Absent, _) => Err(AuthError::MissingToken {
                accepted: Arc::clone(&self.sources),
            }),
            (Found::Malformed(reason), index) => Err(AuthError::MalformedCredentials {
                origin: self.sources[index].clone(),
                reason,
            }),
        }
    }
}

impl<S, R: Clone> Layer<S> for StlockLayer<R> {
    type Service = StlockService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        StlockService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`StlockLayer`]: authenticates each request, then calls the inner service.
#[derive(Clone, Debug)]
pub struct StlockService<S, R = DefaultRejection> {
    inner: S,
    layer: StlockLayer<R>,
}

impl<S, R> StlockService<S, R> {
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

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for StlockService<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RejectionHandler,
    ResBody: RejectionBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.layer.authenticate(request.headers()) {
            Ok(Some(user)) => {
                request.extensions_mut().insert(user);
            }
            Ok(None) => {
                request.extensions_mut().insert(Anonymous {
                    accepted: Arc::clone(&self.layer.sources),
                });
            }
            Err(error) => {
                let response = reject(&self.layer.rejection, &error, request.headers());
                return ResponseFuture::ready(response);
            }
        }
        ResponseFuture::inner(self.inner.call(request))
    }
}
