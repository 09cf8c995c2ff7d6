//! Refresh coordination across the replicas of an app, through Redis, for
//! [`stlock`]'s auto-refresh.
//!
//! STLock rotates refresh tokens on every use and takes a used one presented again for theft,
//! ending the session. A browser's parallel requests carrying the same expired token may land on
//! different replicas behind a load balancer; [`stlock::refresh::InProcessStore`] coordinates
//! the requests of one process only, so each replica would refresh and the user would be signed
//! out. [`RedisStore`] makes one replica call the service per refresh token and hands its
//! outcome to every other one, through a Redis all replicas share:
//!
//! ```no_run
//! use stlock::refresh::AutoRefresh;
//! use stlock_redis::RedisStore;
//!
//! # fn wire(auth: stlock::StlockLayer) -> Result<(), Box<dyn std::error::Error>> {
//! let auth = auth.auto_refresh(
//!     AutoRefresh::cookies().store(RedisStore::builder("redis://redis.internal:6379/").build()?).build()?,
//! );
//! # drop(auth); Ok(()) }
//! ```
//!
//! - **One refresh**: the first replica takes a lock in Redis (`SET NX PX`, atomically with a
//!   look for an outcome already there), calls the service, and stores the outcome; the others
//!   poll for it, for as long as the client's timeout, and hand it out with the deadline it was
//!   stored with.
//! - **Never a token another may have spent**: a replica that saw the lock held never presents
//!   the token itself, whatever then becomes of the lock or of Redis; nor does one that finds
//!   an outcome it cannot open. It answers as if the service were unavailable (the old token
//!   while the leeway accepts it, else 503), with [`NotRefreshed`] as the cause.
//! - **Nothing readable in Redis**: keys hold the SHA-256 of the refresh token, never the token;
//!   a stored outcome is sealed with XChaCha20-Poly1305 under a key derived from the old refresh
//!   token, bound to its Redis key. Reading Redis yields no token; writing to it yields none
//!   either, and a value altered or copied to another key is counted
//!   ([`RedisStore::unopened`]), not used.
//! - **Redis down**: every Redis call has a deadline. A request the leeway still lets go on with
//!   its old token does so, unrefreshed; one past it refreshes coordinated within this replica
//!   only, rather than fail. One warning per outage, and [`RedisStore::fallbacks`] to alert on.
//!
//! The crate's README has the table of what each failure comes to, and the Redis settings
//! that keep outcomes from being lost.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod attempt;
mod builder;
mod commands;
mod entry;
mod error;
mod health;
mod integrity;
mod keys;
mod seal;
mod settings;
mod shared;
mod store;

pub use builder::RedisStoreBuilder;
pub use error::{BuildError, NotRefreshed};
pub use settings::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_LOCK_EXPIRY, DEFAULT_POLL_INTERVAL,
    DEFAULT_PREFIX,
};
pub use store::RedisStore;

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
