//! axum-jwt 0.1: its extractor (`Claims<T>`, the decoder in the router's state) and its layer
//! (`axum_jwt::layer`, the token stored in the request's extensions for the handler), both on
//! jsonwebtoken 9 like stlock.

use std::hint::black_box;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Router};
use axum_jwt::jsonwebtoken::DecodingKey;
use axum_jwt::{Claims, Decoder, Token};

use super::{jsonwebtoken_validation, PATH};
use crate::claims::PeerClaims;
use crate::fixture;

async fn extracting(Claims(claims): Claims<PeerClaims>) -> StatusCode {
    black_box(&claims.sub);
    StatusCode::OK
}

async fn from_extension(Extension(token): Extension<Token<PeerClaims>>) -> StatusCode {
    black_box(&token.claims.sub);
    StatusCode::OK
}

async fn anonymous() -> StatusCode {
    StatusCode::OK
}

fn decoder() -> Decoder {
    Decoder::new(
        DecodingKey::from_secret(fixture::SECRET.as_bytes()),
        jsonwebtoken_validation(),
    )
}

/// The claims typed as the handler wants them; every token that verified passes.
fn accept(_: &Token<PeerClaims>) -> bool {
    true
}

/// The extractor form: the handler takes `Claims<T>`.
pub fn router() -> Router {
    Router::new()
        .route(PATH, get(extracting))
        .with_state(decoder())
}

/// The layer form: the layer verifies, the handler reads the token from the extensions.
pub fn layer_router() -> Router {
    let layer = axum_jwt::layer(decoder())
        .with_filter(accept)
        .store_to_extension();
    Router::new()
        .route(PATH, get(from_extension))
        .route_layer(layer)
        .with_state(())
}

/// The same route and state, the handler extracting nothing.
pub fn no_auth_router() -> Router {
    Router::new()
        .route(PATH, get(anonymous))
        .with_state(decoder())
}
