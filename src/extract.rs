//! `StlockUser`: the verified user of a request, as a handler argument.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use http::Extensions;

use crate::{AuthError, Claims};

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StlockUser {
    claims: Claims,
}

/// Left in the extensions by an optional layer that let a request through without a token, so
/// that `Option<StlockUser>` can tell "no user" from "no layer".
#[derive(Clone, Copy, Debug)]
pub(crate) struct Anonymous;

impl StlockUser {
    pub(crate) fn new(claims: Claims) -> Self {
        Self { claims }
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

    /// Takes the verified claims.
    pub fn into_claims(self) -> Claims {
        self.claims
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
        let to_status = |error: AuthError| {
            tonic::Status::new(tonic::Code::from_i32(error.grpc_code()), error.to_string())
        };
        Self::from_extensions(request.extensions())
            .map_err(to_status)?
            .ok_or_else(|| to_status(AuthError::MissingToken))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for StlockUser {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        StlockUser::from_extensions(&parts.extensions)?
            .cloned()
            .ok_or(AuthError::MissingToken)
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
