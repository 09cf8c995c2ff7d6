//! A Redis server per test, the emulator with sessions whose access token has expired, and
//! replicas of an app sharing both; the emulator, users and the log capture are the workspace's
//! shared fixtures (`stlock-test-support`).

pub mod app;
pub mod redis_cluster;
pub mod redis_server;

pub use stlock_test_support::logs;

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

/// The Redis keys a store with `prefix` uses for `refresh_token`: the lock and the outcome, the
/// digest of the token being their hash tag (between braces).
pub fn keys_of(prefix: &str, refresh_token: &str) -> (String, String) {
    use sha2::{Digest, Sha256};
    let digest: String = Sha256::digest(refresh_token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    (
        format!("{prefix}lock:{{{digest}}}"),
        format!("{prefix}outcome:{{{digest}}}"),
    )
}

/// The access token the refreshes of [`refresh`] come with.
pub const ACCESS: &str = "eyJold.access.token";

/// A request's refresh of `token`, as the layer asks a store for it, whose exchange counts its
/// calls and comes to `outcome`, bound to [`ACCESS`] and remembered for `grace`. It waits up to
/// 10 s for another replica, and cannot go on without a refresh.
pub fn refresh<'a>(
    token: &'a str,
    calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
    outcome: stlock::refresh::RefreshOutcome,
    grace: Duration,
) -> stlock::refresh::Refresh<'a> {
    let calls = std::sync::Arc::clone(calls);
    stlock::refresh::Refresh {
        refresh_token: token,
        grace,
        patience: Duration::from_secs(10),
        can_wait: false,
        exchange: Box::pin(async move {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let bound_to = stlock::refresh::Binding::of(Some(ACCESS));
            stlock::refresh::Settled::now(outcome, bound_to, grace)
        }),
    }
}

/// Waits until `ready` says so, looking every 10 ms, for at most 10 s: a wait for readiness,
/// never a guess at how long something takes.
#[track_caller]
pub fn until<F, Fut>(what: &'static str, mut ready: F) -> impl Future<Output = ()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let caller = std::panic::Location::caller();
    async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !ready().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{caller}: not {what} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
