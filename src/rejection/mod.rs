//! Why stlock's middleware turned a request away ([`AuthError`]), and the response that says
//! so: [`DefaultRejection`], or your own [`RejectionHandler`].

mod declared;

use std::fmt;
use std::sync::Arc;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::client::Error;
use crate::credentials::{TokenSource, TokenSources};
use crate::path::PathError;
use crate::token::DecodeError;
use declared::Wording;

/// Why stlock's middleware turned a request away.
///
/// Implements [`IntoResponse`]: HTTP status, a JSON body `{"detail": "..."}` that says what to
/// fix, and, where the token travels (or would travel) in the `Authorization` header, an RFC 6750
/// `WWW-Authenticate: Bearer …` challenge. A layer that reads cookies only sends no challenge,
/// since there is no header for the client to send. gRPC requests get the matching gRPC status
/// instead (see [`AuthError::grpc_code`]).
///
/// What a client reads says what it can fix and nothing more: a failure of the service itself
/// answers with a fixed message, its cause kept as [`source`](std::error::Error::source) for the
/// logs. Each kind's status, gRPC code, challenge and wording are declared once, in one table.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AuthError {
    /// No access token in any of the layer's sources.
    MissingToken {
        /// Where the layer looked, in order.
        accepted: TokenSources,
    },
    /// A credentials source is unusable (several `Authorization` headers, no token after
    /// `Bearer`, bytes that are not visible ASCII, too large).
    MalformedCredentials {
        /// The source that is malformed.
        origin: TokenSource,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A token was presented and failed verification.
    InvalidToken {
        /// Where the token was found.
        origin: TokenSource,
        /// Which check it failed.
        reason: DecodeError,
    },
    /// The service no longer accepts this token (revoked, or the user is gone).
    RevokedToken {
        /// Where the token was found.
        origin: TokenSource,
    },
    /// The user's grant policies do not allow this method on this path.
    GrantDenied {
        /// Where the token was found.
        origin: TokenSource,
    },
    /// The request's path cannot be grant-checked (a `..` segment, an encoded `/`, …), or the
    /// service refused to check it.
    InvalidPath(PathError),
    /// The grant check could not be made (the service is unreachable, timed out or failed), so
    /// the request is refused (fail closed). The client reads a fixed message; the cause is
    /// the error's source.
    GrantUnavailable(Arc<Error>),
    /// The refresh token was refused (by the service: expired, revoked or already used; or
    /// locally: forged, expired, or another user's than the access token's). The session is
    /// over; in cookie mode both cookies are cleared.
    SessionEnded {
        /// Where the refresh token was found.
        origin: TokenSource,
    },
    /// The access token was due for a refresh and the service could not be asked, so the request
    /// is refused with 503 and `Retry-After` (the user stays signed in). The client reads a
    /// fixed message; the cause is the error's source.
    RefreshUnavailable(Arc<dyn std::error::Error + Send + Sync>),
    /// A request that changes state (not `GET`, `HEAD` or `OPTIONS`) with credentials from a
    /// cookie came from another origin, by what the browser says: refused with 403 before
    /// anything else, a refresh included. See [`cross_origin`](crate::cross_origin).
    CrossOrigin {
        /// Where the credentials were found.
        origin: TokenSource,
    },
    /// A route needs `StlockLayer` in front of it and it is not there: a wiring mistake.
    MissingLayer,
}

impl AuthError {
    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        self.declared().status
    }

    /// How `stlock_authentications_total` counts this rejection.
    pub(crate) fn counted(&self) -> crate::telemetry::Authentication {
        self.declared().counted
    }

    /// The gRPC status code of this rejection (`UNAUTHENTICATED` = 16, `PERMISSION_DENIED` = 7,
    /// `UNAVAILABLE` = 14, `INTERNAL` = 13, `INVALID_ARGUMENT` = 3).
    pub fn grpc_code(&self) -> i32 {
        self.declared().grpc as i32
    }

    /// The `WWW-Authenticate` challenge of RFC 6750, for the rejections that concern the
    /// `Authorization` header: a client that authenticates with a cookie has no use for one.
    fn challenge(&self) -> Option<HeaderValue> {
        let declared = self.declared();
        if !declared.carrier.is_authorization_header() {
            return None;
        }
        match declared.wording {
            Wording::Prepared(texts) => texts.challenge.map(HeaderValue::from_static),
            Wording::Missing(_) => Some(HeaderValue::from_static("Bearer")),
            Wording::Malformed(reason) => HeaderValue::from_str(&format!(
                "Bearer error=\"invalid_request\", error_description=\"{reason}\""
            ))
            .ok(),
        }
    }

    /// The response of stlock's own rejection: status, JSON body and challenge, prepared but for
    /// malformed credentials, whose reason is worded at run time.
    fn response(&self) -> Response {
        let declared = self.declared();
        let (body, headers) = match declared.wording {
            // The commonest rejection, which a flood of requests without credentials makes:
            // its whole head is prepared once per layer, and cloning a map costs less than
            // filling one.
            Wording::Missing(accepted) => {
                let (body, headers) = accepted.missing_answer(|| self.prepare());
                (body.clone(), headers.clone())
            }
            Wording::Prepared(texts) => (
                Bytes::from_static(texts.body.as_bytes()),
                json_headers(self.challenge()),
            ),
            Wording::Malformed(_) => (self.json_body(), json_headers(self.challenge())),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = declared.status;
        *response.headers_mut() = headers;
        response
    }

    /// `{"detail": …}` with this rejection's `Display`.
    fn json_body(&self) -> Bytes {
        serde_json::json!({ "detail": self.to_string() })
            .to_string()
            .into()
    }

    /// The whole answer, with the body's length: for the rejections prepared once and served
    /// many times.
    fn prepare(&self) -> (Bytes, HeaderMap) {
        let body = self.json_body();
        let mut headers = json_headers(self.challenge());
        // Prepared once, the length spares every rejection's server counting the body.
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        (body, headers)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.declared().wording {
            Wording::Prepared(texts) => f.write_str(texts.message),
            Wording::Missing(accepted) => {
                write!(f, "authentication required: no access token in {accepted}")
            }
            Wording::Malformed(reason) => write!(f, "malformed credentials: {reason}"),
        }
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuthError::GrantUnavailable(cause) => Some(cause.as_ref()),
            AuthError::RefreshUnavailable(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }
}

/// The headers of a JSON rejection: its type, and the `WWW-Authenticate` challenge if any.
fn json_headers(challenge: Option<HeaderValue>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(challenge) = challenge {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    headers
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.response()
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
/// use stlock::rejection::RejectionHandler;
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

/// stlock's own rejection: [`AuthError`]'s [`IntoResponse`], the default of every layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRejection;

impl RejectionHandler for DefaultRejection {
    fn respond(&self, error: &AuthError) -> Response {
        error.response()
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
    E: From<axum_core::Error> + 'static,
{
    fn from_body(body: Body) -> Self {
        use http_body_util::BodyExt as _;
        body.map_err(E::from).boxed_unsync()
    }
}

#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
impl RejectionBody for tonic::body::Body {
    fn from_body(body: Body) -> Self {
        tonic::body::Body::new(body)
    }
}

/// Polling a finished future is a caller's bug; answer 500 rather than panic in a server.
pub(crate) fn polled_after_completion<B: RejectionBody>() -> http::Response<B> {
    let mut response = http::Response::new(B::from_body(Body::empty()));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
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
    match std::error::Error::source(error) {
        // The service failed, not the client: worth an operator's attention, with the cause the
        // client is not shown.
        Some(cause) => tracing::warn!(%error, %cause, "stlock refused a request"),
        None => tracing::debug!(%error, status = %error.status(), "stlock rejected a request"),
    }
    if is_grpc(headers) {
        return grpc_status(error).map(B::from_body);
    }
    let mut response = handler.respond(error);
    // The service is down, not the client's request wrong: say when to come back, whatever the
    // handler answered.
    if error.status() == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .entry(header::RETRY_AFTER)
            .or_insert(HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    response.map(B::from_body)
}

/// What a 503 tells the client to wait: long enough for a service to come back from a blip,
/// short enough not to strand a user.
const RETRY_AFTER_SECONDS: &str = "5";

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

/// gRPC's `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%`
/// (non-ASCII bytes always are).
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

fn percent_encode(message: &str) -> String {
    utf8_percent_encode(message, GRPC_MESSAGE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(error: AuthError) -> Option<String> {
        error.challenge().map(|v| v.to_str().unwrap().to_owned())
    }

    const HEADER: TokenSource = TokenSource::AuthorizationHeader;

    #[test]
    fn challenges_follow_rfc_6750() {
        let accepted = TokenSources::new([HEADER]);
        assert_eq!(
            challenge(AuthError::MissingToken { accepted }).as_deref(),
            Some("Bearer")
        );
        let expired = AuthError::InvalidToken {
            origin: HEADER,
            reason: DecodeError::Expired,
        };
        assert_eq!(
            challenge(expired).as_deref(),
            Some("Bearer error=\"invalid_token\", error_description=\"the token has expired\"")
        );
        let malformed = AuthError::MalformedCredentials {
            origin: HEADER,
            reason: "x",
        };
        assert!(challenge(malformed).is_some_and(|c| c.contains("invalid_request")));
        let down = Error::Timeout(std::time::Duration::from_secs(1));
        assert_eq!(challenge(AuthError::GrantUnavailable(Arc::new(down))), None);
    }

    #[test]
    fn cookie_rejections_carry_no_bearer_challenge_and_name_the_cookie() {
        let session = TokenSource::cookie("session");
        let missing = AuthError::MissingToken {
            accepted: TokenSources::new([session.clone()]),
        };
        assert_eq!(
            missing.to_string(),
            "authentication required: no access token in the `session` cookie"
        );
        assert_eq!(challenge(missing), None);
        for error in [
            AuthError::InvalidToken {
                origin: session.clone(),
                reason: DecodeError::Expired,
            },
            AuthError::GrantDenied {
                origin: session.clone(),
            },
            AuthError::RevokedToken { origin: session },
        ] {
            assert_eq!(challenge(error), None);
        }
    }

    #[test]
    fn several_sources_are_listed_in_order() {
        let accepted =
            TokenSources::new([HEADER, TokenSource::cookie("a"), TokenSource::cookie("b")]);
        let missing = AuthError::MissingToken { accepted };
        assert_eq!(
            missing.to_string(),
            "authentication required: no access token in the `Authorization: Bearer` header, \
             the `a` cookie or the `b` cookie"
        );
        assert_eq!(challenge(missing).as_deref(), Some("Bearer"));
    }

    /// The body and challenge as they would be worded at run time, from `Display`.
    fn worded(error: &AuthError) -> (String, Option<String>) {
        let body = serde_json::json!({ "detail": error.to_string() }).to_string();
        let description = match error {
            AuthError::InvalidToken { reason, .. } => Some(("invalid_token", reason.to_string())),
            AuthError::RevokedToken { .. } => {
                Some(("invalid_token", "the access token was revoked".to_owned()))
            }
            AuthError::SessionEnded { .. } => {
                Some(("invalid_token", "the session has ended".to_owned()))
            }
            AuthError::GrantDenied { .. } => Some(("insufficient_scope", error.to_string())),
            _ => None,
        };
        let challenge = description.map(|(code, description)| {
            format!("Bearer error=\"{code}\", error_description=\"{description}\"")
        });
        (body, challenge)
    }

    #[test]
    fn prepared_bodies_and_challenges_are_the_messages_as_json_and_rfc_6750_words() {
        use crate::token::TokenType::{Access, Refresh};
        let down = || Arc::new(Error::Timeout(std::time::Duration::from_secs(1)));
        let mut errors = vec![
            AuthError::RevokedToken { origin: HEADER },
            AuthError::SessionEnded { origin: HEADER },
            AuthError::GrantDenied { origin: HEADER },
            AuthError::GrantUnavailable(down()),
            AuthError::RefreshUnavailable(down()),
            AuthError::MissingLayer,
            AuthError::CrossOrigin {
                origin: TokenSource::cookie("s"),
            },
            AuthError::MissingToken {
                accepted: TokenSources::new([HEADER, TokenSource::cookie("s")]),
            },
        ];
        for reason in [
            DecodeError::Malformed,
            DecodeError::DisallowedAlgorithm,
            DecodeError::BadSignature,
            DecodeError::Expired,
            DecodeError::WrongAudience,
            DecodeError::ForeignOwner,
            DecodeError::ForeignPool,
        ]
        .into_iter()
        .chain([Access, Refresh].into_iter().flat_map(|expected| {
            [Access, Refresh].map(|found| DecodeError::WrongType { expected, found })
        })) {
            errors.push(AuthError::InvalidToken {
                origin: HEADER,
                reason,
            });
        }
        for reason in [
            PathError::DotSegment,
            PathError::EncodedSlash,
            PathError::EncodedDelimiter,
            PathError::ControlCharacter,
            PathError::NotUtf8,
            PathError::Refused,
        ] {
            errors.push(AuthError::InvalidPath(reason));
        }
        for error in errors {
            let (body, challenge) = worded(&error);
            let prepared = match error.declared().wording {
                Wording::Prepared(texts) => Bytes::from_static(texts.body.as_bytes()),
                _ => error.prepare().0,
            };
            assert_eq!(prepared, body.as_bytes(), "{error:?}");
            if !matches!(error, AuthError::MissingToken { .. }) {
                assert_eq!(
                    error.challenge().map(|v| v.to_str().unwrap().to_owned()),
                    challenge,
                    "{error:?}"
                );
            }
        }
    }

    #[test]
    fn grpc_rejection_is_trailers_only_with_the_status() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        let response: http::Response<Body> = reject(
            &DefaultRejection,
            &AuthError::GrantDenied { origin: HEADER },
            &headers,
        );
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "7");
        assert_eq!(response.headers()["content-type"], "application/grpc");
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode("50% ok\n`é`"), "50%25 ok%0A`%C3%A9`");
    }
}
