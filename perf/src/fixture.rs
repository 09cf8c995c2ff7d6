//! One fixed pool and tokens signed for it: valid ones (a fixed token, or a fresh one per call,
//! differing only in `jti`), and the invalid ones the rejection benchmarks send.
//!
//! Every token is HS256 with the claims the STLock service issues, valid for an hour from when
//! it was made, so that no run of the suite outlives its tokens and none is due for a refresh.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

pub const POOL: &str = "0e2173b5-b55f-4ea4-bec5-450e2c12a458";
pub const OWNER: &str = "b3893a06-5931-4160-9e62-938ab173b6c8";
pub const USER: &str = "5f331151-49d1-4d12-a977-a94a223a948a";
/// The pool's HS256 secret (32 bytes, stlock's minimum).
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// Another pool's secret, for tokens whose signature must fail.
pub const OTHER_SECRET: &str = "fedcba9876543210fedcba9876543210";
/// The audience of every STLock user token.
pub const AUDIENCE: &str = "USER";
/// How long the tokens made here stay valid.
pub const LIFETIME_SECS: u64 = 3600;
/// The leeway on expiry, stlock's default, given to every verifier that has one.
pub const LEEWAY_SECS: u64 = 30;
/// An endpoint nothing listens on: the layers under test verify locally and never call it.
pub const UNUSED_ENDPOINT: &str = "http://127.0.0.1:9";

/// The configuration of the fixed pool, for stlock.
pub fn config() -> stlock::Config {
    stlock::Config::builder()
        .endpoint(UNUSED_ENDPOINT)
        .user_pool_id(POOL)
        .owner_id(OWNER)
        .api_key("perf-api-key")
        .jwt_secret(SECRET)
        .build()
        .expect("the fixed pool's configuration is valid")
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Signs access tokens of the fixed pool, issued when the minter was made.
pub struct Minter {
    key: EncodingKey,
    header: Header,
    iat: u64,
    next: u64,
}

impl Minter {
    /// A minter signing with the pool's secret.
    pub fn new() -> Self {
        Self::with_secret(SECRET)
    }

    /// A minter signing with `secret` (another pool's, for a bad signature).
    pub fn with_secret(secret: &str) -> Self {
        Self {
            key: EncodingKey::from_secret(secret.as_bytes()),
            header: Header::new(Algorithm::HS256),
            iat: unix_now(),
            next: 0,
        }
    }

    /// The token whose `jti` is number `n`: UUID-shaped, so every token has the same length as
    /// the service's, whichever `n`.
    pub fn token(&self, n: u64) -> String {
        let claims = json!({
            "jti": format!("7afdb39b-3d6f-42e3-8555-{:012x}", n & 0xffff_ffff_ffff),
            "exp": self.iat + LIFETIME_SECS,
            "iat": self.iat,
            "type": "ACCESS",
            "aud": AUDIENCE,
            "sub": USER,
            "owner_sub": OWNER,
            "user_pool_sub": POOL,
        });
        jsonwebtoken::encode(&self.header, &claims, &self.key).expect("HMAC signing cannot fail")
    }

    /// A token no earlier call of `fresh` returned.
    pub fn fresh(&mut self) -> String {
        self.next += 1;
        self.token(self.next)
    }
}

impl Default for Minter {
    fn default() -> Self {
        Self::new()
    }
}

/// The one token every "same token" case sends: number 0, which `fresh` never returns.
pub fn fixed_token() -> String {
    Minter::new().token(0)
}

/// A well-formed token of the pool signed with another secret.
pub fn bad_signature_token() -> String {
    Minter::with_secret(OTHER_SECRET).token(0)
}
