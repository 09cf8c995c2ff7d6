//! [`StlockLayer`]: verifies the access token of every request and hands the handler a
//! [`StlockUser`], for axum, tonic and any Tower stack.

pub(crate) mod cache;
mod future;
pub(crate) mod source;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::cross_origin::CrossOriginProtection;
use crate::extract::Anonymous;
use crate::refresh::flow::{Due, Judged, Refresher};
use crate::refresh::{AutoRefresh, CookieSettings, SessionCookies};
use crate::rejection::{reject, DefaultRejection, RejectionBody, RejectionHandler};
use crate::token::unix_now;
use crate::{
    AuthError, Claims, Client, Config, DecodeError, Error, StlockUser, TokenPair, TokenType,
};
use source::{find_token, Found};

pub use cache::DEFAULT_TOKEN_CACHE_CAPACITY;
pub use future::ResponseFuture;
pub use source::{TokenSource, TokenSources};

use cache::{Probe, TokenCache};

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
    /// # fn wire(auth: StlockLayer) {
    /// let auth = auth.auto_refresh(AutoRefresh::cookies());
    /// # }
    /// ```
    #[must_use]
    pub fn auto_refresh(self, refresh: AutoRefresh) -> Self {
        self.with_refresh(Some(refresh))
    }

    /// Sets up `refresh` against the current sources, adding the one its mode reads tokens from.
    fn with_refresh(mut self, refresh: Option<AutoRefresh>) -> Self {
        self.refresh = refresh.map(|config| {
            let needed = if config.is_cookie_mode() {
                TokenSource::cookie(config.cookies.access_name())
            } else {
                TokenSource::AuthorizationHeader
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

    /// The `Set-Cookie` headers that sign a browser in with `pair`, for the app's own sign-in
    /// handler: the cookie names and attributes of the layer's [`AutoRefresh`] (its defaults
    /// when it has none), both cookies living as long as the refresh token. Both tokens are
    /// verified first, which also reads their expiry.
    ///
    /// The body of such a response carries no token: the cookies are `HttpOnly` so that no
    /// script, an injected one included, can read them, and a token in the body would undo
    /// that. Routes that set or clear the session cookies outside the layer need cross-origin
    /// protection of their own (see [`cross_origin`](crate::cross_origin)).
    ///
    /// ```
    /// use axum::{extract::State, http::StatusCode, Json};
    /// use stlock::refresh::SessionCookies;
    /// use stlock::StlockLayer;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct SignIn { username: String, password: String }
    ///
    /// async fn sign_in(
    ///     State(auth): State<StlockLayer>,
    ///     Json(form): Json<SignIn>,
    /// ) -> Result<SessionCookies, StatusCode> {
    ///     let pair = auth.client().login(&form.username, &form.password).await
    ///         .map_err(|_| StatusCode::UNAUTHORIZED)?;
    ///     auth.session_cookies(&pair).map_err(|_| StatusCode::BAD_GATEWAY)
    /// }
    /// ```
    pub fn session_cookies(&self, pair: &TokenPair) -> Result<SessionCookies, DecodeError> {
        let decoder = self.client.decoder();
        decoder.decode_access(&pair.access_token)?;
        let refresh = decoder.decode_refresh(&pair.refresh_token)?;
        Ok(self.cookie_settings().set(pair, refresh.exp))
    }

    /// The refresh token of the session cookies in `headers` (the refresh cookie of the layer's
    /// [`AutoRefresh`], or its default name), for an app's sign-out handler: a browser's script
    /// cannot read an `HttpOnly` cookie to send it. `None` when there is none, or more than one.
    pub fn session_refresh_token<'a>(&self, headers: &'a http::HeaderMap) -> Option<&'a str> {
        match TokenSource::cookie(self.cookie_settings().refresh_name()).read(headers) {
            Found::Token(token) => Some(token),
            _ => None,
        }
    }

    /// The `Set-Cookie` headers that sign a browser out: both cookies emptied and expired, for
    /// the app's own sign-out handler.
    pub fn cleared_session_cookies(&self) -> SessionCookies {
        self.cookie_settings().clear()
    }

    fn cookie_settings(&self) -> CookieSettings {
        match &self.refresh {
            Some(refresher) => refresher.config().cookies.clone(),
            None => AutoRefresh::cookies().cookies,
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
        }
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
                Some(refresher) => refresher
                    .judge(token, index, headers, self.cache.as_deref(), probe)
                    .into(),
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
                if let Some(judged) = self.refresh.as_ref().and_then(|r| r.judge_absent(headers)) {
                    judged.into()
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
            Authenticated::Due(ref due)
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
        let Some(token) = source::bearer_bytes(headers) else {
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

/// What the layer makes of a request's credentials.
enum Authenticated {
    User(StlockUser),
    Anonymous,
    Due(Box<Due>),
    Refused(AuthError),
}

impl From<Judged> for Authenticated {
    fn from(judged: Judged) -> Self {
        match judged {
            Judged::User(user) => Authenticated::User(user),
            Judged::Due(due) => Authenticated::Due(due),
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
                request.extensions_mut().insert(Anonymous {
                    accepted: self.layer.sources.clone(),
                });
                return ResponseFuture::calling(self.inner.call(request));
            }
            Authenticated::Refused(error) => {
                let response = reject(&self.layer.rejection, &error, request.headers());
                return ResponseFuture::ready(response);
            }
            Authenticated::Due(due) => {
                // `refresh` is set whenever a token can be due.
                let Some(refresher) = self.layer.refresh.clone() else {
                    let error = AuthError::InvalidToken {
                        origin: TokenSource::AuthorizationHeader,
                        reason: DecodeError::Expired,
                    };
                    return ResponseFuture::ready(reject(
                        &self.layer.rejection,
                        &error,
                        request.headers(),
                    ));
                };
                // Take the service that `poll_ready` readied; leave a fresh clone for the next call.
                let ready = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, ready);
                let renewal = Box::pin(refresher.renew(due));
                return ResponseFuture::renewing(
                    renewal,
                    ready,
                    request,
                    self.layer.rejection.clone(),
                );
            }
        };
        request.extensions_mut().insert(user);
        ResponseFuture::calling(self.inner.call(request))
    }
}
