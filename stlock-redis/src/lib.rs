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
//! - **Redis Cluster**: [`RedisStore::cluster_builder`] takes seed nodes and the same settings.
//!   Both keys of a token have the token's digest as their hash tag
//!   (`<prefix>lock:{<sha256>}`, `<prefix>outcome:{<sha256>}`), so they are on one slot, as the
//!   scripts that use them together need; every deadline holds as on one server. A master down
//!   makes the tokens whose keys it serves refresh as with Redis down.
//!
//! ```no_run
//! # fn main() -> Result<(), stlock_redis::BuildError> {
//! let store = stlock_redis::RedisStore::cluster_builder([
//!     "redis://redis-0.internal:6379",
//!     "redis://redis-1.internal:6379",
//! ])
//! .build()?;
//! # drop(store); Ok(()) }
//! ```
//!
//! # Metrics
//!
//! With the `metrics` feature, the store records through the [`metrics`](https://docs.rs/metrics)
//! facade, to whichever recorder the app has installed when the call runs, without labels:
//!
//! - `stlock_redis_available`, a gauge: 1 when Redis answered the last call, 0 when it failed
//!   or did not answer in time ([`RedisStore::is_available`]). Every call sets it, not only
//!   one that changes it, so a recorder installed later gets it from the next call.
//! - `stlock_redis_fallbacks_total`, a counter: refreshes coordinated within one replica because
//!   Redis failed ([`RedisStore::fallbacks`]). Made known at 0 when a store is built, for the
//!   recorder installed then.
//!
//! The feature turns on stlock's `metrics` feature: `stlock::metrics::describe()` gives the
//! recorder both metrics' help texts, with stlock's own.
//!
//! # Upgrading
//!
//! The keys gained the braces of their hash tag. Replicas of a version without them use other
//! keys and do not coordinate with those of this one: during a rolling deploy, parallel requests
//! with one expired token landing on an old and a new replica may each refresh it, and the
//! service then ends that session. Deploy at a quiet time, or stop every old replica before a
//! new one takes traffic.
//!
//! The crate's README has the table of what each failure comes to, what a Redis failover can
//! lose, and the Redis settings that keep outcomes from being lost.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod attempt;
mod builder;
mod commands;
mod connection;
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
