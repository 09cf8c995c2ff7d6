//! The emulator, with users signed up and policies attached.

use serde_json::Value;
use stlock_emulator::{Credentials, Emulator, HashCost, NewPolicy, Rule};

use super::forge::access_claims_of;
pub use super::users::sign_up;

/// A fresh emulator with cheap password hashing.
pub async fn emulator() -> Emulator {
    Emulator::builder()
        .hash_cost(HashCost::Fast)
        .start()
        .await
        .expect("emulator starts")
}

/// Creates a policy with this one rule in the emulator's first pool and returns its id.
pub fn policy(emu: &Emulator, rule: Rule) -> String {
    emu.create_policy(
        &emu.credentials().user_pool_id,
        NewPolicy::new("test", [rule]),
    )
    .expect("policy is valid")
    .id
}

/// The claims of an access token of `creds`'s pool for `user_id`, issued now, valid 600 s.
pub fn access_claims(creds: &Credentials, user_id: &str) -> Value {
    access_claims_of(&creds.owner_id, &creds.user_pool_id, user_id)
}
