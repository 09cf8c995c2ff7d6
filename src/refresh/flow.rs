//! What the layer does with a request under auto-refresh: judge its access token, and when it is
//! due, renew it through the store.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::{
    AutoRefresh, Mode, RefreshOutcome, SessionCookies, ACCESS_TOKEN_HEADER, REFRESH_TOKEN_HEADER,
};
use crate::layer::cache::{Probe, TokenCache};
use crate::layer::source::Found;
use crate::token::unix_now;
use crate::{
    AuthError, Claims, Client, StlockUser, TokenPair, TokenSource, TokenSources, TokenType,
};

/// Auto-refresh as one layer applies it: its settings, its client, and where its tokens are.
pub(crate) struct Refresher {
    config: AutoRefresh,
    client: Client,
    /// The layer's sources, and the one a renewed access token is taken to come from.
    sources: TokenSources,
    renewed_in: usize,
    /// Where the refresh token is: the refresh cookie, or the refresh header.
    refresh_source: RefreshSource,
}

enum RefreshSource {
    Cookie(TokenSource),
    Header(HeaderName),
}

/// A request whose access token must be renewed before it goes on.
pub(crate) struct Due {
    refresh_token: String,
    /// The subject of the access token presented, which the refresh token must share.
    subject: Option<String>,
    /// The user of the old token, while the leeway still accepts it: the request goes on with it
    /// should the service be unreachable.
    fallback: Option<StlockUser>,
}

/// How the layer goes on with a request, once its access token has been judged.
pub(crate) enum Judged {
    User(StlockUser),
    Due(Due),
    Refused(AuthError),
}

/// What a refresh ends in, with the headers the response must carry.
pub(crate) enum Renewal {
    /// The request goes on as this user.
    Admitted(StlockUser, Option<Attach>),
    /// The request is refused.
    Refused(AuthError, Option<Attach>),
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
            Mode::Cookies => (
                TokenSource::cookie(config.cookies.access.as_str()),
                RefreshSource::Cookie(TokenSource::cookie(config.cookies.refresh.as_str())),
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
            Found::Token(refresh_token) => Judged::Due(Due {
                refresh_token: refresh_token.to_owned(),
                subject: Some(claims.sub.clone()),
                fallback: within_leeway.then(|| StlockUser::new(claims, &self.sources, index)),
            }),
            Found::Absent if within_leeway => {
                Judged::User(StlockUser::new(claims, &self.sources, index))
            }
            Found::Absent => Judged::Refused(AuthError::InvalidToken {
                origin: origin(),
                reason: crate::DecodeError::Expired,
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
            Found::Token(refresh_token) => Some(Judged::Due(Due {
                refresh_token: refresh_token.to_owned(),
                subject: None,
                fallback: None,
            })),
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
    /// token verified before anyone is let in on it.
    pub(crate) async fn renew(self: Arc<Self>, due: Due) -> Renewal {
        let origin = self.refresh_origin();
        let ended = |this: &Self| {
            let clear = this
                .config
                .is_cookie_mode()
                .then(|| Attach::Cookies(this.config.cookies.clear()));
            Renewal::Refused(
                AuthError::SessionEnded {
                    origin: origin.clone(),
                },
                clear,
            )
        };
        let decoder = self.client.decoder();
        let Ok(refresh_claims) = decoder.decode(&due.refresh_token, TokenType::Refresh) else {
            return ended(&self);
        };
        // An access token of one user with a refresh token of another: one of them was planted.
        if due
            .subject
            .as_ref()
            .is_some_and(|subject| *subject != refresh_claims.sub)
        {
            return ended(&self);
        }
        let exchange = {
            let (client, token) = (self.client.clone(), due.refresh_token.clone());
            Box::pin(async move {
                match client.refresh(&token).await {
                    Ok(pair) => RefreshOutcome::Refreshed(pair),
                    Err(error) if refused(&error) => RefreshOutcome::Refused,
                    Err(error) => RefreshOutcome::Unavailable(Arc::new(error)),
                }
            })
        };
        let outcome = self
            .config
            .store
            .coordinate(&due.refresh_token, self.config.grace, exchange)
            .await;
        match outcome {
            RefreshOutcome::Refreshed(pair) => match self.admit(&pair) {
                Some(admitted) => admitted,
                None => self.unavailable(due, Arc::new(UnverifiableRenewal)),
            },
            RefreshOutcome::Unavailable(cause) => self.unavailable(due, cause),
            RefreshOutcome::Refused => ended(&self),
        }
    }

    /// The user of a new pair, and the headers that hand the pair to the client; `None` when
    /// the new tokens do not verify, which only a misconfigured service would send.
    fn admit(&self, pair: &TokenPair) -> Option<Renewal> {
        let decoder = self.client.decoder();
        let access = decoder.decode_access(&pair.access_token).ok()?;
        let refresh = decoder.decode_refresh(&pair.refresh_token).ok()?;
        let now = unix_now();
        let attach = match &self.config.mode {
            Mode::Cookies => Attach::Cookies(self.config.cookies.set(
                (&pair.access_token, access.exp.saturating_sub(now)),
                (&pair.refresh_token, refresh.exp.saturating_sub(now)),
            )),
            Mode::Headers { .. } => {
                let header = |token: &str| {
                    let mut value = HeaderValue::from_str(token).ok()?;
                    value.set_sensitive(true);
                    Some(value)
                };
                Attach::Headers {
                    access: header(&pair.access_token)?,
                    refresh: header(&pair.refresh_token)?,
                }
            }
        };
        let user = StlockUser::renewed(access, &self.sources, self.renewed_in, &pair.access_token);
        Some(Renewal::Admitted(user, Some(attach)))
    }

    /// The service could not renew the token: the request goes on with the old one while the
    /// leeway accepts it, else it is refused with 503, never signed out.
    fn unavailable(&self, due: Due, cause: Arc<dyn std::error::Error + Send + Sync>) -> Renewal {
        match due.fallback {
            Some(user) => {
                tracing::warn!(
                    %cause,
                    "stlock could not refresh a token; the request goes on with the old one"
                );
                Renewal::Admitted(user, None)
            }
            None => Renewal::Refused(AuthError::RefreshUnavailable(cause), None),
        }
    }
}

/// Whether the service refused the refresh token itself (rather than failing to answer): the
/// session is over.
fn refused(error: &crate::Error) -> bool {
    matches!(
        error.status(),
        Some(StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    ) || error.is_invalid_input()
}

/// A new pair from the service whose tokens do not verify: the service's secret or pool is not
/// the one configured.
#[derive(Debug, thiserror::Error)]
#[error("the STLock service issued tokens that do not verify with the configured pool and secret")]
struct UnverifiableRenewal;
