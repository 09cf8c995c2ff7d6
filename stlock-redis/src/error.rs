//! What can go wrong: building a store, waiting on another replica, and (internally) Redis.

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
/// when another replica held the refresh lock for the whole of its expiry and left no outcome:
/// the request is answered as if the service could not be asked (the user stays signed in), and
/// the next request tries again.
///
/// ```
/// use std::time::Duration;
/// use stlock_redis::LockWaitExpired;
///
/// let cause = LockWaitExpired { waited: Duration::from_secs(15) };
/// assert!(cause.to_string().contains("15s"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("another replica's refresh left no outcome within {waited:?}")]
pub struct LockWaitExpired {
    /// How long the request waited.
    pub waited: Duration,
}

/// A step of the coordination through Redis that failed: the refresh falls back to in-process
/// coordination.
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
