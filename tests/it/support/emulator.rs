//! The emulator, with users signed up and policies attached (the workspace's shared fixtures),
//! and the claims of its tokens made by hand.

use serde_json::Value;
use stlock_emulator::Credentials;

use super::forge::access_claims_of;
pub use stlock_test_support::emulator::*;

/// The claims of an access token of `creds`'s pool for `user_id`, issued now, valid 600 s.
pub fn access_claims(creds: &Credentials, user_id: &str) -> Value {
    access_claims_of(&creds.owner_id, &creds.user_pool_id, user_id)
}
