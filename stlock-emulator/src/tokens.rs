//! Signing the tokens the emulator issues, and checking the ones it is shown.

use std::collections::VecDeque;
use std::sync::LazyLock;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;

use crate::error::ApiError;
use stlock::token::{AUDIENCE, MAX_TOKEN_LEN};
use stlock::{Claims, Secret, TokenType, User};

/// A pool's HS256 keys, each derived once from its secret: the current one, which signs every
/// new token and is tried first, and the ones rotations replaced, which still verify the tokens
/// they signed until those have expired.
pub(crate) struct PoolKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Keys replaced by [`PoolKeys::rotate`], newest first.
    retired: VecDeque<RetiredKey>,
}

struct RetiredKey {
    decoding: DecodingKey,
    /// When the last token this key can have signed expires (emulator clock): its retirement
    /// plus the longer token lifetime.
    useless_from: u64,
}

impl PoolKeys {
    pub(crate) fn new(secret: &Secret) -> Self {
        let bytes = secret.expose().as_bytes();
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            retired: VecDeque::new(),
        }
    }

    /// Makes `secret` the key that signs, at `now`; the key it replaces still verifies for
    /// `max_ttl` seconds, the longer token lifetime, so that every token it signed stays valid
    /// until it expires.
    ///
    /// Retention: a retired key is dropped once its retirement is `max_ttl` seconds old (checked
    /// at each rotation), when no token it signed can still be unexpired. The number kept is
    /// thus bounded by the rotations made within one token lifetime, not by a fixed count: a
    /// cap would cut short tokens that are still valid.
    pub(crate) fn rotate(&mut self, secret: &Secret, now: u64, max_ttl: u64) {
        let Self {
            encoding, decoding, ..
        } = Self::new(secret);
        self.encoding = encoding;
        let replaced = std::mem::replace(&mut self.decoding, decoding);
        self.retired.retain(|key| key.useless_from > now);
        self.retired.push_front(RetiredKey {
            decoding: replaced,
            useless_from: now.saturating_add(max_ttl),
        });
    }

    /// The keys that verify, in the order they are tried: the current one first, then the
    /// retired ones, newest first.
    fn decoding_keys(&self) -> impl Iterator<Item = &DecodingKey> {
        std::iter::once(&self.decoding).chain(self.retired.iter().map(|key| &key.decoding))
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

/// Verifies the signature (HS256 only, by any of the pool's keys, the current one first),
/// audience and shape, then the type, then expiry: a token is expired from the second its
/// `exp` is reached.
pub(crate) fn verify(
    token: &str,
    keys: &PoolKeys,
    expected: TokenType,
    now: u64,
) -> Result<Claims, ApiError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::InvalidToken);
    }
    let claims = keys
        .decoding_keys()
        .find_map(|key| jsonwebtoken::decode::<Claims>(token, key, &VALIDATION).ok())
        .ok_or(ApiError::InvalidToken)?
        .claims;
    if claims.token_type != expected {
        return Err(ApiError::WrongTokenType(expected));
    }
    if now >= claims.exp {
        return Err(ApiError::ExpiredToken);
    }
    Ok(claims)
}
