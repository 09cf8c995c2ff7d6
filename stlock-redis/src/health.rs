//! Whether Redis answers, logged when that changes (at most once a minute), and how many
//! refreshes went without it; with the `metrics` feature, both also as metrics
//! (`stlock::metrics::REDIS_AVAILABLE` and `REDIS_FALLBACKS`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::Failure;

/// How long after a warning that Redis is unavailable the next one is held back. A single
/// server's outage is one warning either way; a cluster with one master down answers for some
/// tokens and fails for others, and without it would log a warning (and a line that Redis
/// answers again) for every other request.
pub(crate) const QUIET_AFTER_WARNING: Duration = Duration::from_secs(60);

/// Starts out available: the first failure is the start of an outage, and is logged.
#[derive(Debug)]
pub(crate) struct Health {
    available: AtomicBool,
    fallbacks: AtomicU64,
    /// When this health was made: the clock the quiet period is counted on.
    since: Instant,
    /// Milliseconds after `since` before which no warning is logged.
    quiet_until: AtomicU64,
    /// Whether the current outage was logged, so that its end is.
    outage_logged: AtomicBool,
}

impl Health {
    pub(crate) fn new() -> Self {
        // The counter made known at 0 for the recorder installed now (an exporter installed at
        // start-up): an alert on its increase then has a series before the first fallback.
        // Adding 0 changes no count another store made.
        #[cfg(feature = "metrics")]
        metrics::counter!(stlock::metrics::REDIS_FALLBACKS).increment(0);
        Self {
            available: AtomicBool::new(true),
            fallbacks: AtomicU64::new(0),
            since: Instant::now(),
            quiet_until: AtomicU64::new(0),
            outage_logged: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    pub(crate) fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Redis answered. Only the call that sees the change logs it, and only the end of an
    /// outage that was logged.
    pub(crate) fn answered(&self) {
        // Set by every call, at call time: whichever recorder is installed now gets it, one
        // installed later included.
        #[cfg(feature = "metrics")]
        metrics::gauge!(stlock::metrics::REDIS_AVAILABLE).set(1.0);
        if !self.available.swap(true, Ordering::Relaxed)
            && self.outage_logged.swap(false, Ordering::Relaxed)
        {
            tracing::info!("Redis answers again: refreshes are coordinated across replicas");
        }
    }

    /// A call failed. Only the call that sees the change logs it, and not within
    /// [`QUIET_AFTER_WARNING`] of the last warning: one warning per outage, not one per
    /// request, however Redis flaps.
    pub(crate) fn failed(&self, failure: &Failure) {
        #[cfg(feature = "metrics")]
        metrics::gauge!(stlock::metrics::REDIS_AVAILABLE).set(0.0);
        if !self.available.swap(false, Ordering::Relaxed) {
            return;
        }
        let now = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        let quiet_until = self.quiet_until.load(Ordering::Relaxed);
        let next = now.saturating_add(millis(QUIET_AFTER_WARNING));
        if now < quiet_until
            || self
                .quiet_until
                .compare_exchange(quiet_until, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            tracing::debug!(error = %failure, "Redis is unavailable again");
            return;
        }
        self.outage_logged.store(true, Ordering::Relaxed);
        tracing::warn!(
            error = %failure,
            "Redis is unavailable: requests whose access token the leeway still accepts go \
             on with it unrefreshed, and the others refresh coordinated within each replica \
             only (parallel requests landing on different replicas may each refresh, and the \
             service may then end that session); until Redis has answered for a minute, this \
             is not logged again"
        );
    }

    /// A refresh goes ahead coordinated in this process only (the failure that made it so was
    /// recorded by its call).
    pub(crate) fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!(stlock::metrics::REDIS_FALLBACKS).increment(1);
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stlock_test_support::logs::Capture;
    use tracing::Level;

    #[test]
    fn a_flapping_redis_is_one_warning_and_one_recovery_not_one_per_call() {
        let health = Health::new();
        let capture = Capture::start(Level::INFO);
        for _ in 0..50 {
            health.failed(&Failure::Unexpected);
            assert!(!health.is_available());
            health.answered();
            assert!(health.is_available());
        }
        let logged = capture.text();
        assert_eq!(
            logged.matches("Redis is unavailable").count(),
            1,
            "{logged}"
        );
        assert_eq!(logged.matches("Redis answers again").count(), 1, "{logged}");
    }

    #[test]
    fn after_the_quiet_period_an_outage_is_logged_again() {
        let health = Health::new();
        let capture = Capture::start(Level::WARN);
        health.failed(&Failure::Unexpected);
        health.answered();
        // As if the quiet period had passed.
        health.quiet_until.store(0, Ordering::Relaxed);
        health.failed(&Failure::Unexpected);
        assert_eq!(capture.text().matches("Redis is unavailable").count(), 2);
    }
}
