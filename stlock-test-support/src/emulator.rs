//! The emulator, with users signed up and policies attached.

use stlock_emulator::{Emulator, HashCost, NewPolicy, Rule};

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
