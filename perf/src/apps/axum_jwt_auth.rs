//! axum-jwt-auth 0.7: an extractor only (`Claims<T>`), with a `LocalDecoder` in the router's
//! state. It is built on jsonwebtoken 10 with its RustCrypto backend (the crate asks for that
//! feature), where stlock and the other peers use jsonwebtoken 9 on ring: part of any
//! difference in its figures is that HMAC and not the middleware.

use std::hint::black_box;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use axum_jwt_auth::{Claims, Decoder, LocalDecoder};

use super::PATH;
use crate::claims::PeerClaims;
use crate::fixture;

async fn me(user: Claims<PeerClaims>) -> StatusCode {
    black_box(&user.claims.sub);
    StatusCode::OK
}

async fn anonymous() -> StatusCode {
    StatusCode::OK
}

/// The decoder for the pool's secret: HS256 only, `exp` (with the leeway) and `aud` checked.
fn decoder() -> Decoder<PeerClaims> {
    let mut validation = jsonwebtoken10::Validation::new(jsonwebtoken10::Algorithm::HS256);
    validation.set_audience(&[fixture::AUDIENCE]);
    validation.leeway = fixture::LEEWAY_SECS;
    let decoder = LocalDecoder::builder()
        .keys(vec![jsonwebtoken10::DecodingKey::from_secret(
            fixture::SECRET.as_bytes(),
        )])
        .validation(validation)
        .build()
        .expect("a decoder for an HMAC secret");
    Arc::new(decoder)
}

/// The route whose handler extracts the claims.
pub fn router() -> Router {
    Router::new().route(PATH, get(me)).with_state(decoder())
}

/// The same route and state, the handler extracting nothing.
pub fn no_auth_router() -> Router {
    Router::new()
        .route(PATH, get(anonymous))
        .with_state(decoder())
}
