//! The STLock flow end to end: register, login, decode, grant check, refresh, logout.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Runs against an in-process emulator, or against a real service when `STLOCK_ENDPOINT` and the
//! other `STLOCK_*` variables are set.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use http::Method;
use stlock::{Client, Registration};
use stlock_emulator::{Emulator, NewPolicy, Rule};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Keep the emulator alive for the whole run: dropping it stops the server.
    let (config, emulator) = stlock_emulator::env_or_start().await?;
    match &emulator {
        Some(emulator) => println!("service     {} (in-process emulator)", emulator.endpoint()),
        None => println!(
            "service     {} (from STLOCK_* variables)",
            config.endpoint()
        ),
    }
    let client = Client::new(config)?;

    // A fresh name each run, so the demo also works against a long-lived service.
    let suffix = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() % 1_000_000_000;
    let username = format!("demo{suffix}");
    let password = "correct horse battery staple";

    let user = client
        .register(&Registration::new(
            &username,
            format!("{username}@example.com"),
            format!("7{suffix:010}"),
            password,
        ))
        .await?;
    println!(
        "register    created {} (id {}, status {:?})",
        user.username, user.id, user.status
    );

    let tokens = client.login(&username, password).await?;
    println!("login       got an access and a refresh token");

    let claims = client.decode(&tokens.access_token)?;
    println!(
        "decode      verified: sub {}, type {}, valid for {} s",
        claims.sub,
        claims.token_type,
        claims.exp - claims.iat
    );

    if let Some(emulator) = &emulator {
        allow_reading_orders(emulator, &user.user_pool_id, &user.id)?;
        println!("policy      attached \"read orders\": allow GET /orders/**");
    }
    for (method, path) in [(Method::GET, "/orders/42"), (Method::DELETE, "/orders/42")] {
        let decision = client
            .check_grant(&tokens.access_token, &method, path)
            .await?;
        let verdict = if decision.allowed {
            "allowed"
        } else {
            "denied"
        };
        println!("grant       {method} {path}: {verdict}");
    }

    let rotated = client.refresh(&tokens.refresh_token).await?;
    println!("refresh     rotated the pair");
    let replay = client.refresh(&tokens.refresh_token).await;
    println!(
        "refresh     the old refresh token again: {}",
        outcome(&replay)
    );

    let signed_in_again = client.login(&username, password).await?;
    client.logout(&signed_in_again.refresh_token).await?;
    println!("logout      revoked the refresh token");
    let after = client.refresh(&signed_in_again.refresh_token).await;
    println!("refresh     after logout: {}", outcome(&after));

    // `rotated` belonged to the login whose old token was replayed: the service revoked it.
    let revoked = client.refresh(&rotated.refresh_token).await;
    println!(
        "refresh     the rotated pair after the replay: {}",
        outcome(&revoked)
    );
    Ok(())
}

fn allow_reading_orders(
    emulator: &Emulator,
    pool: &str,
    user: &str,
) -> Result<(), stlock_emulator::AdminError> {
    let policy = emulator.create_policy(
        pool,
        NewPolicy::new("read orders", [Rule::allow(["GET"], ["/orders/**"])]),
    )?;
    emulator.attach_policy(pool, user, &policy.id)?;
    Ok(())
}

fn outcome<T>(result: &Result<T, stlock::Error>) -> String {
    match result {
        Ok(_) => "accepted".into(),
        Err(err) => format!("refused ({err})"),
    }
}
