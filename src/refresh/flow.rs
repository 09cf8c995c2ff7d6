//! What the layer does with a request under auto-refresh: judge its access token, and when it is
//! due, renew it through the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue};
use tracing::Instrument as _;

use super::{
    AutoRefresh, Binding, BoxFuture, Mode, Refresh, RefreshOutcome, SessionCookies, Settled,
    ACCESS_TOKEN_HEADER, REFRESH_TOKEN_HEADER,
};
use crate::client::{Client, Error, Refusal};
use crate::credentials::{cookie_pairs, Found, Probe, TokenCache, TokenSource, TokenSources};
use crate::extract::StlockUser;
use crate::rejection::AuthError;
use crate::telemetry::{self, Refresh as Counted, Timed};
use crate::token::{Claims, DecodeError, TokenDecoder, TokenPair, TokenType};

/// Auto-refresh as one layer applies it: its settings, its client, and where its tokens are.
pub(crate) struct Refresher {
    config: AutoRefresh,
    client: Client,
    /// The layer's sources, and the one a renewed access token is taken to come from.
    sources: TokenSources,
    renewed_in: usize,
    /// Where the refresh token is: the refresh cookie, or the refresh header.
    refresh_source: RefreshSource,
    faults: Arc<Faults>,
}

enum RefreshSource {
    Cookie(TokenSource),
    Header(HeaderName),
}

/// A request whose access token must be renewed before it goes on.
pub(crate) struct Due {
    refresh_token: String,
    /// The access token presented, which a remembered new pair is bound to.
    binding: Binding,
    /// The subject of the access token presented, which the refresh token must share.
    subject: Option<String>,
    /// The user of the old token, while the leeway still accepts it: the request goes on with it
    /// should the service be unreachable.
    fallback: Option<StlockUser>,
    /// Where the credentials were found: the access token's source, or the refresh cookie.
    origin: TokenSource,
    /// Whether any of them came from a cookie, so that a cross-origin request may not use them.
    cookie_borne: bool,
}

impl Due {
    /// Where the credentials were found.
    pub(crate) fn origin(&self) -> &TokenSource {
        &self.origin
    }

    /// Whether any of them came from a cookie.
    pub(crate) fn cookie_borne(&self) -> bool {
        self.cookie_borne
    }
}

/// How the layer goes on with a request, once its access token has been judged.
pub(crate) enum Judged {
    User(StlockUser),
    /// Boxed: the common outcomes stay small to move.
    Due(Box<Due>),
    Refused(AuthError),
}

/// What a refresh ends in, with the headers the request and the response must carry.
pub(crate) enum Renewal {
    /// The request goes on as this user; with a new pair, when the token was renewed.
    Admitted(StlockUser, Option<Box<Renewed>>),
    /// The request is refused.
    Refused(AuthError, Option<Attach>),
}

/// A new pair: on the request in place of the old one, so that the handler (and anything it
/// forwards the request to) sees live credentials, and on the response for the client.
pub(crate) struct Renewed {
    hand_over: HandOver,
    attach: Attach,
}

impl Renewed {
    /// Puts the new pair in the request's headers in place of the old one.
    pub(crate) fn hand_over(&self, headers: &mut HeaderMap) {
        self.hand_over.apply(headers);
    }

    /// The headers the response gets.
    pub(crate) fn into_attach(self) -> Attach {
        self.attach
    }
}

/// The new pair, as the request carries it.
enum HandOver {
    Cookies {
        access: (String, String),
        refresh: (String, String),
    },
    Headers {
        authorization: HeaderValue,
        refresh: (HeaderName, HeaderValue),
    },
}

impl HandOver {
    fn apply(&self, headers: &mut HeaderMap) {
        match self {
            HandOver::Headers {
                authorization,
                refresh: (name, value),
            } => {
                headers.insert(http::header::AUTHORIZATION, authorization.clone());
                headers.insert(name.clone(), value.clone());
            }
            HandOver::Cookies { access, refresh } => {
                // One `Cookie` header, the session's two cookies replaced and the others kept as
                // they came (in whatever bytes the browser sent them).
                let mut cookie = Vec::new();
                for value in headers.get_all(http::header::COOKIE) {
                    for kept in cookie_pairs(value.as_bytes()).filter(|cookie| {
                        cookie.name != access.0.as_bytes() && cookie.name != refresh.0.as_bytes()
                    }) {
                        cookie.extend_from_slice(kept.pair);
                        cookie.extend_from_slice(b"; ");
                    }
                }
                for (name, token) in [access, refresh] {
                    cookie.extend_from_slice(format!("{name}={token}; ").as_bytes());
                }
                cookie.truncate(cookie.len() - 2);
                if let Ok(mut value) = HeaderValue::from_bytes(&cookie) {
                    value.set_sensitive(true);
                    headers.insert(http::header::COOKIE, value);
                }
            }
        }
    }
}

/// Headers a response gets from the refresh: the new pair, or cleared cookies.
pub(crate) enum Attach {
    Cookies(SessionCookies),
    Headers {
        access: HeaderValue,
        refresh: HeaderValue,
    },
}

impl Attach {
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        match self {
            Attach::Cookies(cookies) => cookies.apply(headers),
            Attach::Headers { access, refresh } => {
                headers.insert(ACCESS_TOKEN_HEADER, access.clone());
                headers.insert(REFRESH_TOKEN_HEADER, refresh.clone());
                headers.insert(
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                );
            }
        }
    }
}

impl Refresher {
    /// `sources` must hold the access cookie in cookie mode and the `Authorization` header in
    /// header mode; the layer sees to it.
    pub(crate) fn new(config: AutoRefresh, client: Client, sources: TokenSources) -> Self {
        let (renewed_from, refresh_source) = match &config.mode {
            Mode::Cookies(cookies) => (
                TokenSource::cookie(cookies.access_name()),
                RefreshSource::Cookie(TokenSource::cookie(cookies.refresh_name())),
            ),
            Mode::Headers { refresh } => (
                TokenSource::AuthorizationHeader,
                RefreshSource::Header(refresh.clone()),
            ),
        };
        let renewed_in = sources
            .iter()
            .position(|source| *source == renewed_from)
            .unwrap_or(0);
        Self {
            config,
            client,
            sources,
            renewed_in,
            refresh_source,
            faults: Arc::new(Faults::default()),
        }
    }

    pub(crate) fn config(&self) -> &AutoRefresh {
        &self.config
    }

    /// Judges the access token found in `sources[index]`: a user when it is valid and not due,
    /// a refresh when it is due and a refresh token came with it. Costs one decode, as the
    /// layer without auto-refresh does.
    pub(crate) fn judge(
        &self,
        token: &str,
        index: usize,
        headers: &HeaderMap,
        cache: Option<&TokenCache>,
        probe: Probe,
    ) -> Judged {
        let origin = || {
            self.sources
                .get(index)
                .cloned()
                .unwrap_or(TokenSource::AuthorizationHeader)
        };
        let decoder = self.client.decoder();
        let now = probe.now();
        let claims = match probe.claims(cache, token, now, |token| {
            decoder.decode_ignoring_expiry(token, TokenType::Access)
        }) {
            Ok(claims) => claims,
            Err(reason) => {
                return Judged::Refused(AuthError::InvalidToken {
                    origin: origin(),
                    reason,
                })
            }
        };
        if !self.due(&claims, now) {
            return Judged::User(StlockUser::new(claims, &self.sources, index));
        }
        let within_leeway = now < claims.exp.saturating_add(decoder.leeway());
        match self.refresh_token(headers) {
            Found::Token(refresh_token) => {
                let origin = origin();
                Judged::Due(Box::new(Due {
                    refresh_token: refresh_token.to_owned(),
                    binding: Binding::of(Some(token)),
                    subject: Some(claims.sub.clone()),
                    fallback: within_leeway.then(|| StlockUser::new(claims, &self.sources, index)),
                    cookie_borne: self.config.is_cookie_mode() || !origin.is_authorization_header(),
                    origin,
                }))
            }
            Found::Absent if within_leeway => {
                Judged::User(StlockUser::new(claims, &self.sources, index))
            }
            Found::Absent => Judged::Refused(AuthError::InvalidToken {
                origin: origin(),
                reason: DecodeError::Expired,
            }),
            Found::Malformed(reason) => Judged::Refused(AuthError::MalformedCredentials {
                origin: self.refresh_origin(),
                reason,
            }),
        }
    }

    /// A request without an access token: due when it brings a refresh cookie (a browser drops
    /// the access cookie at its `Max-Age`); `None` when it brings nothing to refresh with.
    pub(crate) fn judge_absent(&self, headers: &HeaderMap) -> Option<Judged> {
        if !self.config.is_cookie_mode() {
            return None;
        }
        match self.refresh_token(headers) {
            Found::Token(refresh_token) => Some(Judged::Due(Box::new(Due {
                refresh_token: refresh_token.to_owned(),
                binding: Binding::none(),
                subject: None,
                fallback: None,
                origin: self.refresh_origin(),
                cookie_borne: true,
            }))),
            Found::Absent => None,
            Found::Malformed(reason) => Some(Judged::Refused(AuthError::MalformedCredentials {
                origin: self.refresh_origin(),
                reason,
            })),
        }
    }

    /// Whether a token is due: expired, or in its last share of life.
    pub(crate) fn due(&self, claims: &Claims, now: u64) -> bool {
        now >= claims.exp || self.early(claims, now)
    }

    fn early(&self, claims: &Claims, now: u64) -> bool {
        self.config.early.is_some_and(|share| {
            let lifetime = claims.exp.saturating_sub(claims.iat) as f64;
            (claims.exp.saturating_sub(now) as f64) < share * lifetime
        })
    }

    fn refresh_token<'a>(&self, headers: &'a HeaderMap) -> Found<'a> {
        match &self.refresh_source {
            RefreshSource::Cookie(source) => source.read(headers),
            RefreshSource::Header(name) => {
                let mut values = headers.get_all(name).iter();
                match (values.next(), values.next()) {
                    (None, _) => Found::Absent,
                    (Some(_), Some(_)) => {
                        Found::Malformed("the refresh token header is sent more than once")
                    }
                    (Some(value), None) => match value.to_str() {
                        Ok(token) if !token.trim().is_empty() => Found::Token(token.trim()),
                        _ => Found::Malformed(
                            "the refresh token header is empty or not visible ASCII",
                        ),
                    },
                }
            }
        }
    }

    /// Where the session's tokens are, for a rejection: the refresh cookie or the header.
    fn refresh_origin(&self) -> TokenSource {
        match &self.refresh_source {
            RefreshSource::Cookie(source) => source.clone(),
            RefreshSource::Header(_) => TokenSource::AuthorizationHeader,
        }
    }

    /// Renews the token of a due request: the refresh token is verified here first (a forged
    /// one never reaches the service), exchanged once through the store, and the new access
    /// token verified before anyone is let in on it. A new pair goes only to a request bound
    /// like the one that reached it; see [`RefreshStore`](super::RefreshStore).
    pub(crate) async fn renew(self: Arc<Self>, due: Box<Due>) -> Renewal {
        let (renewal, counted) = self.settle(due).await;
        counted.count();
        renewal
    }

    /// [`renew`](Self::renew)'s work, and how `stlock_refreshes_total` counts it.
    async fn settle(&self, due: Box<Due>) -> (Renewal, Counted) {
        let decoder = self.client.decoder();
        let Ok(refresh_claims) = decoder.decode(&due.refresh_token, TokenType::Refresh) else {
            return (self.ended(), Counted::Refused);
        };
        // An access token of one user with a refresh token of another: one of them was stolen
        // or planted. Never exchanged for this request; should nobody have exchanged it yet,
        // the exchange this request leads ends the session at the service instead.
        let planted = due
            .subject
            .as_ref()
            .is_some_and(|subject| *subject != refresh_claims.sub);
        // Set by this request's own exchange once the service answered: a pair obtained
        // without it was another request's.
        let called = Arc::new(AtomicBool::new(false));
        let exchange = if planted {
            self.report(&due.refresh_token, due.binding)
        } else {
            self.exchange(&due.refresh_token, due.binding, Arc::clone(&called))
        };
        let joined_at = Instant::now();
        let settled = self
            .coordinate(&due.refresh_token, due.fallback.is_some(), exchange)
            .await;
        let pair = match settled.outcome {
            RefreshOutcome::Refreshed(pair) => pair,
            RefreshOutcome::Refused if planted => return (self.ended(), Counted::SuspectedTheft),
            RefreshOutcome::Refused => return (self.ended(), Counted::Refused),
            RefreshOutcome::Unavailable(cause) => {
                return (self.unavailable(*due, cause), Counted::Unavailable)
            }
        };
        let obtained = if called.load(Ordering::Relaxed) {
            Counted::Refreshed
        } else {
            Counted::Shared
        };
        if settled.bound_to == due.binding {
            return match self.admit(&pair) {
                Some(admitted) => (admitted, obtained),
                None => (self.unverifiable(&pair), Counted::Unverifiable),
            };
        }
        if due.binding == Binding::none() {
            // A browser that dropped its access cookie shares a refresh still in flight; once it
            // has settled, the pair went to a request that had the access token, and this one,
            // with the refresh token alone, could be anyone's. Retryable: nothing is spent.
            if joined_at <= settled.settled_at {
                if let Some(admitted) = self.admit(&pair) {
                    return (admitted, obtained);
                }
            }
            let refused = AuthError::RefreshUnavailable(Arc::new(RenewedForAnother));
            return (Renewal::Refused(refused, None), Counted::Unavailable);
        }
        tracing::warn!(
            user = %refresh_claims.sub,
            "stlock suspects a stolen refresh token: it was presented again with another access \
             token than the one it was exchanged with; ending the session at the STLock service"
        );
        let token = format!("{}{THEFT_KEY_SUFFIX}", due.refresh_token);
        let report = self.report(&due.refresh_token, due.binding);
        self.coordinate(&token, false, report).await;
        (self.ended(), Counted::SuspectedTheft)
    }

    /// `exchange` for `refresh_token`, through the store: once however many requests race,
    /// within this layer's grace window and the client's timeout.
    async fn coordinate(
        &self,
        refresh_token: &str,
        can_wait: bool,
        exchange: BoxFuture<'static, Settled>,
    ) -> Settled {
        let refresh = Refresh {
            refresh_token,
            grace: self.config.grace,
            patience: self.client.config().timeout(),
            can_wait,
            exchange,
        };
        self.config.store.coordinate(refresh).await
    }

    /// The session is over: 401, and in cookie mode both cookies cleared.
    fn ended(&self) -> Renewal {
        let clear = match &self.config.mode {
            Mode::Cookies(cookies) => Some(Attach::Cookies(cookies.clear())),
            Mode::Headers { .. } => None,
        };
        Renewal::Refused(
            AuthError::SessionEnded {
                origin: self.refresh_origin(),
            },
            clear,
        )
    }

    /// The call to the service that exchanges `refresh_token`, its answer classified: only the
    /// service refusing the token ends the session; every other failure is a fault.
    fn exchange(
        &self,
        refresh_token: &str,
        binding: Binding,
        called: Arc<AtomicBool>,
    ) -> BoxFuture<'static, Settled> {
        let (client, faults) = (self.client.clone(), Arc::clone(&self.faults));
        let (token, grace) = (refresh_token.to_owned(), self.config.grace);
        let span = telemetry::refresh_span();
        Box::pin(
            async move {
                let outcome = match timed_refresh(&client, &token).await {
                    Ok(pair) => {
                        faults.clear();
                        RefreshOutcome::Refreshed(pair)
                    }
                    Err(error) => faults.classify(error),
                };
                called.store(true, Ordering::Relaxed);
                let result = match outcome {
                    RefreshOutcome::Refreshed(_) => "refreshed",
                    RefreshOutcome::Refused => "refused",
                    RefreshOutcome::Unavailable(_) => "unavailable",
                };
                tracing::Span::current().record("result", result);
                Settled::now(outcome, binding, grace)
            }
            .instrument(span),
        )
    }

    /// Presents `refresh_token` to the service once more, so that its reuse detection ends the
    /// session of a token someone else holds a copy of; should the service hand out a pair all
    /// the same, that pair is signed out at once. Nothing from it reaches the request.
    fn report(&self, refresh_token: &str, binding: Binding) -> BoxFuture<'static, Settled> {
        let client = self.client.clone();
        let (token, grace) = (refresh_token.to_owned(), self.config.grace);
        let span = telemetry::refresh_span();
        span.record("result", "suspected_theft");
        Box::pin(
            async move {
                let outcome = match timed_refresh(&client, &token).await {
                    Ok(pair) => match client.logout(&pair.refresh_token).await {
                        Ok(()) => RefreshOutcome::Refused,
                        Err(error) => RefreshOutcome::Unavailable(Arc::new(error)),
                    },
                    Err(error) if error.refusal().is_some_and(Refusal::ends_session) => {
                        RefreshOutcome::Refused
                    }
                    Err(error) => RefreshOutcome::Unavailable(Arc::new(error)),
                };
                Settled::now(outcome, binding, grace)
            }
            .instrument(span),
        )
    }

    /// The user of a new pair, and the headers that hand the pair to the handler and the
    /// client; `None` when the new tokens do not verify, which only a misconfigured service
    /// would send.
    fn admit(&self, pair: &TokenPair) -> Option<Renewal> {
        let decoder = self.client.decoder();
        let access = decoder.decode_access(&pair.access_token).ok()?;
        let refresh = decoder.decode_refresh(&pair.refresh_token).ok()?;
        let (hand_over, attach) = self.hand_out(pair, refresh.exp)?;
        let user = StlockUser::renewed(access, &self.sources, self.renewed_in, &pair.access_token);
        Some(Renewal::Admitted(
            user,
            Some(Box::new(Renewed { hand_over, attach })),
        ))
    }

    /// A pair the service issued that this app cannot verify: its secret was rotated at the
    /// service before the app accepted the new one (see `ConfigBuilder::extra_jwt_secrets`).
    /// The old refresh token is spent, so dropping the pair would end the session once the grace
    /// window closes: it goes to the client, unverified and unused here, with a 503, so that the
    /// session goes on once the app accepts the new secret.
    fn unverifiable(&self, pair: &TokenPair) -> Renewal {
        tracing::error!(
            "the STLock service issued tokens that do not verify with the configured pool and \
             secret (was the pool's secret rotated before the app accepted the new one?): the \
             request is refused with 503 and the new pair handed to the client unverified"
        );
        let attach = TokenDecoder::unverified_expiry(&pair.refresh_token)
            .and_then(|exp| self.hand_out(pair, exp))
            .map(|(_, attach)| attach);
        Renewal::Refused(
            AuthError::RefreshUnavailable(Arc::new(UnverifiableRenewal)),
            attach,
        )
    }

    /// The headers that hand `pair` to the handler and to the client, its refresh token
    /// expiring at `refresh_exp`.
    fn hand_out(&self, pair: &TokenPair, refresh_exp: u64) -> Option<(HandOver, Attach)> {
        let sensitive = |token: &str| {
            let mut value = HeaderValue::from_str(token).ok()?;
            value.set_sensitive(true);
            Some(value)
        };
        let (hand_over, attach) = match &self.config.mode {
            Mode::Cookies(cookies) => {
                let hand_over = HandOver::Cookies {
                    access: (cookies.access_name().to_owned(), pair.access_token.clone()),
                    refresh: (
                        cookies.refresh_name().to_owned(),
                        pair.refresh_token.clone(),
                    ),
                };
                let attach = Attach::Cookies(cookies.set(pair, refresh_exp));
                (hand_over, attach)
            }
            Mode::Headers { refresh: name } => {
                let bearer = format!("Bearer {}", pair.access_token);
                let refresh = sensitive(&pair.refresh_token)?;
                let hand_over = HandOver::Headers {
                    authorization: sensitive(&bearer)?,
                    refresh: (name.clone(), refresh.clone()),
                };
                let attach = Attach::Headers {
                    access: sensitive(&pair.access_token)?,
                    refresh,
                };
                (hand_over, attach)
            }
        };
        Some((hand_over, attach))
    }

    /// The service could not renew the token: the request goes on with the old one while the
    /// leeway accepts it, else it is refused with 503, never signed out.
    fn unavailable(&self, due: Due, cause: Arc<dyn std::error::Error + Send + Sync>) -> Renewal {
        match due.fallback {
            Some(user) => {
                // The cause was logged where it arose, once per episode, not once per request.
                tracing::debug!(
                    %cause,
                    "stlock could not refresh a token; the request goes on with the old one"
                );
                Renewal::Admitted(user, None)
            }
            None => Renewal::Refused(AuthError::RefreshUnavailable(cause), None),
        }
    }
}

/// The service's refresh of `token`, its duration recorded.
async fn timed_refresh(client: &Client, token: &str) -> Result<TokenPair, Error> {
    let started = Instant::now();
    let answer = client.refresh(token).await;
    Timed::Refresh.took(started.elapsed());
    answer
}

/// What a theft report is coordinated under: a key of its own beside the refresh token's, so
/// that however many requests bring the stolen token, the service is told once.
const THEFT_KEY_SUFFIX: &str = "#reported";

/// Faults of the refresh calls, each logged once until a refresh succeeds again — at ERROR for
/// an answer that is not about the token (an operator must see a wrong API key), at WARN for a
/// service that does not answer — but not once per request.
#[derive(Default)]
struct Faults {
    api_key: AtomicBool,
    foreign_owner: AtomicBool,
    unrecognised: AtomicBool,
    /// The service unreachable, timing out or failing: a warning, once until it answers again.
    unreachable: AtomicBool,
}

impl Faults {
    /// What a failed refresh call comes to: the session ends only when the service refused
    /// the token itself.
    fn classify(&self, error: Error) -> RefreshOutcome {
        // A token that is not a JWT at all is refused before it is sent; it was verified here
        // first, so this does not happen, and it would be no session to keep.
        if error.is_invalid_input() {
            return RefreshOutcome::Refused;
        }
        let logged = match error.refusal() {
            Some(Refusal::ReusedToken) => {
                tracing::warn!(
                    %error,
                    "the STLock service refused a refresh token that was already used: its \
                     session is ended; someone may hold a copy of it"
                );
                return RefreshOutcome::Refused;
            }
            Some(refusal) if refusal.ends_session() => {
                tracing::info!(%error, "the STLock service refused a refresh token: the session has ended");
                return RefreshOutcome::Refused;
            }
            Some(Refusal::ApiKey) => &self.api_key,
            Some(Refusal::ForeignOwner) => &self.foreign_owner,
            Some(_) => &self.unrecognised,
            None => {
                if !self.unreachable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        "stlock cannot refresh tokens: the STLock service does not answer; \
                         requests go on with their old token while the leeway accepts it"
                    );
                }
                return RefreshOutcome::Unavailable(Arc::new(error));
            }
        };
        if !logged.swap(true, Ordering::Relaxed) {
            tracing::error!(
                %error,
                "the STLock service, or something in front of it, refused a refresh with an \
                 answer that is not about the token (a wrong API key, another owner's key, a \
                 proxy): nobody is signed out, but no session can be renewed until this is fixed"
            );
        }
        RefreshOutcome::Unavailable(Arc::new(error))
    }

    /// A refresh succeeded: the next fault is news again.
    fn clear(&self) {
        for flag in [
            &self.api_key,
            &self.foreign_owner,
            &self.unrecognised,
            &self.unreachable,
        ] {
            flag.store(false, Ordering::Relaxed);
        }
    }
}

/// A new pair from the service whose tokens do not verify: the service's secret or pool is not
/// the one configured.
#[derive(Debug, thiserror::Error)]
#[error("the STLock service issued tokens that do not verify with the configured pool and secret")]
struct UnverifiableRenewal;

/// A request with the refresh cookie alone, after its refresh settled for a request that had the
/// access token: it gets no token, and may try again with the cookies that request received.
#[derive(Debug, thiserror::Error)]
#[error(
    "the refresh token was already exchanged for a request that carried the session's access \
     token; a request without one gets no token"
)]
struct RenewedForAnother;
