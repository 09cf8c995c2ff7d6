//! Access and refresh tokens: their [`Claims`], and the [`TokenDecoder`] that verifies a token
//! before it returns anything from it.

use std::fmt;

use serde::{Deserialize, Serialize};

mod decoder;

pub(crate) use decoder::unix_now;
pub use decoder::TokenDecoder;

/// The audience STLock writes into every user token.
pub const AUDIENCE: &str = "USER";

/// Longest token accepted for decoding. Real tokens are about 450 bytes; anything far larger is
/// refused before any base64 or JSON work is spent on it.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Which of the two tokens a JWT is, from its `type` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TokenType {
    /// Short-lived token sent with each request (`"ACCESS"`).
    Access,
    /// Long-lived token exchanged for a new pair (`"REFRESH"`).
    Refresh,
}

impl TokenType {
    /// The type with its article, as a sentence needs it: "an access token", "a refresh token".
    pub fn with_article(self) -> &'static str {
        match self {
            TokenType::Access => "an access token",
            TokenType::Refresh => "a refresh token",
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        })
    }
}

/// The verified claims of an STLock token.
///
/// Only [`TokenDecoder`] hands these out, after the signature, algorithm, expiry, audience, type,
/// owner and pool have all been checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Token id (UUID), unique per token.
    pub jti: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// Access or refresh.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// Audience, always [`AUDIENCE`].
    pub aud: String,
    /// The user's id.
    pub sub: String,
    /// The owner's id.
    pub owner_sub: String,
    /// The user pool's id.
    pub user_pool_sub: String,
}

/// A pair of tokens, as login and refresh return it.
///
/// `Debug` shows neither token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPair {
    /// The access token, for `Authorization: Bearer`.
    pub access_token: String,
    /// The refresh token, to exchange for the next pair or to log out.
    pub refresh_token: String,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

/// Why a token was refused. Each kind is distinct so that callers (and logs) can tell an attack
/// from a clock problem from a client bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a well-formed JWT, its claims are missing, duplicated or of the wrong shape, or its
    /// header lists critical extensions (`crit`), none of which stlock implements.
    Malformed,
    /// The header names an algorithm that is not accepted (`none` included).
    DisallowedAlgorithm,
    /// The signature does not match the pool's secret.
    BadSignature,
    /// The token is past its expiry: the current time has reached `exp` plus the configured
    /// leeway.
    Expired,
    /// The audience is not [`AUDIENCE`].
    WrongAudience,
    /// A refresh token where an access token was expected, or the other way round.
    WrongType {
        /// The type the caller asked for.
        expected: TokenType,
        /// The type the token claims: the other one.
        found: TokenType,
    },
    /// The token was issued for another owner.
    ForeignOwner,
    /// The token was issued for another user pool.
    ForeignPool,
}

/// The wording of each [`DecodeError`], once (see the `wording` module): `$then!` gets the type
/// and one `pattern => "message"` per kind.
macro_rules! decode_error_wording {
    ($then:path) => {
        $then! { $crate::token::DecodeError;
            $crate::token::DecodeError::Malformed =>
                "the token is malformed: it is not a JWT with the STLock claims",
            $crate::token::DecodeError::DisallowedAlgorithm =>
                "the token's signature algorithm is not accepted",
            $crate::token::DecodeError::BadSignature => "the token's signature is invalid",
            $crate::token::DecodeError::Expired => "the token has expired",
            $crate::token::DecodeError::WrongAudience => "the token's audience is not `USER`",
            // A token's type is one of two, so the one found is the other one.
            $crate::token::DecodeError::WrongType {
                expected: $crate::token::TokenType::Access,
                ..
            } => "expected an access token, got a refresh token",
            $crate::token::DecodeError::WrongType {
                expected: $crate::token::TokenType::Refresh,
                ..
            } => "expected a refresh token, got an access token",
            $crate::token::DecodeError::ForeignOwner => "the token belongs to another owner",
            $crate::token::DecodeError::ForeignPool => "the token belongs to another user pool",
        }
    };
}

pub(crate) use decode_error_wording;

decode_error_wording!(crate::wording::display_wording);

impl std::error::Error for DecodeError {}
