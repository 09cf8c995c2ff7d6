//! A fixed pool, tokens made by hand for it, and services driven by hand: for the tests and the
//! benchmarks (which include this file) that need no server.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Request, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use stlock::Config;
use tower::Service;

pub const POOL: &str = "0e2173b5-b55f-4ea4-bec5-450e2c12a458";
pub const OWNER: &str = "b3893a06-5931-4160-9e62-938ab173b6c8";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// The configuration of the fixed pool, with the service at `endpoint`.
pub fn config_for(endpoint: &str) -> Config {
    Config::builder()
        .endpoint(endpoint)
        .user_pool_id(POOL)
        .owner_id(OWNER)
        .api_key("key")
        .jwt_secret(SECRET)
        .build()
        .expect("valid test config")
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// The claims of an access token of this owner's pool for `user_id`, issued now, valid 600 s.
pub fn access_claims_of(owner_id: &str, user_pool_id: &str, user_id: &str) -> Value {
    let iat = now();
    json!({
        "jti": "7afdb39b-3d6f-42e3-8555-66168dca7340",
        "exp": iat + 600,
        "iat": iat,
        "type": "ACCESS",
        "aud": "USER",
        "sub": user_id,
        "owner_sub": owner_id,
        "user_pool_sub": user_pool_id,
    })
}

/// A token with these claims, signed with `secret` by `alg` (an HMAC algorithm).
pub fn sign(claims: &Value, secret: &str, alg: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HMAC signing")
}

/// A valid access token of the fixed pool.
pub fn access_token() -> String {
    access_token_with_jti("7afdb39b-3d6f-42e3-8555-66168dca7340")
}

/// A valid access token of the fixed pool with this `jti`: another token of the same user.
pub fn access_token_with_jti(jti: &str) -> String {
    let mut claims = access_claims_of(OWNER, POOL, "5f331151-49d1-4d12-a977-a94a223a948a");
    claims["jti"] = jti.into();
    sign(&claims, SECRET, Algorithm::HS256)
}

/// Drives one call of a service whose future is ready at once (a handler that does not await).
pub fn call_ready<S, ReqBody, ResBody>(
    service: &mut S,
    request: Request<ReqBody>,
) -> Response<ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => panic!("the service was expected to answer at once"),
    }
}
