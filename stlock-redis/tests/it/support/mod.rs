//! A Redis server per test, the emulator with sessions whose access token has expired, and
//! replicas of an app sharing both.

pub mod app;
#[path = "../../../../tests/it/support/logs.rs"]
pub mod logs;
pub mod redis_server;
#[path = "../../../../tests/it/support/users.rs"]
pub mod users;

use std::future::Future;
use std::time::Duration;

/// `future`'s output, or a failed test if it takes longer than 30 s: no test hangs.
#[track_caller]
pub fn within<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let caller = std::panic::Location::caller();
    async move {
        tokio::time::timeout(Duration::from_secs(30), future)
            .await
            .unwrap_or_else(|_| panic!("{caller}: no answer within 30 s"))
    }
}

/// The Redis keys a store with `prefix` uses for `refresh_token`: the lock and the outcome.
pub fn keys_of(prefix: &str, refresh_token: &str) -> (String, String) {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(refresh_token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    (
        format!("{prefix}lock:{digest}"),
        format!("{prefix}outcome:{digest}"),
    )
}

/// An exchange that counts its calls and comes to `outcome`.
pub fn counting(
    calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
    outcome: stlock::refresh::RefreshOutcome,
) -> stlock::refresh::BoxFuture<'static, stlock::refresh::RefreshOutcome> {
    let calls = std::sync::Arc::clone(calls);
    Box::pin(async move {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        outcome
    })
}
