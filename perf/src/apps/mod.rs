//! The apps the `request` benchmarks and the load server drive: one route, `GET /me`, whose
//! handler reads the verified user (and does nothing else with it), behind each crate's
//! middleware or extractor; and for each, a baseline that is the same app without
//! authentication, on the same axum version and with the same state.
//!
//! Every verifier is given the same secret, algorithm (HS256 only), audience (`USER`) and expiry
//! leeway (30 s), and checks what it can of signature, expiry and audience. stlock checks more
//! (type, owner, pool, critical headers): the comparison is not tilted its way.

pub mod axum_jwt;
pub mod axum_jwt_auth;
pub mod jwt_authorizer;
pub mod stlock;

/// The path of the one route.
pub const PATH: &str = "/me";

/// The `jsonwebtoken` 9 rules every peer on that version is given: HS256 only, `exp` required
/// and checked with the leeway, `aud` must be `USER`.
pub fn jsonwebtoken_validation() -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[crate::fixture::AUDIENCE]);
    validation.leeway = crate::fixture::LEEWAY_SECS;
    validation
}
