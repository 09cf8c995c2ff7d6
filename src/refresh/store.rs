//! Refresh coordination: one call to the service per refresh token, however many requests race,
//! and its outcome remembered for a grace window.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::TokenPair;

/// A boxed, sendable future: what a [`RefreshStore`] takes and gives.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What exchanging a refresh token came to.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RefreshOutcome {
    /// The service issued this pair (its `Debug` shows neither token).
    Refreshed(TokenPair),
    /// The service refused the refresh token: expired, revoked, or already used. The session is
    /// over; every request that presents the token gets this answer.
    Refused,
    /// The service could not be asked (unreachable, timed out, failing), or the coordination
    /// itself failed; the cause is kept for the logs. Not remembered: the next request tries
    /// again.
    Unavailable(Arc<dyn std::error::Error + Send + Sync>),
}

/// A refresh in flight that ended without an outcome: its task was cancelled, as happens when
/// the runtime shuts down.
#[derive(Debug, thiserror::Error)]
#[error("the refresh in flight was cancelled")]
struct Cancelled;

/// Coordinates refreshes among every request that shares the store: for each refresh token,
/// exactly one of them calls the service, and all of them, and any request presenting the same
/// token within the grace window afterwards, get that one outcome.
///
/// [`InProcessStore`], the default, coordinates the requests of one process. A store shared by
/// several replicas of an app (Redis, say) implements the same trait, so that a browser whose
/// parallel requests land on different replicas still causes one refresh.
///
/// Implementations must never hold a lock across an `.await`, must bound every wait (the
/// exchange itself is bounded by the client's timeout), and must not keep a refresh token, or
/// anything it could be recovered from, in the clear: key by a hash of it.
pub trait RefreshStore: Send + Sync + 'static {
    /// The outcome of exchanging `refresh_token`: `exchange` (the call to the service) if no
    /// outcome is in flight or remembered for it, else that outcome. A remembered outcome lasts
    /// for `grace` after it was reached; [`RefreshOutcome::Unavailable`] is never remembered.
    fn coordinate<'a>(
        &'a self,
        refresh_token: &'a str,
        grace: Duration,
        exchange: BoxFuture<'static, RefreshOutcome>,
    ) -> BoxFuture<'a, RefreshOutcome>;
}

/// How many refresh tokens an [`InProcessStore`] follows at once by default.
pub const DEFAULT_STORE_CAPACITY: usize = 10_000;

/// The default [`RefreshStore`]: coordinates the requests of this process.
///
/// Keys are the SHA-256 of the refresh token, never the token. Memory is bounded: at most
/// [`DEFAULT_STORE_CAPACITY`] tokens (or the capacity given) are followed; when full, the
/// outcome remembered longest ago is forgotten first, and should every slot hold a refresh still
/// in flight, a further one runs without coordination rather than wait. A refresh runs as a task
/// of its own, so that a request giving up on it (a client that hangs up) does not cancel a call
/// the service may already have answered.
///
/// ```
/// use stlock::refresh::{AutoRefresh, InProcessStore};
///
/// let refresh = AutoRefresh::cookies().store(InProcessStore::with_capacity(50_000));
/// # drop(refresh);
/// ```
#[derive(Clone)]
pub struct InProcessStore {
    slots: Arc<Mutex<Slots>>,
}

type Key = [u8; 32];

struct Slots {
    by_key: HashMap<Key, Slot>,
    capacity: usize,
}

struct Slot {
    outcome: watch::Receiver<Option<RefreshOutcome>>,
    /// When the remembered outcome is forgotten; `None` while the refresh is in flight.
    forget_at: Option<Instant>,
}

impl InProcessStore {
    /// A store following at most [`DEFAULT_STORE_CAPACITY`] refresh tokens at once.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_STORE_CAPACITY)
    }

    /// A store following at most `capacity` refresh tokens at once (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: Arc::new(Mutex::new(Slots {
                by_key: HashMap::new(),
                capacity: capacity.max(1),
            })),
        }
    }

    /// How many refresh tokens are followed now (in flight or remembered).
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no refresh token is followed now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // Nothing panics while holding the lock; should something ever, the slots are still
        // consistent (each change is a single insert or remove).
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The outcome to wait for, and whether this caller must produce it.
    fn join(&self, key: Key) -> Joined {
        let mut slots = self.lock();
        let now = Instant::now();
        if let Some(slot) = slots.by_key.get(&key) {
            if slot.forget_at.is_none_or(|forget_at| now < forget_at) {
                return Joined::Follower(slot.outcome.clone());
            }
        }
        if slots.by_key.len() >= slots.capacity && !slots.by_key.contains_key(&key) {
            slots.make_room(now);
        }
        if slots.by_key.len() >= slots.capacity && !slots.by_key.contains_key(&key) {
            return Joined::Uncoordinated;
        }
        let (sender, receiver) = watch::channel(None);
        slots.by_key.insert(
            key,
            Slot {
                outcome: receiver.clone(),
                forget_at: None,
            },
        );
        Joined::Leader(sender, receiver)
    }

    /// Records the outcome the leader reached: remembered for `grace`, unless there is nothing
    /// worth remembering.
    fn settle(&self, key: Key, outcome: &RefreshOutcome, grace: Duration) {
        let mut slots = self.lock();
        match outcome {
            RefreshOutcome::Unavailable(_) => {
                slots.by_key.remove(&key);
            }
            _ => {
                if let Some(slot) = slots.by_key.get_mut(&key) {
                    slot.forget_at = Some(Instant::now() + grace);
                }
            }
        }
    }
}

enum Joined {
    Leader(
        watch::Sender<Option<RefreshOutcome>>,
        watch::Receiver<Option<RefreshOutcome>>,
    ),
    Follower(watch::Receiver<Option<RefreshOutcome>>),
    Uncoordinated,
}

impl Slots {
    /// Forgets every outcome past its grace window, and if that is not enough, the one
    /// remembered longest ago. Refreshes in flight are never forgotten.
    fn make_room(&mut self, now: Instant) {
        self.by_key
            .retain(|_, slot| slot.forget_at.is_none_or(|forget_at| now < forget_at));
        if self.by_key.len() < self.capacity {
            return;
        }
        let oldest = self
            .by_key
            .iter()
            .filter_map(|(key, slot)| slot.forget_at.map(|forget_at| (forget_at, *key)))
            .min();
        if let Some((_, key)) = oldest {
            self.by_key.remove(&key);
        }
    }
}

impl Default for InProcessStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InProcessStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self.lock();
        f.debug_struct("InProcessStore")
            .field("followed", &slots.by_key.len())
            .field("capacity", &slots.capacity)
            .finish()
    }
}

impl RefreshStore for InProcessStore {
    fn coordinate<'a>(
        &'a self,
        refresh_token: &'a str,
        grace: Duration,
        exchange: BoxFuture<'static, RefreshOutcome>,
    ) -> BoxFuture<'a, RefreshOutcome> {
        let key: Key = Sha256::digest(refresh_token.as_bytes()).into();
        match self.join(key) {
            Joined::Uncoordinated => exchange,
            Joined::Follower(receiver) => Box::pin(wait(receiver)),
            Joined::Leader(sender, receiver) => {
                let store = self.clone();
                let run = async move {
                    let outcome = exchange.await;
                    store.settle(key, &outcome, grace);
                    // Followers may all have gone; the outcome stays remembered regardless.
                    let _ = sender.send(Some(outcome));
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(run);
                        Box::pin(wait(receiver))
                    }
                    // No runtime to spawn on: the leader runs the exchange itself.
                    Err(_) => Box::pin(async move {
                        run.await;
                        wait(receiver).await
                    }),
                }
            }
        }
    }
}

/// The outcome once the leader has it. A leader gone without one (its task cancelled as the
/// runtime shut down) leaves nothing to follow: the service could not be asked.
async fn wait(mut receiver: watch::Receiver<Option<RefreshOutcome>>) -> RefreshOutcome {
    match receiver.wait_for(Option::is_some).await {
        // `wait_for` returns once the value is `Some`; `Cancelled` only stands in for the
        // impossible.
        Ok(outcome) => outcome
            .clone()
            .unwrap_or_else(|| RefreshOutcome::Unavailable(Arc::new(Cancelled))),
        Err(_) => RefreshOutcome::Unavailable(Arc::new(Cancelled)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pair(n: usize) -> TokenPair {
        TokenPair {
            access_token: format!("a{n}"),
            refresh_token: format!("r{n}"),
        }
    }

    fn counting(
        calls: &Arc<AtomicUsize>,
        outcome: RefreshOutcome,
    ) -> BoxFuture<'static, RefreshOutcome> {
        let calls = Arc::clone(calls);
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            outcome
        })
    }

    #[tokio::test]
    async fn racing_requests_share_one_exchange_and_the_grace_window_remembers_it() {
        let store = InProcessStore::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let grace = Duration::from_secs(60);
        let waits = (0..50).map(|_| {
            let exchange = counting(&calls, RefreshOutcome::Refreshed(pair(1)));
            let store = store.clone();
            tokio::spawn(async move { store.coordinate("token", grace, exchange).await })
        });
        for wait in waits.collect::<Vec<_>>() {
            assert!(matches!(wait.await.unwrap(), RefreshOutcome::Refreshed(p) if p == pair(1)));
        }
        let later = counting(&calls, RefreshOutcome::Refreshed(pair(2)));
        assert!(matches!(
            store.coordinate("token", grace, later).await,
            RefreshOutcome::Refreshed(p) if p == pair(1)
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn past_the_grace_window_and_after_a_failure_the_service_is_asked_again() {
        let store = InProcessStore::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let refused = counting(&calls, RefreshOutcome::Refused);
        store.coordinate("t", Duration::ZERO, refused).await;
        let again = counting(&calls, RefreshOutcome::Refreshed(pair(1)));
        assert!(matches!(
            store.coordinate("t", Duration::ZERO, again).await,
            RefreshOutcome::Refreshed(_)
        ));
        let down = RefreshOutcome::Unavailable(Arc::new(Cancelled));
        let failing = counting(&calls, down);
        store
            .coordinate("u", Duration::from_secs(60), failing)
            .await;
        assert!(!store.is_empty());
        let retried = counting(&calls, RefreshOutcome::Refused);
        assert!(matches!(
            store
                .coordinate("u", Duration::from_secs(60), retried)
                .await,
            RefreshOutcome::Refused
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn memory_is_bounded_by_the_capacity() {
        let store = InProcessStore::with_capacity(8);
        let calls = Arc::new(AtomicUsize::new(0));
        for n in 0..100 {
            let exchange = counting(&calls, RefreshOutcome::Refreshed(pair(n)));
            store
                .coordinate(&format!("token{n}"), Duration::from_secs(60), exchange)
                .await;
            assert!(store.len() <= 8);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 100);
    }

    #[test]
    fn without_a_runtime_the_leader_runs_the_exchange_itself() {
        let store = InProcessStore::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let exchange = counting(&calls, RefreshOutcome::Refreshed(pair(1)));
        let outcome = block_on(store.coordinate("t", Duration::from_secs(1), exchange));
        assert!(matches!(outcome, RefreshOutcome::Refreshed(_)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// Drives a future on this thread, outside any runtime, by polling until it is ready.
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }
}
