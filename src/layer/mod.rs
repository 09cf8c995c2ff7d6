//! [`StlockLayer`]: verifies the access token of every request and hands the handler a
//! [`StlockUser`], for axum, tonic and any Tower stack.

mod future;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::client::{Client, Error};
use crate::config::Config;
use crate::credentials::{
    bearer_bytes, find_token, Found, Probe, TokenCache, TokenSource, TokenSources,
    DEFAULT_TOKEN_CACHE_CAPACITY,
};
use crate::cross_origin::CrossOriginProtection;
use crate::extract::{Anonymous, StlockUser};
use crate::refresh::flow::{Due, Judged, Refresher};
use crate::refresh::{AutoRefresh, BrowserCookies, Mode};
use crate::rejection::{reject, AuthError, DefaultRejection, RejectionBody, RejectionHandler};
use crate::telemetry::{self, Authentication};
use crate::token::{unix_now, Claims, DecodeError, TokenType};

pub use future::ResponseFuture;

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
/// - **Auto-refresh** (opt-in): a due access token is renewed on the fly, once however many
///   requests race; see [`auto_refresh`](Self::auto_refresh). The wrapped service must be
///   `Clone` (axum's routes and tonic's services are): a request whose token is renewed calls it
///   once the renewal is done.
/// - **Cross-origin requests**: a request that changes state with credentials from a cookie is
///   refused with 403 when the browser says it comes from another origin; see
///   [`cross_origin`](Self::cross_origin).
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
/// let auth = StlockLayer::new(config)?;
/// let app = Router::new()
///     // On the method router: a wrong method answers 405, token or not.
///     .route("/me", get(me).route_layer(auth.clone()))
///     // On a router: its unknown paths answer 404, but since axum 0.8 the method router's 405
///     // is behind the layer too, so a wrong method without a token answers 401.
///     .merge(Router::new().route("/orders", get(me)).route_layer(auth));
/// # Ok(app) }
/// ```
#[derive(Clone)]
pub struct StlockLayer<R = DefaultRejection> {
    client: Client,
    sources: TokenSources,
    optional: bool,
    rejection: R,
    refresh: Option<Arc<Refresher>>,
    cache: Option<Arc<TokenCache>>,
    cross_origin: CrossOriginProtection,
    record_user: bool,
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
            sources: TokenSources::new([TokenSource::AuthorizationHeader]),
            optional: false,
            rejection: DefaultRejection,
            refresh: None,
            cache: TokenCache::new(DEFAULT_TOKEN_CACHE_CAPACITY).map(Arc::new),
            cross_origin: CrossOriginProtection::new(),
            record_user: false,
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
    /// Browsers send cookies with every request, cross-site ones included: a request that
    /// changes state with a token from a cookie is refused with 403 when the browser says it
    /// comes from another origin (see [`cross_origin`](Self::cross_origin)); one with the
    /// header token is not exposed to that.
    #[must_use]
    pub fn token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        let sources: Vec<_> = sources.into_iter().collect();
        if !sources.is_empty() {
            self.sources = TokenSources::new(sources);
        }
        let refresh = self
            .refresh
            .take()
            .map(|refresher| refresher.config().clone());
        self.with_refresh(refresh)
    }

    /// Refreshes due access tokens on the fly, in cookie or header mode: see [`AutoRefresh`].
    ///
    /// Cookie mode adds the access cookie to the token sources, and header mode the
    /// `Authorization` header, when they are not there already; this holds whatever the order in
    /// which `token_sources` and `auto_refresh` are called.
    ///
    /// The path of a request whose token is not due costs what it costs without auto-refresh:
    /// one decode, no lock, no allocation beyond the claims.
    ///
    /// ```
    /// use stlock::refresh::AutoRefresh;
    /// use stlock::StlockLayer;
    ///
    /// # fn wire(auth: StlockLayer) -> Result<(), stlock::refresh::InvalidSetting> {
    /// let auth = auth.auto_refresh(AutoRefresh::cookies().build()?);
    /// # drop(auth); Ok(()) }
    /// ```
    #[must_use]
    pub fn auto_refresh(self, refresh: AutoRefresh) -> Self {
        self.with_refresh(Some(refresh))
    }

    /// Sets up `refresh` against the current sources, adding the one its mode reads tokens from.
    fn with_refresh(mut self, refresh: Option<AutoRefresh>) -> Self {
        self.refresh = refresh.map(|config| {
            let needed = match &config.mode {
                Mode::Cookies(cookies) => TokenSource::cookie(cookies.access_name()),
                Mode::Headers { .. } => TokenSource::AuthorizationHeader,
            };
            if !self.sources.contains(&needed) {
                let mut sources = self.sources.to_vec();
                sources.push(needed);
                self.sources = TokenSources::new(sources);
            }
            Arc::new(Refresher::new(
                config,
                self.client.clone(),
                self.sources.clone(),
            ))
        });
        self
    }

    /// The cookies of a browser session as this layer's cookie-mode [`AutoRefresh`] sets them,
    /// for the app's own sign-in and sign-out handlers; `None` without auto-refresh in cookie
    /// mode.
    ///
    /// ```
    /// use stlock::refresh::AutoRefresh;
    /// use stlock::StlockLayer;
    ///
    /// # fn wire(auth: StlockLayer) -> Result<(), stlock::refresh::InvalidSetting> {
    /// let auth = auth.auto_refresh(AutoRefresh::cookies().build()?);
    /// let cookies = auth.browser_cookies().expect("cookie mode");
    /// assert_eq!(cookies.access_name(), "__Host-stlock_access");
    /// # Ok(()) }
    /// ```
    pub fn browser_cookies(&self) -> Option<BrowserCookies> {
        match &self.refresh.as_ref()?.config().mode {
            Mode::Cookies(settings) => Some(BrowserCookies::new(
                Arc::clone(settings),
                self.client.clone(),
            )),
            Mode::Headers { .. } => None,
        }
    }

    /// The cross-origin protection of credentials read from a cookie: on by default, see
    /// [`cross_origin`](crate::cross_origin). Use it to trust further origins, or, only for
    /// an app with a CSRF defence of its own, to turn it off.
    ///
    /// ```
    /// use stlock::cross_origin::CrossOriginProtection;
    ///
    /// # fn wire(auth: stlock::StlockLayer) -> Result<(), stlock::cross_origin::InvalidOrigin> {
    /// let auth = auth.cross_origin(CrossOriginProtection::new().trust("https://admin.example.com")?);
    /// # drop(auth); Ok(()) }
    /// ```
    #[must_use]
    pub fn cross_origin(mut self, protection: CrossOriginProtection) -> Self {
        self.cross_origin = protection;
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
            refresh: self.refresh,
            cache: self.cache,
            cross_origin: self.cross_origin,
            record_user: self.record_user,
        }
    }

    /// Records the verified user's id on the request's span as `enduser.id`, the name
    /// OpenTelemetry's semantic conventions give it, so that traces and the logs within them
    /// show who made each request. Off by default: a user id is personal data.
    ///
    /// The span is the one current when the layer runs, and it must declare the field
    /// (`enduser.id = tracing::field::Empty`): `tracing` records no field a span was not made
    /// with, and a span without it is left as it is. With tower-http's `TraceLayer` outside
    /// this layer:
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use tower_http::trace::TraceLayer;
    ///
    /// # async fn me() {}
    /// # fn app(auth: stlock::StlockLayer) -> Router {
    /// let app = Router::new()
    ///     .route("/me", get(me))
    ///     .route_layer(auth.record_user_id())
    ///     .layer(TraceLayer::new_for_http().make_span_with(|request: &http::Request<_>| {
    ///         tracing::info_span!(
    ///             "request",
    ///             method = %request.method(),
    ///             uri = %request.uri(),
    ///             enduser.id = tracing::field::Empty,
    ///         )
    ///     }));
    /// # app }
    /// ```
    #[must_use]
    pub fn record_user_id(mut self) -> Self {
        self.record_user = true;
        self
    }

    /// Remembers up to `capacity` verified access tokens (default
    /// [`DEFAULT_TOKEN_CACHE_CAPACITY`]), so that a repeat token, as a client sends for its
    /// token's ten minutes of life, costs a lookup instead of a verification. `0` turns it off.
    ///
    /// The table compares whole tokens, never hashes; it serves an entry only before its
    /// token's `exp` (later, the token is verified again: the leeway, or a refresh, apply); and it
    /// takes a token in only on its second request, so that fresh or one-off tokens cost it
    /// nothing and never push out the ones in use. Lookups take no lock. The cache is shared by
    /// every clone of this layer. Like verification itself, it cannot see a revocation at the
    /// service: see [`GrantLayer`](crate::GrantLayer) for a check that can.
    ///
    /// ```
    /// # fn wire(auth: stlock::StlockLayer) {
    /// let auth = auth.token_cache(50_000); // a busy app with many users
    /// # }
    /// ```
    #[must_use]
    pub fn token_cache(mut self, capacity: usize) -> Self {
        self.cache = TokenCache::new(capacity).map(Arc::new);
        self
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

    fn authenticate(&self, method: &Method, uri: &Uri, headers: &http::HeaderMap) -> Authenticated {
        let probe = match self.cached_user(headers) {
            Ok(user) => return Authenticated::User(user),
            Err(probe) => probe,
        };
        let judged = match find_token(&self.sources, headers) {
            (Found::Token(token), index) => match &self.refresh {
                Some(refresher) => Authenticated::judged_by(
                    refresher.judge(token, index, headers, self.cache.as_deref(), probe),
                    refresher,
                ),
                None => match self.verify(token, probe) {
                    Ok(claims) => {
                        Authenticated::User(StlockUser::new(claims, &self.sources, index))
                    }
                    Err(reason) => Authenticated::Refused(AuthError::InvalidToken {
                        origin: self.sources[index].clone(),
                        reason,
                    }),
                },
            },
            (Found::Absent, _) => {
                if let Some((judged, refresher)) = self
                    .refresh
                    .as_ref()
                    .and_then(|refresher| Some((refresher.judge_absent(headers)?, refresher)))
                {
                    Authenticated::judged_by(judged, refresher)
                } else if self.optional {
                    Authenticated::Anonymous
                } else {
                    Authenticated::Refused(AuthError::MissingToken {
                        accepted: self.sources.clone(),
                    })
                }
            }
            (Found::Malformed(reason), index) => {
                Authenticated::Refused(AuthError::MalformedCredentials {
                    origin: self.sources[index].clone(),
                    reason,
                })
            }
        };
        match judged {
            // The access cookie outlives its token (it lives as long as the refresh token), so
            // an expired token in it is what a browser that dropped the cookie used to send:
            // nothing, which an optional layer lets through.
            Authenticated::Refused(AuthError::InvalidToken {
                origin: TokenSource::Cookie(_),
                reason: DecodeError::Expired,
            }) if self.optional => Authenticated::Anonymous,
            // Credentials from a cookie on a request that changes state: the browser must say
            // it comes from the app's own origin, before anything (a refresh) is done with them.
            Authenticated::User(ref user)
                if !user.token_source().is_authorization_header()
                    && self.cross_origin.check(method, uri, headers).is_err() =>
            {
                self.cross_origin_refused(user.token_source().clone())
            }
            Authenticated::Due(ref due, _)
                if due.cookie_borne() && self.cross_origin.check(method, uri, headers).is_err() =>
            {
                self.cross_origin_refused(due.origin().clone())
            }
            judged => judged,
        }
    }

    fn cross_origin_refused(&self, origin: TokenSource) -> Authenticated {
        tracing::warn!(
            %origin,
            "stlock refused a cross-origin request that changes state with cookie credentials"
        );
        Authenticated::Refused(AuthError::CrossOrigin { origin })
    }
}

impl<R> StlockLayer<R> {
    /// The user of a repeat bearer token, straight from the verified-token cache: the common
    /// case, served without parsing or checking the header beyond finding the token (the bytes
    /// equal a token verified before). An error sends the request the long way, with what the
    /// look found out: no cache, a first source other than the header, a token not remembered,
    /// or one due for a refresh.
    fn cached_user(&self, headers: &http::HeaderMap) -> Result<StlockUser, Probe> {
        let mut probe = Probe::default();
        let Some(cache) = self.cache.as_deref() else {
            return Err(probe);
        };
        if !self
            .sources
            .first()
            .is_some_and(TokenSource::is_authorization_header)
        {
            return Err(probe);
        }
        let Some(token) = bearer_bytes(headers) else {
            return Err(probe);
        };
        // The clock only once there is a token: a request without one is turned away without.
        let now = unix_now();
        probe.now = Some(now);
        let Some(claims) = cache.get(token, now) else {
            probe.missed = true;
            return Err(probe);
        };
        if self
            .refresh
            .as_ref()
            .is_some_and(|refresher| refresher.due(&claims, now))
        {
            return Err(probe);
        }
        Ok(StlockUser::new(claims, &self.sources, 0))
    }

    /// The claims of a valid, unexpired access token: from the cache, else from the decoder
    /// (and then offered to the cache).
    fn verify(&self, token: &str, probe: Probe) -> Result<Arc<Claims>, DecodeError> {
        let now = probe.now();
        probe.claims(self.cache.as_deref(), token, now, |token| {
            self.client
                .decoder()
                .verify(token, TokenType::Access, Some(now))
        })
    }
}

/// Counts a request let in as `user`, and records the user on its span when the layer does.
#[inline]
fn admitted(user: &StlockUser, record_user: bool) {
    Authentication::Accepted.count();
    if record_user {
        telemetry::record_user(user.user_id());
    }
}

/// What the layer makes of a request's credentials.
enum Authenticated {
    User(StlockUser),
    Anonymous,
    Due(Box<Due>, Arc<Refresher>),
    Refused(AuthError),
}

impl Authenticated {
    /// How the layer goes on with what `refresher` judged: a due token keeps its refresher, so
    /// that the service renews it with no second look at the layer's settings.
    fn judged_by(judged: Judged, refresher: &Arc<Refresher>) -> Self {
        match judged {
            Judged::User(user) => Authenticated::User(user),
            Judged::Due(due) => Authenticated::Due(due, Arc::clone(refresher)),
            Judged::Refused(error) => Authenticated::Refused(error),
        }
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for StlockLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StlockLayer")
            .field("client", &self.client)
            .field("sources", &self.sources)
            .field("optional", &self.optional)
            .field("rejection", &self.rejection)
            .field("auto_refresh", &self.refresh.as_ref().map(|r| r.config()))
            .field("record_user_id", &self.record_user)
            .finish()
    }
}

impl<S, R: Clone> Layer<S> for StlockLayer<R> {
    type Service = StlockService<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        StlockService {
            inner,
            layer: Arc::new(self.clone()),
        }
    }
}

/// The service of [`StlockLayer`]: authenticates each request, then calls the inner service.
#[derive(Clone, Debug)]
pub struct StlockService<S, R = DefaultRejection> {
    inner: S,
    /// Behind one `Arc`: axum clones a route's service for every request, and one reference
    /// count to bump is cheaper than one per shared part of the layer.
    layer: Arc<StlockLayer<R>>,
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

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let authenticated =
            self.layer
                .authenticate(request.method(), request.uri(), request.headers());
        let user = match authenticated {
            Authenticated::User(user) => user,
            Authenticated::Anonymous => {
                Authentication::Anonymous.count();
                request.extensions_mut().insert(Anonymous {
                    accepted: self.layer.sources.clone(),
                });
                return ResponseFuture::calling(self.inner.call(request));
            }
            Authenticated::Refused(error) => {
                telemetry::authentication_of(|| error.counted());
                let response = reject(&self.layer.rejection, &error, request.headers());
                return ResponseFuture::ready(response);
            }
            Authenticated::Due(due, refresher) => {
                // Take the service that `poll_ready` readied; leave a fresh clone for the next call.
                let ready = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, ready);
                let renewal = Box::pin(refresher.renew(due));
                return ResponseFuture::renewing(
                    renewal,
                    ready,
                    request,
                    self.layer.rejection.clone(),
                    self.layer.record_user,
                );
            }
        };
        admitted(&user, self.layer.record_user);
        request.extensions_mut().insert(user);
        ResponseFuture::calling(self.inner.call(request))
    }
}
