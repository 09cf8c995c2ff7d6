//! Refresh coordination: one call to the service per refresh token, however many requests race,
//! and its outcome remembered for a grace window.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::token::TokenPair;

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
    /// The service could not be asked (unreachable, timed out, failing, or an answer that is not
    /// the service refusing the token), or the coordination itself failed; the cause is kept for
    /// the logs. Not remembered: the next request tries again.
    Unavailable(Arc<dyn std::error::Error + Send + Sync>),
}

/// Which access token came with the refresh that reached an outcome: the SHA-256 of the token,
/// or none. A remembered new pair is handed only to requests that bring the same access token,
/// so that whoever holds a copy of the old refresh token alone gets nothing (see
/// [`RefreshStore`]). `Debug` shows no digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding(Option<[u8; 32]>);

impl Binding {
    /// The binding of a request that presented `access_token`, or no access token.
    pub fn of(access_token: Option<&str>) -> Self {
        Self(access_token.map(sha256))
    }

    /// The binding of a request that presented no access token.
    pub fn none() -> Self {
        Self(None)
    }

    /// A binding as a store kept it: [`digest`](Self::digest) read back.
    pub fn from_digest(digest: Option<[u8; 32]>) -> Self {
        Self(digest)
    }

    /// The SHA-256 of the access token, `None` when there was none: for a store to keep.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.0
    }
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Some(_) => "Binding(access token)",
            None => "Binding(none)",
        })
    }
}

/// An outcome as a [`RefreshStore`] hands it out: what the exchange came to, which access token
/// came with it, when it was reached, and until when it is remembered.
#[derive(Clone, Debug)]
pub struct Settled {
    /// What the exchange came to.
    pub outcome: RefreshOutcome,
    /// The access token presented with the refresh that reached it.
    pub bound_to: Binding,
    /// When it was reached: a request that joined before this instant shared a refresh in
    /// flight.
    pub settled_at: Instant,
    /// Until when it is remembered (its grace window); no store remembers it longer.
    pub remember_until: Instant,
}

impl Settled {
    /// `outcome`, reached now by a refresh that came with `bound_to`, remembered for `grace`.
    pub fn now(outcome: RefreshOutcome, bound_to: Binding, grace: Duration) -> Self {
        let settled_at = Instant::now();
        Self {
            outcome,
            bound_to,
            settled_at,
            remember_until: settled_at + grace,
        }
    }

    /// No outcome, for `cause`: the service could not be asked, or the coordination failed.
    pub fn unavailable(cause: Arc<dyn std::error::Error + Send + Sync>) -> Self {
        Self::now(
            RefreshOutcome::Unavailable(cause),
            Binding::none(),
            Duration::ZERO,
        )
    }

    fn is_remembered(&self) -> bool {
        !matches!(self.outcome, RefreshOutcome::Unavailable(_))
    }
}

/// One request's refresh, as a [`RefreshStore`] is asked to coordinate it.
pub struct Refresh<'a> {
    /// The refresh token to exchange; a store keys by a hash of it, never the token.
    pub refresh_token: &'a str,
    /// How long the outcome is remembered after it is reached.
    pub grace: Duration,
    /// How long this request may wait for a refresh another replica holds (the client's
    /// timeout): past it, the answer is [`RefreshOutcome::Unavailable`].
    pub patience: Duration,
    /// Whether the request can go on with its old access token (the leeway still accepts it)
    /// should the refresh be unavailable: a store that cannot coordinate then answers
    /// unavailable rather than risk an uncoordinated exchange.
    pub can_wait: bool,
    /// The call to the service, settling the outcome when it ends.
    pub exchange: BoxFuture<'static, Settled>,
}

impl fmt::Debug for Refresh<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresh")
            .field("grace", &self.grace)
            .field("patience", &self.patience)
            .field("can_wait", &self.can_wait)
            .finish_non_exhaustive()
    }
}

/// The SHA-256 of `text`, with `ring`, which TLS and token verification already bring.
fn sha256(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    // SHA-256 is 32 bytes by definition; the fallback only stands in for the impossible.
    <[u8; 32]>::try_from(digest.as_ref()).unwrap_or_default()
}

/// A refresh in flight that ended without an outcome: its task was cancelled, as happens when
/// the runtime shuts down.
#[derive(Debug, thiserror::Error)]
#[error("the refresh in flight was cancelled")]
struct Cancelled;

/// Every slot of an [`InProcessStore`] holds a refresh in flight or an outcome still in its
/// grace window: the refresh is not made, rather than forget another user's outcome.
#[derive(Debug, thiserror::Error)]
#[error(
    "the refresh store is full: every slot holds a refresh in flight or an outcome in its grace \
     window (raise its capacity)"
)]
pub struct StoreFull;

/// Coordinates refreshes among every request that shares the store: for each refresh token,
/// exactly one of them calls the service, and all of them, and any request presenting the same
/// token within the grace window afterwards, get that one [`Settled`] outcome.
///
/// [`InProcessStore`], the default, coordinates the requests of one process. A store shared by
/// several replicas of an app (Redis, say) implements the same trait, so that a browser whose
/// parallel requests land on different replicas still causes one refresh.
///
/// The store only shares and remembers; what a request makes of the outcome is the layer's:
/// a new pair goes only to requests bound like the one that reached it (the same access token,
/// see [`Binding`]), a request without an access token shares it only while it is in flight,
/// and any other request is taken for a stolen refresh token.
///
/// Implementations must never hold a lock across an `.await`; must bound every wait by
/// [`Refresh::patience`] (the exchange itself is bounded by the client's timeout); must never
/// exchange a token that another participant may have exchanged already (once they have seen
/// another's refresh in flight, or an outcome they cannot read, they answer unavailable); must
/// not remember an outcome past its [`Settled::remember_until`]; and must not keep a refresh
/// token, or anything it could be recovered from, in the clear: key by a hash of it.
pub trait RefreshStore: Send + Sync + 'static {
    /// The outcome of `refresh`: its exchange if no outcome is in flight or remembered for its
    /// token, else that outcome. [`RefreshOutcome::Unavailable`] is never remembered.
    fn coordinate<'a>(&'a self, refresh: Refresh<'a>) -> BoxFuture<'a, Settled>;
}

/// How many refresh tokens an [`InProcessStore`] follows at once by default: with the default
/// grace window of 10 s, room for 1,000 refreshes a second, sustained (with STLock's 600 s
/// access tokens, some 600,000 users active at once).
pub const DEFAULT_STORE_CAPACITY: usize = 10_000;

/// The default [`RefreshStore`]: coordinates the requests of this process.
///
/// Keys are the SHA-256 of the refresh token, never the token. Memory is bounded: at most
/// [`DEFAULT_STORE_CAPACITY`] tokens (or the capacity given) are followed, each until its
/// outcome's grace window closes. An outcome is never forgotten early to make room, since a
/// late request of that user would then present a spent token and end their session: when
/// every slot holds a refresh in flight or an outcome in its grace, a further refresh is not
/// made ([`StoreFull`]: the request goes on with its old token while the leeway accepts it,
/// else gets 503 with `Retry-After`), and a warning is logged. Size the capacity for the
/// sustained refresh rate: capacity = refreshes per second × grace in seconds. Forgetting is
/// amortised O(log n), never a scan.
///
/// A refresh runs as a task of its own, so that a request giving up on it (a client that hangs
/// up) does not cancel a call the service may already have answered.
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
    /// When each remembered outcome is forgotten, soonest first; an entry whose slot has since
    /// changed is skipped when it comes up.
    expiries: BinaryHeap<Reverse<(Instant, Key)>>,
    capacity: usize,
    /// Whether the store has been full since it last had room: one warning per episode.
    full: bool,
}

struct Slot {
    outcome: watch::Receiver<Option<Settled>>,
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
                expiries: BinaryHeap::new(),
                capacity: capacity.max(1),
                full: false,
            })),
        }
    }

    /// How many refresh tokens are followed now (in flight or remembered).
    pub fn len(&self) -> usize {
        let mut slots = self.lock();
        slots.forget_expired(Instant::now());
        slots.by_key.len()
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
        slots.forget_expired(now);
        if let Some(slot) = slots.by_key.get(&key) {
            if slot.forget_at.is_none_or(|forget_at| now < forget_at) {
                return Joined::Follower(slot.outcome.clone());
            }
            slots.by_key.remove(&key);
        }
        if slots.by_key.len() >= slots.capacity {
            if !std::mem::replace(&mut slots.full, true) {
                tracing::warn!(
                    capacity = slots.capacity,
                    "stlock's refresh store is full of refreshes in their grace window: further \
                     refreshes wait until one closes (raise the store's capacity)"
                );
            }
            return Joined::Full;
        }
        slots.full = false;
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

    /// Records the outcome the leader reached: remembered until its grace window closes, unless
    /// there is nothing worth remembering.
    fn settle(&self, key: Key, settled: &Settled) {
        let mut slots = self.lock();
        if !settled.is_remembered() || settled.remember_until <= Instant::now() {
            slots.by_key.remove(&key);
            return;
        }
        if let Some(slot) = slots.by_key.get_mut(&key) {
            slot.forget_at = Some(settled.remember_until);
            slots.expiries.push(Reverse((settled.remember_until, key)));
        }
    }
}

enum Joined {
    Leader(
        watch::Sender<Option<Settled>>,
        watch::Receiver<Option<Settled>>,
    ),
    Follower(watch::Receiver<Option<Settled>>),
    Full,
}

impl Slots {
    /// Forgets every outcome whose grace window has closed: each costs one pop from the heap,
    /// paid once.
    fn forget_expired(&mut self, now: Instant) {
        while let Some(Reverse((forget_at, key))) = self.expiries.peek().copied() {
            if forget_at > now {
                break;
            }
            self.expiries.pop();
            // The slot may have been forgotten and taken again since; only this outcome goes.
            if self
                .by_key
                .get(&key)
                .is_some_and(|slot| slot.forget_at == Some(forget_at))
            {
                self.by_key.remove(&key);
            }
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
    fn coordinate<'a>(&'a self, refresh: Refresh<'a>) -> BoxFuture<'a, Settled> {
        let key: Key = sha256(refresh.refresh_token);
        let exchange = refresh.exchange;
        match self.join(key) {
            Joined::Full => Box::pin(std::future::ready(Settled::unavailable(Arc::new(
                StoreFull,
            )))),
            Joined::Follower(receiver) => Box::pin(wait(receiver)),
            Joined::Leader(sender, receiver) => {
                let store = self.clone();
                let run = async move {
                    let settled = exchange.await;
                    store.settle(key, &settled);
                    // Followers may all have gone; the outcome stays remembered regardless.
                    let _ = sender.send(Some(settled));
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
async fn wait(mut receiver: watch::Receiver<Option<Settled>>) -> Settled {
    match receiver.wait_for(Option::is_some).await {
        // `wait_for` returns once the value is `Some`; `Cancelled` only stands in for the
        // impossible.
        Ok(settled) => settled
            .clone()
            .unwrap_or_else(|| Settled::unavailable(Arc::new(Cancelled))),
        Err(_) => Settled::unavailable(Arc::new(Cancelled)),
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

    fn refresh<'a>(
        token: &'a str,
        grace: Duration,
        calls: &Arc<AtomicUsize>,
        outcome: RefreshOutcome,
    ) -> Refresh<'a> {
        let calls = Arc::clone(calls);
        Refresh {
            refresh_token: token,
            grace,
            patience: Duration::from_secs(10),
            can_wait: false,
            exchange: Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Settled::now(outcome, Binding::of(Some("access")), grace)
            }),
        }
    }

    fn refreshed(settled: &Settled, n: usize) -> bool {
        matches!(&settled.outcome, RefreshOutcome::Refreshed(p) if *p == pair(n))
    }

    #[tokio::test]
    async fn racing_requests_share_one_exchange_and_the_grace_window_remembers_it() {
        let store = InProcessStore::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let grace = Duration::from_secs(60);
        let waits = (0..50).map(|_| {
            let (store, calls) = (store.clone(), calls.clone());
            tokio::spawn(async move {
                let outcome = RefreshOutcome::Refreshed(pair(1));
                store
                    .coordinate(refresh("token", grace, &calls, outcome))
                    .await
            })
        });
        for wait in waits.collect::<Vec<_>>() {
            let settled = wait.await.unwrap();
            assert!(refreshed(&settled, 1));
            assert_eq!(settled.bound_to, Binding::of(Some("access")));
        }
        let later = refresh("token", grace, &calls, RefreshOutcome::Refreshed(pair(2)));
        assert!(refreshed(&store.coordinate(later).await, 1));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn past_the_grace_window_and_after_a_failure_the_service_is_asked_again() {
        let store = InProcessStore::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let refused = refresh("t", Duration::ZERO, &calls, RefreshOutcome::Refused);
        store.coordinate(refused).await;
        let again = refresh(
            "t",
            Duration::ZERO,
            &calls,
            RefreshOutcome::Refreshed(pair(1)),
        );
        assert!(refreshed(&store.coordinate(again).await, 1));
        let down = RefreshOutcome::Unavailable(Arc::new(Cancelled));
        let grace = Duration::from_secs(60);
        store.coordinate(refresh("u", grace, &calls, down)).await;
        assert!(
            store.is_empty(),
            "nothing remembered of an unavailable service"
        );
        let retried = refresh("u", grace, &calls, RefreshOutcome::Refused);
        assert!(matches!(
            store.coordinate(retried).await.outcome,
            RefreshOutcome::Refused
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_full_store_refuses_newcomers_and_never_forgets_an_outcome_in_its_grace() {
        let store = InProcessStore::with_capacity(8);
        let calls = Arc::new(AtomicUsize::new(0));
        let grace = Duration::from_secs(60);
        let first = refresh("victim", grace, &calls, RefreshOutcome::Refreshed(pair(0)));
        store.coordinate(first).await;
        for n in 1..100 {
            let token = format!("token{n}");
            let outcome = RefreshOutcome::Refreshed(pair(n));
            let settled = store
                .coordinate(refresh(&token, grace, &calls, outcome))
                .await;
            assert!(store.len() <= 8);
            if n >= 8 {
                assert!(
                    matches!(&settled.outcome, RefreshOutcome::Unavailable(cause) if cause.is::<StoreFull>()),
                    "{n}"
                );
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 8, "no exchange once full");
        // The first user's late request still gets its pair.
        let late = refresh("victim", grace, &calls, RefreshOutcome::Refreshed(pair(99)));
        assert!(refreshed(&store.coordinate(late).await, 0));
        assert_eq!(calls.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn outcomes_whose_grace_closed_make_room() {
        let store = InProcessStore::with_capacity(4);
        let calls = Arc::new(AtomicUsize::new(0));
        for n in 0..100 {
            let token = format!("token{n}");
            let outcome = RefreshOutcome::Refreshed(pair(n));
            let settled = store
                .coordinate(refresh(&token, Duration::ZERO, &calls, outcome))
                .await;
            assert!(refreshed(&settled, n));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 100);
        assert!(store.is_empty());
    }

    #[test]
    fn without_a_runtime_the_leader_runs_the_exchange_itself() {
        let store = InProcessStore::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let exchange = refresh(
            "t",
            Duration::from_secs(1),
            &calls,
            RefreshOutcome::Refreshed(pair(1)),
        );
        let settled = block_on(store.coordinate(exchange));
        assert!(refreshed(&settled, 1));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_binding_shows_no_digest() {
        let binding = Binding::of(Some("secret.token.value"));
        assert_eq!(format!("{binding:?}"), "Binding(access token)");
        assert_ne!(binding, Binding::none());
        assert_eq!(Binding::from_digest(binding.digest()), binding);
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
