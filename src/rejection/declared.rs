//! Every kind of rejection, declared once: its HTTP status, its gRPC code, whether it carries an
//! RFC 6750 challenge, and its wording. [`AuthError`]'s `status`, `grpc_code`, `Display` and
//! response all read this one table; the fixed texts are `'static`, their JSON bodies and
//! challenges made at compile time from the same literals.

use http::StatusCode;

use super::AuthError;
use crate::credentials::{TokenSource, TokenSources};
use crate::path::path_error_wording;
use crate::telemetry::Authentication;
use crate::token::{decode_error_wording, DecodeError};
use crate::wording::json_safe;

/// What a kind of rejection is, beyond its fields.
pub(super) struct Declared<'a> {
    pub(super) status: StatusCode,
    pub(super) grpc: GrpcCode,
    /// Where the credentials came from (or would have come from).
    pub(super) carrier: Carrier<'a>,
    pub(super) wording: Wording<'a>,
    /// How `stlock_authentications_total` counts it.
    pub(super) counted: Authentication,
}

/// Where a rejection's credentials came from, for its RFC 6750 challenge.
pub(super) enum Carrier<'a> {
    /// One source.
    Source(&'a TokenSource),
    /// Any of these sources (no token was found).
    Sources(&'a TokenSources),
    /// None: the rejection is not about credentials.
    Nowhere,
}

impl Carrier<'_> {
    /// Whether the credentials came (or would come) in the `Authorization` header, where an
    /// RFC 6750 challenge applies. Asked only when a challenge is made: a rejection's status
    /// does not walk the list of sources.
    pub(super) fn is_authorization_header(&self) -> bool {
        match self {
            Carrier::Source(source) => source.is_authorization_header(),
            Carrier::Sources(sources) => sources.accept_authorization_header(),
            Carrier::Nowhere => false,
        }
    }
}

/// The gRPC status codes stlock answers with.
#[derive(Clone, Copy)]
pub(super) enum GrpcCode {
    InvalidArgument = 3,
    PermissionDenied = 7,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// What a client reads.
pub(super) enum Wording<'a> {
    /// Fixed texts.
    Prepared(&'static Texts),
    /// "no access token in" these sources: prepared once per list of sources.
    Missing(&'a TokenSources),
    /// What is wrong with the credentials, worded at run time.
    Malformed(&'static str),
}

/// A fixed message, its JSON body, and its whole `WWW-Authenticate` value if it has one.
pub(super) struct Texts {
    pub(super) message: &'static str,
    pub(super) body: &'static str,
    pub(super) challenge: Option<&'static str>,
}

/// A message and its JSON body; with an RFC 6750 `error` code and description, its challenge.
macro_rules! texts {
    ($message:expr) => {{
        const _: () = assert!(json_safe($message));
        &Texts {
            message: $message,
            body: concat!(r#"{"detail":""#, $message, r#""}"#),
            challenge: None,
        }
    }};
    ($message:expr, $error:literal, $description:expr) => {{
        const _: () = assert!(json_safe($message));
        &Texts {
            message: $message,
            body: concat!(r#"{"detail":""#, $message, r#""}"#),
            challenge: Some(concat!(
                r#"Bearer error=""#,
                $error,
                r#"", error_description=""#,
                $description,
                r#"""#
            )),
        }
    }};
}

impl AuthError {
    /// This rejection's declaration. One arm per kind: everything a client receives comes
    /// from here.
    pub(super) fn declared(&self) -> Declared<'_> {
        use GrpcCode::*;
        use Wording::*;
        let (status, grpc, carrier, wording, counted) = match self {
            AuthError::MissingToken { accepted } => (
                StatusCode::UNAUTHORIZED,
                Unauthenticated,
                Carrier::Sources(accepted),
                Missing(accepted),
                Authentication::MissingToken,
            ),
            AuthError::MalformedCredentials { origin, reason } => (
                StatusCode::BAD_REQUEST,
                InvalidArgument,
                Carrier::Source(origin),
                Malformed(reason),
                Authentication::MalformedCredentials,
            ),
            AuthError::InvalidToken { origin, reason } => (
                StatusCode::UNAUTHORIZED,
                Unauthenticated,
                Carrier::Source(origin),
                Prepared(invalid_token(reason)),
                refused(reason),
            ),
            AuthError::RevokedToken { origin } => (
                StatusCode::UNAUTHORIZED,
                Unauthenticated,
                Carrier::Source(origin),
                Prepared(texts!(
                    "the access token was revoked: sign in again",
                    "invalid_token",
                    "the access token was revoked"
                )),
                Authentication::RevokedToken,
            ),
            AuthError::SessionEnded { origin } => (
                StatusCode::UNAUTHORIZED,
                Unauthenticated,
                Carrier::Source(origin),
                Prepared(texts!(
                    "the session has ended: sign in again",
                    "invalid_token",
                    "the session has ended"
                )),
                Authentication::SessionEnded,
            ),
            AuthError::GrantDenied { origin } => (
                StatusCode::FORBIDDEN,
                PermissionDenied,
                Carrier::Source(origin),
                Prepared(texts!(
                    "the user's policies do not allow this request",
                    "insufficient_scope",
                    "the user's policies do not allow this request"
                )),
                Authentication::GrantDenied,
            ),
            AuthError::CrossOrigin { origin } => (
                StatusCode::FORBIDDEN,
                PermissionDenied,
                Carrier::Source(origin),
                Prepared(texts!(
                    "cross-origin request refused: a request that changes state with the session cookie must come from the app's own origin"
                )),
                Authentication::CrossOrigin,
            ),
            AuthError::InvalidPath(reason) => (
                StatusCode::BAD_REQUEST,
                InvalidArgument,
                Carrier::Nowhere,
                Prepared(invalid_path(reason)),
                Authentication::InvalidPath,
            ),
            AuthError::GrantUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Unavailable,
                Carrier::Nowhere,
                Prepared(texts!("the grant check is unavailable; try again later")),
                Authentication::GrantUnavailable,
            ),
            AuthError::RefreshUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Unavailable,
                Carrier::Nowhere,
                Prepared(texts!(
                    "the session could not be renewed just now; try again shortly"
                )),
                Authentication::RefreshUnavailable,
            ),
            AuthError::MissingLayer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Internal,
                Carrier::Nowhere,
                Prepared(texts!(
                    "this route needs `StlockLayer` in front of it (add `.layer(StlockLayer::new(config)?)`)"
                )),
                Authentication::MissingLayer,
            ),
        };
        Declared {
            status,
            grpc,
            carrier,
            wording,
            counted,
        }
    }
}

/// How a token refused for `reason` is counted.
fn refused(reason: &DecodeError) -> Authentication {
    match reason {
        DecodeError::Malformed => Authentication::MalformedToken,
        DecodeError::DisallowedAlgorithm => Authentication::DisallowedAlgorithm,
        DecodeError::BadSignature => Authentication::BadSignature,
        DecodeError::Expired => Authentication::Expired,
        DecodeError::WrongAudience => Authentication::WrongAudience,
        DecodeError::WrongType { .. } => Authentication::WrongType,
        DecodeError::ForeignOwner => Authentication::ForeignOwner,
        DecodeError::ForeignPool => Authentication::ForeignPool,
    }
}

/// The start of [`AuthError::InvalidToken`]'s message, before the reason's own.
macro_rules! invalid_token_prefix {
    () => {
        "invalid access token: "
    };
}

/// The start of [`AuthError::InvalidPath`]'s message, before the reason's own.
macro_rules! invalid_path_prefix {
    () => {
        "the request path cannot be checked: "
    };
}

/// `invalid_token(reason)`: the texts of [`AuthError::InvalidToken`] for each reason.
macro_rules! invalid_token_texts {
    ($type:ty; $($pattern:pat => $message:literal),+ $(,)?) => {
        fn invalid_token(reason: &$type) -> &'static Texts {
            match reason {
                $($pattern => texts!(
                    concat!(invalid_token_prefix!(), $message),
                    "invalid_token",
                    $message
                )),+
            }
        }
    };
}

/// `invalid_path(reason)`: the texts of [`AuthError::InvalidPath`] for each reason.
macro_rules! invalid_path_texts {
    ($type:ty; $($pattern:pat => $message:literal),+ $(,)?) => {
        fn invalid_path(reason: &$type) -> &'static Texts {
            match reason {
                $($pattern => texts!(concat!(invalid_path_prefix!(), $message))),+
            }
        }
    };
}

decode_error_wording!(invalid_token_texts);
path_error_wording!(invalid_path_texts);
