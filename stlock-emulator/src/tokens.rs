//! Signing the tokens the emulator issues, and checking the ones it is shown.

use std::sync::LazyLock;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;

use crate::error::ApiError;
use stlock::token::{AUDIENCE, MAX_TOKEN_LEN};
use stlock::{Claims, Secret, TokenType, User};

/// A pool's HS256 keys, derived once from its secret.
pub(crate) struct PoolKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl PoolKeys {
    pub(crate) fn new(secret: &Secret) -> Self {
        let bytes = secret.expose().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
        }
    }

    /// A signed token of `token_type` for `user`, issued at `now` (emulator clock).
    pub(crate) fn issue(
        &self,
        token_type: TokenType,
        user: &User,
        now: u64,
        ttl_secs: u64,
    ) -> Result<(Claims, String), ApiError> {
        let claims = Claims {
            jti: uuid::Uuid::new_v4().to_string(),
            exp: now.saturating_add(ttl_secs),
            iat: now,
            token_type,
            aud: AUDIENCE.to_owned(),
            sub: user.id.clone(),
            owner_sub: user.owner_id.clone(),
            user_pool_sub: user.user_pool_id.clone(),
        };
        // `Header::new` serialises as exactly `{"typ":"JWT","alg":"HS256"}`.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| ApiError::Internal)?;
        Ok((claims, token))
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// The pool a token names, read *before* any verification and used for one thing only: to
/// pick the key that then verifies it (a token naming a pool it was not signed for fails).
pub(crate) fn claimed_pool(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Unverified {
        user_pool_sub: String,
    }
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Unverified>(&bytes)
        .ok()
        .map(|claims| claims.user_pool_sub.to_ascii_lowercase())
}

static VALIDATION: LazyLock<Validation> = LazyLock::new(|| {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    // Expiry is checked against the emulator's own clock, which tests can move forward.
    validation.validate_exp = false;
    validation
});

/// Verifies the signature (HS256 only), audience and shape, then the type, then expiry:
/// a token is expired from the second its `exp` is reached.
pub(crate) fn verify(
    token: &str,
    key: &DecodingKey,
    expected: TokenType,
    now: u64,
) -> Result<Claims, ApiError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::InvalidToken);
    }
    let claims = jsonwebtoken::decode::<Claims>(token, key, &VALIDATION)
        .map_err(|_| ApiError::InvalidToken)?
        .claims;
    if claims.token_type != expected {
        return Err(ApiError::WrongTokenType(expected));
    }
    if now >= claims.exp {
        return Err(ApiError::ExpiredToken);
    }
    Ok(claims)
}
