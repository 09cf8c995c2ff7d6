//! Outcomes found in Redis that do not open: counted, and a warning when they start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Nothing a replica stores fails to open elsewhere, so each of these was altered, copied from
/// another key, or sealed by another version of this crate.
#[derive(Debug)]
pub(crate) struct Integrity {
    unopened: AtomicU64,
    /// Whether the last outcome found failed to open: one warning until one opens again, not
    /// one per request (whoever can write to Redis could otherwise flood the logs).
    warned: AtomicBool,
}

impl Integrity {
    pub(crate) fn new() -> Self {
        Self {
            unopened: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    pub(crate) fn unopened(&self) -> u64 {
        self.unopened.load(Ordering::Relaxed)
    }

    /// An outcome did not open.
    pub(crate) fn found_unopened(&self) {
        self.unopened.fetch_add(1, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "a refresh outcome stored in Redis does not open (altered, copied from another \
                 key, or sealed by another version of stlock-redis): the refresh is not made, \
                 and the request is answered as if the service were unavailable; something \
                 other than this app's replicas writes to its keys"
            );
        }
    }

    /// An outcome opened: the next that does not is news again.
    pub(crate) fn opened(&self) {
        self.warned.store(false, Ordering::Relaxed);
    }
}
