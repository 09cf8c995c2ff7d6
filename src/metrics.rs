//! The metrics stlock records (with the `metrics` feature), through the [`metrics`]
//! facade: whichever exporter the app installs gets them (Prometheus, StatsD, OpenTelemetry …).
//!
//! Each is recorded through the recorder installed when the request runs, not the one there when
//! the layer was built, so the recorder may be installed at any time. No label is ever per user
//! or per token. The names, their labels and every value a label takes are in
//! [one table in the crate's documentation](crate#metrics), with the alerts worth having; the
//! names are also the constants below.
//!
//! ```
//! // At start-up, with the exporter of your choice installed: the help text and unit of each.
//! stlock::metrics::describe();
//! ```

use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// Requests through `StlockLayer`, by `result`.
pub const AUTHENTICATIONS: &str = "stlock_authentications_total";
/// Look-ups in the verified-token cache, by `result` (`hit`, `miss`).
pub const TOKEN_CACHE: &str = "stlock_token_cache_total";
/// Requests whose access token was due, by how their refresh ended (`result`).
pub const REFRESHES: &str = "stlock_refreshes_total";
/// The service's refresh calls, in seconds.
pub const REFRESH_DURATION: &str = "stlock_refresh_duration_seconds";
/// Grant checks, by `decision` and `cache`.
pub const GRANT_CHECKS: &str = "stlock_grant_checks_total";
/// The service's grant checks, in seconds.
pub const GRANT_CHECK_DURATION: &str = "stlock_grant_check_duration_seconds";
/// Whether Redis answers (`stlock-redis`).
pub const REDIS_AVAILABLE: &str = "stlock_redis_available";
/// Refreshes coordinated within one replica, Redis being down (`stlock-redis`).
pub const REDIS_FALLBACKS: &str = "stlock_redis_fallbacks_total";

/// Describes every metric of [the table](crate#metrics) to the installed recorder (help text and unit),
/// which exporters such as Prometheus's show. Optional: the metrics are recorded without it.
pub fn describe() {
    describe_counter!(
        AUTHENTICATIONS,
        Unit::Count,
        "Requests through StlockLayer, by result: accepted, anonymous, or why they were refused"
    );
    describe_counter!(
        TOKEN_CACHE,
        Unit::Count,
        "Look-ups in stlock's verified-token cache, by result: hit or miss"
    );
    describe_counter!(
        REFRESHES,
        Unit::Count,
        "Requests whose access token was due, by how the refresh ended"
    );
    describe_histogram!(
        REFRESH_DURATION,
        Unit::Seconds,
        "Calls to the STLock service that exchange a refresh token"
    );
    describe_counter!(
        GRANT_CHECKS,
        Unit::Count,
        "Grant checks of GrantLayer, by decision and whether the answer was cached"
    );
    describe_histogram!(
        GRANT_CHECK_DURATION,
        Unit::Seconds,
        "Grant checks the STLock service was asked"
    );
    describe_gauge!(
        REDIS_AVAILABLE,
        "1 while stlock-redis's Redis answers, 0 once a call to it failed"
    );
    describe_counter!(
        REDIS_FALLBACKS,
        Unit::Count,
        "Refreshes coordinated within one replica only, Redis being unavailable"
    );
}
