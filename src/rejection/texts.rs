//! The fixed texts of rejections, as `'static` strings: turning a request away formats nothing
//! and allocates nothing for its body or its challenge. A test holds each to the `Display` of
//! its error, from which it must never drift.

use crate::grant::PathError;
use crate::{DecodeError, TokenType};

/// A rejection's JSON body and, where it has one, its RFC 6750 `error` and `error_description`
/// as a whole `WWW-Authenticate` value.
pub(super) struct Texts {
    pub(super) body: &'static str,
    pub(super) challenge: &'static str,
}

macro_rules! texts {
    ($detail:literal) => {
        Texts {
            body: concat!(r#"{"detail":""#, $detail, r#""}"#),
            challenge: "",
        }
    };
    ($detail:literal, $error:literal, $description:literal) => {
        Texts {
            body: concat!(r#"{"detail":""#, $detail, r#""}"#),
            challenge: concat!(
                r#"Bearer error=""#,
                $error,
                r#"", error_description=""#,
                $description,
                r#"""#
            ),
        }
    };
}

macro_rules! invalid_token {
    ($description:literal) => {
        Texts {
            body: concat!(
                r#"{"detail":"invalid access token: "#,
                $description,
                r#""}"#
            ),
            challenge: concat!(
                r#"Bearer error="invalid_token", error_description=""#,
                $description,
                r#"""#
            ),
        }
    };
}

/// `AuthError::InvalidToken` for each reason.
pub(super) fn invalid_token(reason: &DecodeError) -> Texts {
    use TokenType::{Access, Refresh};
    match reason {
        DecodeError::Malformed => {
            invalid_token!("the token is malformed: it is not a JWT with the STLock claims")
        }
        DecodeError::DisallowedAlgorithm => {
            invalid_token!("the token's signature algorithm is not accepted")
        }
        DecodeError::BadSignature => invalid_token!("the token's signature is invalid"),
        DecodeError::Expired => invalid_token!("the token has expired"),
        DecodeError::WrongAudience => invalid_token!("the token's audience is not `USER`"),
        DecodeError::WrongType {
            expected: Access,
            found: Refresh,
        } => invalid_token!("expected an access token, got a refresh token"),
        DecodeError::WrongType {
            expected: Refresh,
            found: Access,
        } => invalid_token!("expected a refresh token, got an access token"),
        DecodeError::WrongType {
            expected: Access,
            found: Access,
        } => invalid_token!("expected an access token, got an access token"),
        DecodeError::WrongType {
            expected: Refresh,
            found: Refresh,
        } => invalid_token!("expected a refresh token, got a refresh token"),
        DecodeError::ForeignOwner => invalid_token!("the token belongs to another owner"),
        DecodeError::ForeignPool => invalid_token!("the token belongs to another user pool"),
    }
}

/// `AuthError::InvalidPath` for each reason.
pub(super) fn invalid_path(reason: &PathError) -> Texts {
    match reason {
        PathError::DotSegment => {
            texts!("the request path cannot be checked: the path holds a `.` or `..` segment")
        }
        PathError::EncodedSlash => {
            texts!("the request path cannot be checked: the path holds an encoded `/`")
        }
        PathError::EncodedDelimiter => {
            texts!("the request path cannot be checked: the path holds an encoded `?` or `#`")
        }
        PathError::ControlCharacter => {
            texts!("the request path cannot be checked: the path holds a control character")
        }
        PathError::NotUtf8 => {
            texts!("the request path cannot be checked: the path is not UTF-8 once percent-decoded")
        }
        PathError::Refused => texts!(
            "the request path cannot be checked: the STLock service cannot check this method and path"
        ),
    }
}

pub(super) const REVOKED: Texts = texts!(
    "the access token was revoked: sign in again",
    "invalid_token",
    "the access token was revoked"
);
pub(super) const SESSION_ENDED: Texts = texts!(
    "the session has ended: sign in again",
    "invalid_token",
    "the session has ended"
);
pub(super) const GRANT_DENIED: Texts = texts!(
    "the user's policies do not allow this request",
    "insufficient_scope",
    "the user's policies do not allow this request"
);
pub(super) const GRANT_UNAVAILABLE: Texts =
    texts!("the grant check is unavailable; try again later");
pub(super) const REFRESH_UNAVAILABLE: Texts =
    texts!("the session could not be renewed just now; try again shortly");
pub(super) const MISSING_LAYER: Texts = texts!(
    "this route needs `StlockLayer` in front of it (add `.layer(StlockLayer::new(config)?)`)"
);
pub(super) const CROSS_ORIGIN: Texts = texts!(
    "cross-origin request refused: a request that changes state with the session cookie must come from the app's own origin"
);
