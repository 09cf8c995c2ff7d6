//! The emulator's three error boundaries: starting it, administering it from Rust, and
//! answering over HTTP.

use std::net::SocketAddr;

use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, RETRY_AFTER};
use http::{HeaderValue, StatusCode};

use crate::server::json_response;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The listening socket could not be bound (address in use, no permission, ...).
    #[error("the emulator could not listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A token lifetime shorter than one second: tokens carry whole seconds, so it would
    /// issue tokens that are already expired.
    #[error("the {which} token lifetime must be at least one second")]
    TtlTooShort {
        /// `"access"` or `"refresh"`.
        which: &'static str,
    },
    /// A [login throttle](crate::EmulatorBuilder::login_throttle) with no failure allowed or a
    /// window shorter than one second.
    #[error("the login throttle needs at least one failure and a window of at least one second")]
    InvalidLoginThrottle,
    /// Hashing the dummy password at start failed; this is a bug in the emulator.
    #[error("the emulator could not prepare its password hasher: {0}")]
    Hasher(String),
    /// No valid client configuration: the `STLOCK_*` variables given to
    /// [`env_or_start`](super::env_or_start) are incomplete or malformed (from the emulator's
    /// own credentials this would be a bug).
    #[error(transparent)]
    Config(#[from] stlock::ConfigError),
}

/// Why an administrative operation was refused, from Rust or over the admin HTTP endpoints.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No user pool has this id (over HTTP: none that the API key's owner owns).
    #[error("user pool not found")]
    UnknownPool,
    /// The pool has no user with this id.
    #[error("user not found")]
    UnknownUser,
    /// The pool has no policy with this id.
    #[error("policy not found")]
    UnknownPolicy,
    /// The policy is not valid: no rules, an empty method or path list, an unknown method,
    /// a bad path pattern. The text says which.
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// A new signing secret shorter than [`MIN_JWT_SECRET_LEN`](stlock::config::MIN_JWT_SECRET_LEN)
    /// bytes (32), which `stlock::Config` would refuse too.
    #[error("jwt_secret must be at least {min} bytes", min = stlock::config::MIN_JWT_SECRET_LEN)]
    JwtSecretTooShort,
}

/// The field whose value is already used by another user of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    Username,
    Email,
    Phone,
}

/// Every error answer of the emulator's HTTP API; each becomes `{"detail": "<text>"}` with
/// the status of [`ApiError::status`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body could not be read")]
    UnreadableBody,
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("the {0} header must be sent only once")]
    DuplicateHeader(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("the x-api-key header is missing")]
    MissingApiKey,
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("the API key belongs to another owner")]
    ForeignOwner,
    #[error("user_pool_id does not match the token's user pool")]
    ForeignPool,
    #[error("incorrect username or password")]
    BadCredentials,
    #[error("the old password is incorrect")]
    WrongOldPassword,
    #[error("the Authorization header must be `bearer <token>`")]
    MissingToken,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("expected {}", .0.with_article())]
    WrongTokenType(stlock::TokenType),
    #[error("the token has expired")]
    ExpiredToken,
    #[error("the token has been revoked")]
    RevokedToken,
    #[error("the refresh token was already used; every token of that sign-in is now revoked")]
    RefreshReused,
    #[error("the user is blocked")]
    Blocked,
    #[error("too many failed logins for this username; try again later")]
    TooManyLogins { retry_after_secs: u64 },
    #[error("{}", match .0 {
        Taken::Username => "the username is already taken",
        Taken::Email => "the email is already taken",
        Taken::Phone => "the phone is already taken",
    })]
    Conflict(Taken),
    #[error("{0}")]
    Admin(#[from] AdminError),
    #[error("Not Found")]
    RouteNotFound,
    #[error("Method Not Allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_)
            | ApiError::UnreadableBody
            | ApiError::DuplicateHeader(_) => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Invalid(_)
            | ApiError::Admin(AdminError::InvalidPolicy(_) | AdminError::JwtSecretTooShort) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::MissingApiKey
            | ApiError::InvalidApiKey
            | ApiError::BadCredentials
            | ApiError::WrongOldPassword
            | ApiError::MissingToken
            | ApiError::InvalidToken
            | ApiError::WrongTokenType(_)
            | ApiError::ExpiredToken
            | ApiError::RevokedToken
            | ApiError::RefreshReused => StatusCode::UNAUTHORIZED,
            ApiError::ForeignOwner | ApiError::ForeignPool | ApiError::Blocked => {
                StatusCode::FORBIDDEN
            }
            ApiError::Admin(_) | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyLogins { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = json_response(
            self.status(),
            &serde_json::json!({ "detail": self.to_string() }),
        );
        let header = match self {
            ApiError::TooManyLogins { retry_after_secs } => {
                Some((RETRY_AFTER, HeaderValue::from(retry_after_secs)))
            }
            ApiError::MethodNotAllowed { allow } => Some((ALLOW, HeaderValue::from_static(allow))),
            _ => None,
        };
        if let Some((name, value)) = header {
            response.headers_mut().insert(name, value);
        }
        response
    }
}
