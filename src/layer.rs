//! `StlockLayer`: verifies the bearer access token of every request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::extract::Anonymous;
use crate::rejection::{reject, RejectionBody};
use crate::source::{find_token, Found};
use crate::{
    AuthError, Client, Config, DefaultRejection, Error, GrantLayer, RejectionHandler, StlockUser,
    TokenSource,
};

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
/// - **Rejections**: 401 with `WWW-Authenticate: Bearer …` and a JSON `{"detail": …}` body, or
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
///     .layer(StlockLayer::new(config)?);
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
    /// An empty list keeps the default, the `Authorization` header.
    ///
    /// Browsers send cookies with every request, cross-site ones included: a route that changes
    /// state and accepts the token from a cookie needs CSRF protection (a `SameSite=Strict` or
    /// `Lax` cookie at least), which the header does not.
    pub fn token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        let sources: Vec<_> = sources.into_iter().collect();
        if !sources.is_empty() {
            self.sources = sources.into();
        }
        self
    }

    /// Replaces the HTTP rejection response (gRPC requests keep their gRPC status).
    pub fn rejection<H: RejectionHandler>(self, handler: H) -> StlockLayer<H> {
        StlockLayer {
            client: self.client,
            sources: self.sources,
            optional: self.optional,
            rejection: handler,
        }
    }

    /// The client this layer verifies with, to share with handlers.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A [`GrantLayer`] with the same client, token sources and rejection handler, to put
    /// *inside* this layer on the routes whose grants the service should check.
    ///
    /// It takes the sources and handler this layer has now: configure
    /// [`token_sources`](Self::token_sources) and [`rejection`](Self::rejection) first.
    pub fn grant_layer(&self) -> GrantLayer<R> {
        GrantLayer::new(
            self.client.clone(),
            self.sources.clone(),
            self.rejection.clone(),
        )
    }

    fn authenticate(&self, headers: &http::HeaderMap) -> Result<Option<StlockUser>, AuthError> {
        match find_token(&self.sources, headers) {
            Found::Token(token) => self
                .client
                .decode(token)
                .map(|claims| Some(StlockUser::new(claims)))
                .map_err(AuthError::InvalidToken),
            Found::Absent if self.optional => Ok(None),
            Found::Absent => Err(AuthError::MissingToken),
            Found::Malformed(reason) => Err(AuthError::MalformedCredentials(reason)),
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

/// The service of [`StlockLayer`].
#[derive(Clone, Debug)]
pub struct StlockService<S, R = DefaultRejection> {
    inner: S,
    layer: StlockLayer<R>,
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
                request.extensions_mut().insert(Anonymous);
            }
            Err(error) => {
                let response = reject(&self.layer.rejection, &error, request.headers());
                return ResponseFuture::ready(response);
            }
        }
        ResponseFuture::inner(self.inner.call(request))
    }
}

pin_project! {
    /// Response future of [`StlockService`]: the inner service's future, or a rejection that is
    /// ready at once.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] future: F },
        Ready { response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    pub(crate) fn ready(response: Response<B>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: RejectionBody,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Ready { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(polled_after_completion)))
            }
        }
    }
}

/// Polling a finished future is a caller's bug; answer 500 rather than panic in a server.
pub(crate) fn polled_after_completion<B: RejectionBody>() -> Response<B> {
    let mut response = Response::new(B::from_body(axum::body::Body::empty()));
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
