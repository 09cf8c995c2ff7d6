//! Tokens made by hand, and services driven by hand, for tests and benchmarks that need no
//! server.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::{Request, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tower::Service;

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

/// A token with these claims and `alg: none`: no signature at all.
pub fn unsigned(claims: &Value) -> String {
    let b64 = |value: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
    };
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

/// A valid access token of the test pool ([`super::POOL`], [`super::OWNER`], [`super::SECRET`]).
pub fn access_token() -> String {
    let claims = access_claims_of(
        super::OWNER,
        super::POOL,
        "5f331151-49d1-4d12-a977-a94a223a948a",
    );
    sign(&claims, super::SECRET, Algorithm::HS256)
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
