//! [`StlockUser`]: the verified user of a request, as a handler argument (an axum extractor)
//! or read from a tonic request.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use http::Extensions;

use crate::credentials::{Found, TokenSource, TokenSources};
use crate::rejection::AuthError;
use crate::token::Claims;

/// The user whose access token [`StlockLayer`](crate::StlockLayer) verified for this request.
///
/// The layer puts it into the request's extensions; handlers take it as an argument. As a plain
/// `StlockUser` it requires a user; as `Option<StlockUser>` it also accepts requests that the
/// layer, in [optional](crate::StlockLayer::optional) mode, let through without a token.
///
/// ```
/// use axum::{routing::get, Json, Router};
/// use stlock::{StlockLayer, StlockUser};
///
/// async fn me(user: StlockUser) -> String {
///     format!("hello {}", user.user_id())
/// }
///
/// async fn greeting(user: Option<StlockUser>) -> String {
///     match user {
///         Some(user) => format!("welcome back, {}", user.user_id()),
///         None => "welcome, stranger".to_owned(),
///     }
/// }
///
/// fn app(auth: StlockLayer) -> Router {
///     Router::new()
///         .route("/me", get(me))
///         .route("/", get(greeting))
///         .layer(auth.optional())
/// }
/// ```
///
/// Without the layer in front, the extractor answers 500 with a message naming the missing
/// layer, rather than letting a request through unauthenticated.
#[derive(Clone, PartialEq, Eq)]
pub struct StlockUser {
    /// Shared with the verified-token cache: a repeat token costs no copy of its claims.
    claims: Arc<Claims>,
    /// The layer's sources and which of them held the token: a shared list and an index, so
    /// that telling inner layers where the token came from costs no allocation.
    sources: TokenSources,
    found_in: usize,
    /// The access token the layer got by refreshing, which the request itself does not carry.
    renewed_token: Option<Arc<str>>,
}

/// Left in the extensions by an optional layer that let a request through without a token, so
/// that `Option<StlockUser>` can tell "no user" from "no layer", and a rejection further in can
/// say where a token was looked for.
#[derive(Clone, Debug)]
pub(crate) struct Anonymous {
    pub(crate) accepted: TokenSources,
}

impl StlockUser {
    /// The user of `claims`, whose token was found in `sources[found_in]`.
    pub(crate) fn new(
        claims: impl Into<Arc<Claims>>,
        sources: &TokenSources,
        found_in: usize,
    ) -> Self {
        Self {
            claims: claims.into(),
            sources: sources.clone(),
            found_in,
            renewed_token: None,
        }
    }

    /// The user of `token`, which the layer got by refreshing, taken to live in
    /// `sources[found_in]` from now on.
    pub(crate) fn renewed(
        claims: Claims,
        sources: &TokenSources,
        found_in: usize,
        token: &str,
    ) -> Self {
        Self {
            renewed_token: Some(token.into()),
            ..Self::new(claims, sources, found_in)
        }
    }

    /// This request's verified access token, read from `headers` (the request's) where the
    /// layer found it, or the one the layer renewed it to: for a handler that calls another
    /// service on its user's behalf, as `Authorization: Bearer`. `None` when a layer in between
    /// took the token out of the headers.
    ///
    /// The token is a bearer credential of the user's: send it only over TLS, and only to
    /// services of the same pool that verify it themselves. The layer checked it when the
    /// request came in; it expires on its own schedule (`expires_at`), which a long call made
    /// on the user's behalf may outlive.
    ///
    /// ```
    /// use axum::http::HeaderMap;
    /// use stlock::StlockUser;
    ///
    /// async fn orders(user: StlockUser, headers: HeaderMap) -> String {
    ///     let token = user.access_token(&headers).unwrap_or_default();
    ///     // reqwest::Client::new().get("https://orders.internal/mine").bearer_auth(token) …
    ///     # let _ = token;
    ///     user.user_id().to_owned()
    /// }
    /// ```
    pub fn access_token<'a>(&'a self, headers: &'a http::HeaderMap) -> Option<&'a str> {
        if let Some(renewed) = self.renewed_token.as_deref() {
            return Some(renewed);
        }
        match self.token_source().read(headers) {
            Found::Token(token) => Some(token),
            _ => None,
        }
    }

    /// Whether the layer refreshed this request's token: the response carries a new pair.
    pub fn was_refreshed(&self) -> bool {
        self.renewed_token.is_some()
    }

    /// The user's id (the token's `sub`).
    pub fn user_id(&self) -> &str {
        &self.claims.sub
    }

    /// The owner's id (`owner_sub`).
    pub fn owner_id(&self) -> &str {
        &self.claims.owner_sub
    }

    /// The user pool's id (`user_pool_sub`).
    pub fn user_pool_id(&self) -> &str {
        &self.claims.user_pool_sub
    }

    /// The access token's id (`jti`).
    pub fn token_id(&self) -> &str {
        &self.claims.jti
    }

    /// When the token was issued (`iat`).
    pub fn issued_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.claims.iat)
    }

    /// When the token expires (`exp`).
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.claims.exp)
    }

    /// Every verified claim of the token.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Takes the verified claims (a copy, when the verified-token cache shares them).
    pub fn into_claims(self) -> Claims {
        Arc::try_unwrap(self.claims).unwrap_or_else(|shared| Claims::clone(&shared))
    }

    /// Where the request carried the token: the `Authorization` header or a cookie. A
    /// [`GrantLayer`](crate::GrantLayer) further in reads the token from there again.
    pub fn token_source(&self) -> &TokenSource {
        // `found_in` was an index into this very list when the user was made.
        self.sources
            .get(self.found_in)
            .unwrap_or(&TokenSource::AuthorizationHeader)
    }

    /// The user stlock's layer left in these extensions: `Ok(None)` when an optional layer let
    /// the request through without a token, [`AuthError::MissingLayer`] when no layer ran.
    pub fn from_extensions(extensions: &Extensions) -> Result<Option<&StlockUser>, AuthError> {
        match extensions.get::<StlockUser>() {
            Some(user) => Ok(Some(user)),
            None if extensions.get::<Anonymous>().is_some() => Ok(None),
            None => Err(AuthError::MissingLayer),
        }
    }

    /// The user stlock's layer left in these extensions, required: [`AuthError::MissingToken`]
    /// (naming where the layer looked) when an optional layer let the request through without
    /// one, [`AuthError::MissingLayer`] when no layer ran.
    pub fn require(extensions: &Extensions) -> Result<&StlockUser, AuthError> {
        if let Some(user) = extensions.get::<StlockUser>() {
            return Ok(user);
        }
        match extensions.get::<Anonymous>() {
            Some(anonymous) => Err(AuthError::MissingToken {
                accepted: anonymous.accepted.clone(),
            }),
            None => Err(AuthError::MissingLayer),
        }
    }

    /// The user of a tonic request, for gRPC services behind
    /// `Server::builder().layer(StlockLayer::…)`: `UNAUTHENTICATED` when there is none,
    /// `INTERNAL` when the layer is missing.
    ///
    /// ```
    /// # use stlock::StlockUser;
    /// fn who(request: &tonic::Request<()>) -> Result<String, tonic::Status> {
    ///     let user = StlockUser::from_grpc(request)?;
    ///     Ok(user.user_id().to_owned())
    /// }
    /// ```
    #[cfg(feature = "tonic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
    pub fn from_grpc<T>(request: &tonic::Request<T>) -> Result<&StlockUser, tonic::Status> {
        Self::require(request.extensions()).map_err(|error| {
            tonic::Status::new(tonic::Code::from_i32(error.grpc_code()), error.to_string())
        })
    }
}

impl std::fmt::Debug for StlockUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StlockUser")
            .field("claims", &self.claims)
            .field("token_source", self.token_source())
            .field("was_refreshed", &self.was_refreshed())
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for StlockUser {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        StlockUser::require(&parts.extensions).cloned()
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for StlockUser {
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(StlockUser::from_extensions(&parts.extensions)?.cloned())
    }
}
