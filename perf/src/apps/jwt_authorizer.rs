//! jwt-authorizer 0.15: its layer (`Authorizer::into_layer`) and its `JwtClaims` extractor, on
//! axum 0.7, the version it is written for; the baseline is the same axum 0.7 route without it.

use std::hint::black_box;

use axum07::http::StatusCode;
use axum07::routing::get;
use axum07::Router;
use jwt_authorizer::{Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, Validation};

use super::PATH;
use crate::claims::PeerClaims;
use crate::fixture;

async fn me(JwtClaims(claims): JwtClaims<PeerClaims>) -> StatusCode {
    black_box(&claims.sub);
    StatusCode::OK
}

async fn anonymous() -> StatusCode {
    StatusCode::OK
}

/// The route behind an authorizer for the pool's secret: HS256 only, `exp` (with the leeway)
/// and `aud` checked. Building it is async in the crate's API, though nothing is fetched for a
/// secret.
pub async fn router() -> Router {
    let validation = Validation::new()
        .aud(&[fixture::AUDIENCE])
        .exp(true)
        .leeway(fixture::LEEWAY_SECS)
        .algs(vec![jsonwebtoken::Algorithm::HS256]);
    let authorizer: Authorizer<PeerClaims> = JwtAuthorizer::from_secret(fixture::SECRET)
        .validation(validation)
        .build()
        .await
        .expect("an authorizer for an HMAC secret");
    Router::new()
        .route(PATH, get(me))
        .route_layer(authorizer.into_layer())
        .with_state(())
}

/// The same route on axum 0.7 without authentication.
pub fn no_auth_router() -> Router {
    Router::new().route(PATH, get(anonymous)).with_state(())
}
