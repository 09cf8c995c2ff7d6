//! The Redis side of coordination: three small scripts, each one round trip and atomic, every
//! call under a deadline, every answer (or its absence) recorded in [`Health`].
//!
//! Each script is given the two keys of one refresh token as `KEYS`, and touches no other key
//! (none is built inside a script): a Redis Cluster sends a script to the node of its keys'
//! slot, and runs it only if they share one, which their hash tag sees to (see `keys`).

use std::future::Future;
use std::time::Duration;

use redis::{RedisResult, Script, ScriptInvocation, Value};
use tokio::sync::OnceCell;

use crate::connection::{Connection, Target};
use crate::error::Failure;
use crate::health::Health;
use crate::keys::Keys;
use crate::settings::Settings;

/// Takes the lock unless an outcome is already there, in one step: a replica that looked for
/// the outcome, found none and only then took the lock could take it just after the holder
/// stored the outcome and let go, and present a refresh token already spent.
///
/// KEYS: the lock, the outcome. ARGV: the owner, the expiry in ms. Answers the outcome and
/// what is left of its key's time to live in ms (`-1` for none), `1` (the lock is ours) or `0`
/// (another replica holds it).
const ACQUIRE: &str = r"
local outcome = redis.call('GET', KEYS[2])
if outcome then return {outcome, redis.call('PTTL', KEYS[2])} end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
-- Ours already: a call made again because its answer was lost.
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
";

/// Looks, without taking the lock, for the outcome of a refresh another replica was seen
/// holding: once a replica has seen that, it must never present the token itself, since the
/// holder may have spent it whatever became of the lock.
///
/// KEYS: the lock, the outcome. Answers the outcome and its time to live as [`ACQUIRE`] does,
/// `0` (the lock is still held) or `2` (neither: the holder let go, or died, leaving nothing).
const LOOK: &str = r"
local outcome = redis.call('GET', KEYS[2])
if outcome then return {outcome, redis.call('PTTL', KEYS[2])} end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return 2
";

/// Stores the outcome, if there is one, and only then lets go of the lock, if it is still ours
/// (a lock that lapsed may be another replica's by now): a replica polling sees either the lock
/// or the outcome, never neither.
///
/// KEYS: the lock, the outcome. ARGV: the owner, then the sealed outcome and how long to keep
/// it in ms, when there is one.
const FINISH: &str = r"
if ARGV[2] then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

/// A sealed outcome as Redis keeps it.
pub(crate) struct Stored {
    pub(crate) value: Vec<u8>,
    /// What was left of its key's time to live; `None` if the key has none.
    pub(crate) ttl: Option<Duration>,
}

/// What [`Commands::acquire`] found.
pub(crate) enum Acquired {
    /// The outcome another replica stored.
    Outcome(Stored),
    /// The lock is ours: call the service.
    Lock,
    /// Another replica holds the lock.
    Held,
}

/// What [`Commands::look`] found.
pub(crate) enum Looked {
    /// The outcome another replica stored.
    Outcome(Stored),
    /// The lock is still held.
    Held,
    /// No lock and no outcome.
    Nothing,
}

pub(crate) struct Commands {
    target: Target,
    settings: Settings,
    /// Made on first use, inside the runtime (either connection spawns a task of its own); it
    /// then connects again by itself after a failure. One that could not be made (a cluster
    /// whose seed nodes do not answer) is tried again by the next call.
    connection: OnceCell<Connection>,
    acquire: Script,
    look: Script,
    finish: Script,
    pub(crate) health: Health,
}

impl Commands {
    pub(crate) fn new(target: Target, settings: Settings) -> Self {
        Self {
            target,
            settings,
            connection: OnceCell::new(),
            acquire: Script::new(ACQUIRE),
            look: Script::new(LOOK),
            finish: Script::new(FINISH),
            health: Health::new(),
        }
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The outcome stored for `keys`, else the lock if it is free, else word that it is held.
    pub(crate) async fn acquire(&self, keys: &Keys, owner: &str) -> Result<Acquired, Failure> {
        let mut invocation = self.acquire.prepare_invoke();
        invocation
            .key(&keys.lock)
            .key(&keys.outcome)
            .arg(owner)
            .arg(millis(self.settings.lock_expiry));
        match self.run(&invocation).await? {
            Value::Int(1) => Ok(Acquired::Lock),
            Value::Int(0) => Ok(Acquired::Held),
            answer => stored(answer).map(Acquired::Outcome),
        }
    }

    /// The outcome stored for `keys`, else whether the lock is still held.
    pub(crate) async fn look(&self, keys: &Keys) -> Result<Looked, Failure> {
        let mut invocation = self.look.prepare_invoke();
        invocation.key(&keys.lock).key(&keys.outcome);
        match self.run(&invocation).await? {
            Value::Int(0) => Ok(Looked::Held),
            Value::Int(2) => Ok(Looked::Nothing),
            answer => stored(answer).map(Looked::Outcome),
        }
    }

    /// Runs a script, within the deadline of one call.
    async fn run(&self, invocation: &ScriptInvocation<'_>) -> Result<Value, Failure> {
        self.call(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await
    }

    /// Stores `outcome` (sealed, kept for the given time), if there is one, and lets go of the
    /// lock if `owner` still holds it.
    pub(crate) async fn finish(
        &self,
        keys: &Keys,
        owner: &str,
        outcome: Option<(Vec<u8>, Duration)>,
    ) -> Result<(), Failure> {
        let mut invocation = self.finish.prepare_invoke();
        invocation.key(&keys.lock).key(&keys.outcome).arg(owner);
        if let Some((value, keep)) = outcome {
            invocation.arg(value).arg(millis(keep));
        }
        self.run(&invocation).await.map(drop)
    }

    /// Runs one call on the shared connection, within [`Settings::call_deadline`], whatever the
    /// connection does meanwhile (connecting, a cluster's redirections and retries). A call that
    /// finds the connection dropped (Redis restarted, say) is made once more on the connection
    /// made anew, so that a Redis back up costs no request its coordination. Both scripts may
    /// run twice: taking a lock that is already ours, or storing the same outcome again,
    /// changes nothing.
    async fn call<T, F, Fut>(&self, command: F) -> Result<T, Failure>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let deadline = self.settings.call_deadline();
        let run = async {
            let connection = self
                .connection
                .get_or_try_init(|| self.target.connect(&self.settings))
                .await?
                .clone();
            match command(connection.clone()).await {
                Err(error) if error.is_connection_dropped() || error.is_io_error() => {
                    command(connection).await
                }
                answer => answer,
            }
        };
        let result = match tokio::time::timeout(deadline, run).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => Err(Failure::Command(error)),
            Err(_) => Err(Failure::TimedOut(deadline)),
        };
        match &result {
            Ok(_) => self.health.answered(),
            Err(failure) => self.health.failed(failure),
        }
        result
    }
}

/// An outcome and its time to live, as [`ACQUIRE`] and [`LOOK`] answer them; anything else is
/// not an answer of theirs.
fn stored(answer: Value) -> Result<Stored, Failure> {
    let Value::Array(answer) = answer else {
        return Err(Failure::Unexpected);
    };
    match <[Value; 2]>::try_from(answer) {
        Ok([Value::BulkString(value), Value::Int(ttl)]) => Ok(Stored {
            value,
            ttl: u64::try_from(ttl).ok().map(Duration::from_millis),
        }),
        _ => Err(Failure::Unexpected),
    }
}

/// A duration as Redis's whole milliseconds, at least one (`PX 0` is an error).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
