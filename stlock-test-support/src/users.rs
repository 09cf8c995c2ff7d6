//! Users signed up at an STLock.

use stlock::{Client, Registration, TokenPair, User};

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
