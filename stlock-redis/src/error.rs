//! What can go wrong: building a store, a refresh this replica may not make, and (internally)
//! Redis.

use std::time::Duration;

/// Why [`RedisStoreBuilder::build`](crate::RedisStoreBuilder::build) made no store.
///
/// ```
/// use stlock_redis::{BuildError, RedisStore};
///
/// let zero = RedisStore::builder("redis://127.0.0.1/").poll_interval(std::time::Duration::ZERO);
/// assert!(matches!(zero.build(), Err(BuildError::InvalidSetting { setting: "poll_interval", .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The Redis URL (or connection info) cannot be used.
    #[error("the Redis connection info cannot be used: {0}")]
    Redis(#[from] redis::RedisError),
    /// A setting is out of range.
    #[error("invalid Redis store setting `{setting}`: {reason}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// What the setting must be.
        reason: &'static str,
    },
}

/// The cause in [`RefreshOutcome::Unavailable`](stlock::refresh::RefreshOutcome::Unavailable)
/// when a [`RedisStore`](crate::RedisStore) did not exchange the refresh token: doing so could
/// have presented a token another replica may already have spent (and the service would have
/// ended the session), or could have gone uncoordinated while the request can do without.
///
/// The request goes on with its old access token while the leeway accepts it, else gets 503
/// with `Retry-After`; nobody is signed out, and the next request tries again.
///
/// ```
/// use std::time::Duration;
/// use stlock_redis::NotRefreshed;
///
/// let cause = NotRefreshed::StillHeld { waited: Duration::from_secs(10) };
/// assert!(cause.to_string().contains("10s"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotRefreshed {
    /// Another replica held the refresh for as long as the request could wait (the client's
    /// timeout) and left no outcome: it may still be calling the service, or have died.
    #[error("another replica's refresh left no outcome within {waited:?}")]
    StillHeld {
        /// How long the request waited.
        waited: Duration,
    },
    /// Another replica's refresh ended (its lock let go or lapsed) and left no outcome: it could
    /// not reach the service, or it died, possibly after the service answered.
    #[error("another replica's refresh ended without leaving an outcome")]
    LeftNoOutcome,
    /// An outcome is stored for the token but does not open: altered, copied from another key,
    /// or sealed by another version. See [`RedisStore::unopened`](crate::RedisStore::unopened).
    #[error("the refresh outcome stored in Redis does not open")]
    Unopened,
    /// Redis could not be asked, and the request can go on with its access token: no refresh is
    /// made without coordination while it can do without one.
    #[error("Redis is unavailable and the request can go on with its access token")]
    RedisUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A step of the coordination through Redis that failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("Redis failed: {0}")]
    Command(#[from] redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("Redis answered a script with an unexpected value")]
    Unexpected,
    #[error("an outcome could not be sealed")]
    Sealing,
    #[error("the operating system's random number generator failed: {0}")]
    Random(#[from] rand_core::Error),
}
