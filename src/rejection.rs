//! Why a request was turned away, and the response that says so.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::DecodeError;

/// Why stlock's middleware turned a request away.
///
/// Implements [`IntoResponse`]: HTTP status, `WWW-Authenticate` per RFC 6750 where it applies,
/// and a JSON body `{"detail": "..."}` that says what to fix. gRPC requests get the matching
/// gRPC status instead (see [`AuthError::grpc_code`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No access token in any configured source.
    #[error("authentication required: send `Authorization: Bearer <access token>`")]
    MissingToken,
    /// The credentials header is unusable (several `Authorization` headers, no token after
    /// `Bearer`, bytes that are not visible ASCII, too large).
    #[error("malformed credentials: {0}")]
    MalformedCredentials(&'static str),
    /// A token was presented and failed verification.
    #[error("invalid access token: {0}")]
    InvalidToken(DecodeError),
    /// The service no longer accepts this token (revoked, or the user is gone).
    #[error("the access token was revoked: sign in again")]
    RevokedToken,
    /// The user's grant policies do not allow this method on this path.
    #[error("the user's policies do not allow this request")]
    GrantDenied,
    /// The grant check could not be made, so the request is refused (fail closed).
    #[error("the grant check is unavailable, so the request is refused: {0}")]
    GrantUnavailable(String),
    /// A route needs `StlockLayer` in front of it and it is not there: a wiring mistake.
    #[error(
        "this route needs `StlockLayer` in front of it (add `.layer(StlockLayer::new(config)?)`)"
    )]
    MissingLayer,
}

impl AuthError {
    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingToken | AuthError::InvalidToken(_) | AuthError::RevokedToken => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::MalformedCredentials(_) => StatusCode::BAD_REQUEST,
            AuthError::GrantDenied => StatusCode::FORBIDDEN,
            AuthError::GrantUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code of this rejection (`UNAUTHENTICATED` = 16, `PERMISSION_DENIED` = 7,
    /// `UNAVAILABLE` = 14, `INTERNAL` = 13, `INVALID_ARGUMENT` = 3).
    pub fn grpc_code(&self) -> i32 {
        match self {
            AuthError::MissingToken | AuthError::InvalidToken(_) | AuthError::RevokedToken => 16,
            AuthError::MalformedCredentials(_) => 3,
            AuthError::GrantDenied => 7,
            AuthError::GrantUnavailable(_) => 14,
            AuthError::MissingLayer => 13,
        }
    }

    /// The `WWW-Authenticate` challenge of RFC 6750, for the rejections that have one.
    fn challenge(&self) -> Option<HeaderValue> {
        let (error, description) = match self {
            AuthError::MissingToken => return Some(HeaderValue::from_static("Bearer")),
            AuthError::MalformedCredentials(reason) => ("invalid_request", *reason),
            AuthError::InvalidToken(reason) => {
                return HeaderValue::from_str(&format!(
                    "Bearer error=\"invalid_token\", error_description=\"{reason}\""
                ))
                .ok()
            }
            AuthError::RevokedToken => ("invalid_token", "the access token was revoked"),
            AuthError::GrantDenied => (
                "insufficient_scope",
                "the user's policies do not allow this request",
            ),
            AuthError::GrantUnavailable(_) | AuthError::MissingLayer => return None,
        };
        HeaderValue::from_str(&format!(
            "Bearer error=\"{error}\", error_description=\"{description}\""
        ))
        .ok()
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "detail": self.to_string() }).to_string();
        let mut response = (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(challenge) = self.challenge() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Turns an [`AuthError`] into the HTTP response a client sees, to replace stlock's default.
///
/// Any `Fn(&AuthError) -> Response + Clone + Send + Sync + 'static` is one. gRPC requests always
/// get a gRPC status, since a gRPC client cannot read anything else.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use stlock::{AuthError, StlockLayer};
///
/// fn plain_text(error: &AuthError) -> Response {
///     (error.status(), format!("go away: {error}")).into_response()
/// }
/// # fn wire(layer: StlockLayer) {
/// let layer = layer.rejection(plain_text);
/// # }
/// ```
pub trait RejectionHandler: Clone + Send + Sync + 'static {
    /// The response for `error`.
    fn respond(&self, error: &AuthError) -> Response;
}

impl<F> RejectionHandler for F
where
    F: Fn(&AuthError) -> Response + Clone + Send + Sync + 'static,
{
    fn respond(&self, error: &AuthError) -> Response {
        self(error)
    }
}

/// stlock's own rejection: [`AuthError`]'s [`IntoResponse`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRejection;

impl RejectionHandler for DefaultRejection {
    fn respond(&self, error: &AuthError) -> Response {
        error.clone().into_response()
    }
}

/// Response bodies that stlock's middleware can put a rejection into.
///
/// The middleware is generic over the body of the service it wraps; a rejection is built as an
/// axum [`Body`] and converted, only on the rejection path, into the wrapped service's body type.
/// Implemented for axum's `Body`, for `UnsyncBoxBody<Bytes, E>`, and with the `tonic` feature for
/// `tonic::body::Body`.
pub trait RejectionBody: Sized {
    /// Converts a rejection's body.
    fn from_body(body: Body) -> Self;
}

impl RejectionBody for Body {
    fn from_body(body: Body) -> Self {
        body
    }
}

impl<E> RejectionBody for http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, E>
where
    E: From<axum::Error> + 'static,
{
    fn from_body(body: Body) -> Self {
        use http_body_util::BodyExt as _;
        body.map_err(E::from).boxed_unsync()
    }
}

#[cfg(feature = "tonic")]
impl RejectionBody for tonic::body::Body {
    fn from_body(body: Body) -> Self {
        tonic::body::Body::new(body)
    }
}

/// Whether a request speaks gRPC, so that its rejection must be a gRPC status.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// Builds the response for `error`: a gRPC trailers-only status for gRPC requests, the
/// handler's response otherwise. Logged at debug level; the token itself never is.
pub(crate) fn reject<B: RejectionBody>(
    handler: &impl RejectionHandler,
    error: &AuthError,
    headers: &HeaderMap,
) -> http::Response<B> {
    tracing::debug!(%error, status = %error.status(), "stlock rejected a request");
    if is_grpc(headers) {
        grpc_status(error).map(B::from_body)
    } else {
        handler.respond(error).map(B::from_body)
    }
}

/// A gRPC "trailers-only" response: HTTP 200 with the status in the headers and no body.
fn grpc_status(error: &AuthError) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from(error.grpc_code()));
    if let Ok(message) = HeaderValue::from_str(&percent_encode(&error.to_string())) {
        headers.insert("grpc-message", message);
    }
    response
}

/// gRPC's `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%`.
fn percent_encode(message: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        let challenge = |e: AuthError| e.challenge().map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            challenge(AuthError::MissingToken).as_deref(),
            Some("Bearer")
        );
        assert_eq!(
            challenge(AuthError::InvalidToken(DecodeError::Expired)).as_deref(),
            Some("Bearer error=\"invalid_token\", error_description=\"the token has expired\"")
        );
        assert!(challenge(AuthError::MalformedCredentials("x"))
            .is_some_and(|c| c.contains("invalid_request")));
        assert_eq!(challenge(AuthError::GrantUnavailable("down".into())), None);
    }

    #[test]
    fn grpc_rejection_is_trailers_only_with_the_status() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        let response: http::Response<Body> =
            reject(&DefaultRejection, &AuthError::GrantDenied, &headers);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "7");
        assert_eq!(response.headers()["content-type"], "application/grpc");
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode("50% ok\n`é`"), "50%25 ok%0A`%C3%A9`");
    }
}
