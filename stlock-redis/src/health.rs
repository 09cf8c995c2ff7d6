//! Whether Redis answers, logged once per change, and how many refreshes went without it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::Failure;

/// Starts out available: the first failure is the start of an outage, and is logged.
#[derive(Debug)]
pub(crate) struct Health {
    available: AtomicBool,
    fallbacks: AtomicU64,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            available: AtomicBool::new(true),
            fallbacks: AtomicU64::new(0),
        }
    }

    pub(crate) fn is_available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    pub(crate) fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Redis answered. Only the call that sees the change logs it.
    pub(crate) fn answered(&self) {
        if !self.available.swap(true, Ordering::Relaxed) {
            tracing::info!("Redis answers again: refreshes are coordinated across replicas");
        }
    }

    /// A call failed. Only the call that sees the change logs it: one warning per outage, not
    /// one per request.
    pub(crate) fn failed(&self, failure: &Failure) {
        if self.available.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error = %failure,
                "Redis is unavailable: requests whose access token the leeway still accepts go \
                 on with it unrefreshed, and the others refresh coordinated within each replica \
                 only (parallel requests landing on different replicas may each refresh, and the \
                 service may then end that session)"
            );
        }
    }

    /// A refresh goes ahead coordinated in this process only (the failure that made it so was
    /// recorded by its call).
    pub(crate) fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }
}
