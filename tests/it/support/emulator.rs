//! The emulator, with users signed up and policies attached.

use serde_json::Value;
use stlock::{Client, Registration, TokenPair, User};
use stlock_emulator::{Credentials, Emulator, HashCost, NewPolicy, Rule};

use super::forge::access_claims_of;

/// A fresh emulator with cheap password hashing.
pub async fn emulator() -> Emulator {
    Emulator::builder()
        .hash_cost(HashCost::Fast)
        .start()
        .await
        .expect("emulator starts")
}

/// Registers `name` (password `pw`) and signs them in.
pub async fn sign_up(client: &Client, name: &str) -> (User, TokenPair) {
    let user = client
        .register(&Registration::new(
            name,
            format!("{name}@example.com"),
            phone_of(name),
            "pw",
        ))
        .await
        .expect("register");
    let tokens = client.login(name, "pw").await.expect("login");
    (user, tokens)
}

/// A phone number of 11 digits derived from the name, distinct per name in practice.
fn phone_of(name: &str) -> String {
    let hash = name
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    format!("7{:010}", hash % 10_000_000_000)
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
