//! The claims of an STLock access token, as the peer crates (and the bare `jsonwebtoken` decode)
//! deserialize them: the same fields as `stlock::Claims`, kept here so that the peers' side does
//! not move when stlock's own types do.

use serde::{Deserialize, Serialize};

/// Every claim STLock puts in an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerClaims {
    pub jti: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(rename = "type")]
    pub token_type: String,
    pub aud: String,
    pub sub: String,
    pub owner_sub: String,
    pub user_pool_sub: String,
}
