//! One replica's attempt at a refresh, coordinated with the other replicas through Redis: take
//! the lock and exchange the token, or read the outcome another replica left, or give up; never
//! present a token another replica may have spent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::{OsRng, RngCore};
use stlock::refresh::{BoxFuture, Refresh, Settled};

use crate::commands::{Acquired, Looked, Stored};
use crate::entry::Entry;
use crate::error::{Failure, NotRefreshed};
use crate::keys::{hex, Keys};
use crate::seal;
use crate::shared::Shared;

/// What one replica's attempt needs of a request's refresh. Holds the refresh token, so it is
/// never `Debug`.
pub(crate) struct Attempt {
    refresh_token: String,
    keys: Keys,
    patience: Duration,
    can_wait: bool,
}

/// Where an attempt stands once it has looked at Redis.
enum Turn {
    /// Another replica's outcome, dated as Redis kept it.
    Settled(Settled),
    /// The lock, held under this owner id: call the service.
    Lead(String),
    /// No outcome, and this replica must not exchange the token.
    NotRefreshed(NotRefreshed),
}

impl Attempt {
    pub(crate) fn new(prefix: &str, refresh: &Refresh<'_>) -> Self {
        Self {
            refresh_token: refresh.refresh_token.to_owned(),
            keys: Keys::new(prefix, refresh.refresh_token),
            patience: refresh.patience,
            can_wait: refresh.can_wait,
        }
    }

    /// The outcome for every request of this replica that shares the attempt.
    pub(crate) async fn run(
        self,
        shared: &Shared,
        exchange: BoxFuture<'static, Settled>,
    ) -> Settled {
        match self.take_turn(shared).await {
            Ok(Turn::Settled(settled)) => settled,
            Ok(Turn::Lead(owner)) => self.lead(shared, &owner, exchange).await,
            Ok(Turn::NotRefreshed(cause)) => Settled::unavailable(Arc::new(cause)),
            // Redis failed before any other replica was seen at the refresh. A request that can
            // go on with its access token does, rather than refresh without coordination: a
            // replica holding this refresh unseen would make the two exchanges end the session.
            Err(failure) if self.can_wait => {
                Settled::unavailable(Arc::new(NotRefreshed::RedisUnavailable(Box::new(failure))))
            }
            // One that cannot would fail: it refreshes coordinated within this replica only.
            Err(_) => {
                shared.commands.health.fell_back();
                exchange.await
            }
        }
    }

    /// Reads the outcome or takes the lock; when another replica holds it, looks for its
    /// outcome every poll interval, for as long as the request can wait. An error means that
    /// Redis failed before it was seen holding anything.
    async fn take_turn(&self, shared: &Shared) -> Result<Turn, Failure> {
        let owner = lock_owner()?;
        let started = Instant::now();
        match shared.commands.acquire(&self.keys, &owner).await? {
            Acquired::Outcome(stored) => return Ok(self.read(shared, started, stored)),
            Acquired::Lock => return Ok(Turn::Lead(owner)),
            Acquired::Held => {}
        }
        // Another replica holds the refresh, and may spend the token at any moment: from here
        // on, only look. The client's timeout bounds the wait, not the lock's expiry, which is
        // longer: a holder that died holds no request up for more than a request may wait.
        let gave_up = || {
            Ok(Turn::NotRefreshed(NotRefreshed::StillHeld {
                waited: started.elapsed(),
            }))
        };
        loop {
            let Some(left) = time_left(started, self.patience) else {
                return gave_up();
            };
            tokio::time::sleep(shared.settings.poll_interval.min(left)).await;
            let Some(left) = time_left(started, self.patience) else {
                return gave_up();
            };
            let looked = Instant::now();
            // A call cut short for the request's own deadline is no fault of Redis's: the
            // timeout drops it before it records anything.
            match tokio::time::timeout(left, shared.commands.look(&self.keys)).await {
                Ok(Ok(Looked::Outcome(stored))) => return Ok(self.read(shared, looked, stored)),
                Ok(Ok(Looked::Nothing)) => {
                    return Ok(Turn::NotRefreshed(NotRefreshed::LeftNoOutcome))
                }
                // Still held; or Redis failed (the call recorded it): while the request can
                // wait, the holder's outcome may yet appear.
                Ok(Ok(Looked::Held) | Err(_)) => {}
                Err(_) => return gave_up(),
            }
        }
    }

    /// What an outcome found in Redis comes to: dated as Redis kept it, or, when it does not
    /// open, no refresh at all (whoever wrote it, the token may be spent).
    fn read(&self, shared: &Shared, looked: Instant, stored: Stored) -> Turn {
        let Some(entry) = seal::open(&self.refresh_token, &self.keys.outcome, &stored.value) else {
            shared.integrity.found_unopened();
            return Turn::NotRefreshed(NotRefreshed::Unopened);
        };
        shared.integrity.opened();
        match entry.settled(looked, stored.ttl) {
            Some(settled) => Turn::Settled(settled),
            // This machine's monotonic clock cannot date it (older than the clock, or
            // remembered past its end): nobody could tell who joined before it settled.
            None => Turn::NotRefreshed(NotRefreshed::LeftNoOutcome),
        }
    }

    /// Calls the service under the lock, stores what is worth storing, and lets go.
    async fn lead(
        &self,
        shared: &Shared,
        owner: &str,
        exchange: BoxFuture<'static, Settled>,
    ) -> Settled {
        let settled = exchange.await;
        let stored = Entry::of(&settled, &shared.settings).and_then(|entry| {
            match seal::seal(&self.refresh_token, &self.keys.outcome, &entry) {
                Ok(value) => Some((value, entry.keep)),
                Err(failure) => {
                    tracing::warn!(
                        error = %failure,
                        "a refresh outcome could not be stored in Redis"
                    );
                    None
                }
            }
        });
        // A failure here is recorded (and logged once) by the call itself; this request has
        // its outcome either way, and the lock lapses by itself.
        let _ = shared.commands.finish(&self.keys, owner, stored).await;
        settled
    }
}

/// How much of `patience` is left since `started`, if any. (Counted down rather than as a
/// deadline, which a patience too long to add to an `Instant` could not be.)
fn time_left(started: Instant, patience: Duration) -> Option<Duration> {
    patience
        .checked_sub(started.elapsed())
        .filter(|left| !left.is_zero())
}

/// A lock owner id: random, so that a replica lets go only of a lock it still holds.
fn lock_owner() -> Result<String, Failure> {
    let mut id = [0u8; 16];
    OsRng.try_fill_bytes(&mut id)?;
    Ok(hex(&id))
}
