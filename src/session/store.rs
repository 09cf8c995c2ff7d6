//! Where a signed-in program keeps its session between runs: [`SessionStore`], and what it keeps
//! ([`Stored`]).

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::refresh::BoxFuture;
use crate::token::TokenPair;

/// What a [`SessionStore`] keeps: the pair, and when it was received (the session's schedule is
/// counted from then). `Debug` shows neither token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The pair.
    pub pair: TokenPair,
    /// When the pair was received, as this machine's clock told.
    pub received: SystemTime,
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("pair", &self.pair)
            .field("received", &self.received)
            .finish()
    }
}

/// Where a [`Session`](super::Session) is kept between runs of a program, and shared by the
/// processes that use it: a file ([`FileStore`](super::FileStore)), or a store of the app's own.
///
/// The session saves every pair it receives, removes it when the session ends, and takes the
/// store's [`lock`](Self::lock) around each refresh, reading the store again once it holds it:
/// a process that finds a pair another one stored meanwhile takes it instead of refreshing, so
/// that two processes never present one refresh token twice (which ends the session).
pub trait SessionStore: Send + Sync + 'static {
    /// The stored session, if there is one.
    fn load(&self) -> BoxFuture<'_, Result<Option<Stored>, StoreError>>;

    /// Replaces the stored session; `None` removes it.
    fn save<'a>(&'a self, stored: Option<&'a Stored>) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Excludes every other process (and session) using this store until the returned guard is
    /// dropped.
    fn lock(&self) -> BoxFuture<'_, Result<Box<dyn Send>, StoreError>>;
}

/// A store that could not be read, written or locked. Never holds a token: what a store reads
/// is not part of it.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct StoreError {
    what: &'static str,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// `what` failed, because of `source`.
    pub fn new(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self {
            what,
            source: source.into(),
        }
    }
}
