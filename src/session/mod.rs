//! [`Session`]: a signed-in program's tokens, kept fresh. For a CLI, a desktop or device
//! agent, a worker, or a backend calling another backend as a user: `access_token().await`
//! hands out a valid access token, refreshing ahead of its expiry, once however many tasks and
//! clones ask.
//!
//! Two kinds of programs, two [`Issuer`]s:
//! - **trusted backends and daemons**, which hold the owner's API key, refresh through the
//!   STLock service with a [`Client`](crate::Client);
//! - **programs in users' hands** (a CLI, a desktop app) must never hold the API key or the
//!   pool's secret: they sign in and refresh through the app's own endpoints,
//!   [`AppEndpoints`].
//!
//! ```no_run
//! use stlock::session::{AppEndpoints, Session};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let app = AppEndpoints::new("https://app.example.com/")?;
//! let session = Session::builder(app).sign_in("alice", "change-me").await?;
//! let token = session.access_token().await?; // fresh, or refreshed first
//! # drop(token); Ok(()) }
//! ```
//!
//! - **When it refreshes**: a token's lifetime (`exp − iat`, read from the token unverified,
//!   for scheduling only: the app verifies) is counted from when the pair was received, on this
//!   machine's monotonic clock, so a clock that is off does not matter; the refresh is due a
//!   margin before the end of it (a minute by default, at most half the lifetime), brought
//!   forward by a random jitter (up to a tenth of the lifetime by default) so that many
//!   programs started together do not refresh together.
//! - **One refresh**: a due token is refreshed by one call, which the callers that ask
//!   meanwhile wait for; it runs to its end on its own task, so a caller that gives up never
//!   loses the pair it brings (the old refresh token is spent).
//! - **A refused refresh token ends the session**: [`SessionError::Ended`], then and on every
//!   later call, with no further call to the issuer (no retry loop). **An issuer that cannot be
//!   asked** does not: the current token is handed out while its lifetime lasts, and asked again
//!   at most once a second; past it, [`SessionError::Unavailable`] with the cause.
//! - **Nothing leaks**: the refresh token is only ever sent to the issuer; `Debug` shows no
//!   token.
//!
//! A session refreshes on a Tokio task: it needs a Tokio runtime, as the client does.

#[cfg(feature = "file-store")]
mod file;
mod issuer;
mod layer;
#[cfg(feature = "reqwest-middleware")]
mod middleware;
mod store;

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::Mutex;

use crate::token::{TokenDecoder, TokenPair};

#[cfg(feature = "file-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "file-store")))]
pub use file::FileStore;
pub use issuer::{AppEndpoints, InvalidEndpoint, Issuer, IssuerError};
pub use layer::{CallError, ResponseFuture, SessionLayer, SessionService};
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub use middleware::SessionMiddleware;
pub use store::{SessionStore, StoreError, Stored};

/// How long before the end of its lifetime a token is refreshed by default (at most half the
/// lifetime).
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(60);
/// The largest share of a token's lifetime by which a refresh is brought forward at random, by
/// default.
pub const DEFAULT_JITTER: f64 = 0.1;
/// How long an issuer that could not be asked is left alone before it is asked again.
pub const RETRY_AFTER_FAULT: Duration = Duration::from_secs(1);
/// How long after a refresh that a server's refusal brought about another refusal brings about
/// none: a server that refuses every token (not of this pool, or hostile) must not make every
/// request spend a refresh.
pub const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// A signed-in program's tokens, kept fresh: see the [module](self).
///
/// Cheap to clone: clones share the tokens and the one refresh in flight.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: Box<dyn Issuer>,
    store: Option<Box<dyn SessionStore>>,
    schedule: Schedule,
    state: ArcSwap<State>,
    /// Held by the one refresh (or sign-out) in flight, until it has stored what it brought;
    /// it keeps when a server's refusal last brought one about.
    renewing: Arc<Mutex<Option<Instant>>>,
}

enum State {
    Live(Live),
    Ended(Ended),
}

/// Why a session is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The issuer refused the refresh token (revoked, expired, already used, the user blocked).
    Refused,
    /// [`Session::logout`] was called.
    LoggedOut,
    /// The session's store holds no session any more: another process sharing it logged out,
    /// or saw its refresh token refused.
    Removed,
}

/// The tokens of a live session and when to refresh them.
#[derive(Clone)]
struct Live {
    access: AccessToken,
    refresh_token: Box<str>,
    /// When the access token is due for a refresh.
    due: Instant,
    /// When its lifetime, counted from when it was received, is over.
    expires: Instant,
    /// Its lifetime: the next pair's, should that one's be unreadable.
    lifetime: Duration,
    /// Before this, an issuer that failed is not asked again.
    quiet_until: Option<Instant>,
}

/// When tokens are refreshed.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    margin: Duration,
    jitter: f64,
}

impl Schedule {
    /// The tokens of `pair`, received at `received` (by this machine's clock: a time ahead of
    /// it counts as now), and when they are due; their lifetime is `known` when the token's own
    /// cannot be read.
    fn live(
        &self,
        pair: TokenPair,
        received: SystemTime,
        known: Option<Duration>,
    ) -> Result<Live, SessionError> {
        let age = SystemTime::now()
            .duration_since(received)
            .unwrap_or(Duration::ZERO);
        let lifetime = TokenDecoder::unverified_times(&pair.access_token)
            .and_then(|times| Some(Duration::from_secs(times.exp.saturating_sub(times.iat?))))
            .or(known)
            .ok_or(SessionError::UnreadableToken)?;
        let margin = self.margin.min(lifetime / 2);
        let jitter = lifetime.mul_f64(self.jitter * random_fraction());
        let received = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        Ok(Live {
            access: AccessToken::new(pair.access_token),
            refresh_token: pair.refresh_token.into(),
            due: received + lifetime.saturating_sub(margin + jitter),
            expires: received + lifetime,
            lifetime,
            quiet_until: None,
        })
    }
}

/// A number in `[0, 1)`, for the jitter.
fn random_fraction() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random number from the standard library's random hash keys (seeded by the operating
/// system): the jitter and a temporary file's name need no more, and the default build no
/// random-number crate.
fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Builds a [`Session`]: see [`Session::builder`].
#[must_use]
pub struct SessionBuilder {
    issuer: Box<dyn Issuer>,
    store: Option<Box<dyn SessionStore>>,
    schedule: Schedule,
}

impl SessionBuilder {
    /// How long before the end of a token's lifetime it is refreshed (default
    /// [`DEFAULT_MARGIN`]; never more than half the lifetime).
    pub fn margin(mut self, margin: Duration) -> Self {
        self.schedule.margin = margin;
        self
    }

    /// The largest share of a token's lifetime by which its refresh is brought forward at
    /// random (default [`DEFAULT_JITTER`]); clamped to `0.0..=0.5`.
    pub fn jitter(mut self, share: f64) -> Self {
        self.schedule.jitter = if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 0.5)
        };
        self
    }

    /// Keeps the session in `store` between runs, shared with the other processes using it:
    /// see [`SessionStore`]. Sessions signed in are saved there, and [`load`](Self::load)
    /// resumes the one saved.
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// The session saved in the store, if there is one (`None` without a store).
    pub async fn load(self) -> Result<Option<Session>, SessionError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        match store
            .load()
            .await
            .map_err(|error| SessionError::Store(Arc::new(error)))?
        {
            Some(stored) => self.resume(stored.pair, stored.received).map(Some),
            None => Ok(None),
        }
    }

    /// Signs in through the issuer, and saves the session in the store, if there is one.
    pub async fn sign_in(self, username: &str, password: &str) -> Result<Session, SessionError> {
        let pair = self
            .issuer
            .sign_in(username, password)
            .await
            .map_err(SessionError::SignIn)?;
        let stored = Stored {
            pair,
            received: SystemTime::now(),
        };
        if let Some(store) = &self.store {
            store
                .save(Some(&stored))
                .await
                .map_err(|error| SessionError::Store(Arc::new(error)))?;
        }
        self.resume(stored.pair, stored.received)
    }

    /// A session of a pair received just now.
    pub fn start(self, pair: TokenPair) -> Result<Session, SessionError> {
        self.resume(pair, SystemTime::now())
    }

    /// A session of a pair received at `received` (as a program that keeps its session across
    /// runs stored it): its schedule is counted from then.
    pub fn resume(self, pair: TokenPair, received: SystemTime) -> Result<Session, SessionError> {
        let live = self.schedule.live(pair, received, None)?;
        Ok(Session {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                store: self.store,
                schedule: self.schedule,
                state: ArcSwap::from_pointee(State::Live(live)),
                renewing: Arc::new(Mutex::new(None)),
            }),
        })
    }
}

impl Session {
    /// A session that signs in and refreshes through `issuer`: a [`Client`](crate::Client) or
    /// [`AppEndpoints`].
    pub fn builder(issuer: impl Issuer) -> SessionBuilder {
        SessionBuilder {
            issuer: Box::new(issuer),
            store: None,
            schedule: Schedule {
                margin: DEFAULT_MARGIN,
                jitter: DEFAULT_JITTER,
            },
        }
    }

    /// A valid access token: the current one, or, once it is due, a refreshed one. The fast
    /// path (a token not due) is an atomic load, a clock read and a reference count.
    pub async fn access_token(&self) -> Result<AccessToken, SessionError> {
        match self.current() {
            Some(token) => Ok(token),
            None => self.renew(None).await,
        }
    }

    /// The access token if it is not due, without waiting: what
    /// [`access_token`](Self::access_token) answers at once. `None` when it is due (or the
    /// session is over).
    pub fn current(&self) -> Option<AccessToken> {
        match &**self.inner.state.load() {
            State::Live(live) if Instant::now() < live.due => Some(live.access.clone()),
            _ => None,
        }
    }

    /// A server refused `rejected` as invalid (a `401` with `error="invalid_token"`): refreshes
    /// now, unless the session's token is already another one (refreshed meanwhile), which is
    /// then handed out. Once however many requests report the same token, and at most once in
    /// [`FORCED_REFRESH_INTERVAL`]: within it, the current token is handed out as it is (a
    /// server refusing every token must not make each request spend a refresh).
    pub async fn refresh_rejected(
        &self,
        rejected: &AccessToken,
    ) -> Result<AccessToken, SessionError> {
        self.renew(Some(rejected)).await
    }

    /// Why the session is over, if it is.
    pub fn ended(&self) -> Option<Ended> {
        match &**self.inner.state.load() {
            State::Live(_) => None,
            State::Ended(ended) => Some(*ended),
        }
    }

    /// Refreshes a due token, once: the first caller's refresh runs on a task of its own, which
    /// holds the lock until it has stored the new pair; the others wait for the lock, then
    /// find the new pair.
    async fn renew(&self, rejected: Option<&AccessToken>) -> Result<AccessToken, SessionError> {
        let mut guard = Arc::clone(&self.inner.renewing).lock_owned().await;
        let now = Instant::now();
        let state = self.inner.state.load_full();
        // A refusal forces a refresh of the token refused, not of a newer one, and not within
        // `FORCED_REFRESH_INTERVAL` of the last one it forced.
        let forced = rejected.is_some_and(|rejected| {
            matches!(&*state, State::Live(live) if *rejected == live.access)
                && guard.is_none_or(|last| now >= last + FORCED_REFRESH_INTERVAL)
        });
        let live = match &*state {
            State::Ended(ended) => return Err(SessionError::Ended(*ended)),
            State::Live(live) if now < live.due && !forced => return Ok(live.access.clone()),
            State::Live(live) if live.quiet_until.is_some_and(|quiet| now < quiet) => {
                return current(live, now, None);
            }
            State::Live(live) => live,
        };
        if forced {
            *guard = Some(now);
        }
        let inner = Arc::clone(&self.inner);
        let (refresh_token, lifetime) = (live.refresh_token.clone(), live.lifetime);
        let refreshing = tokio::spawn(async move {
            let outcome = inner.refresh(&refresh_token, lifetime).await;
            drop(guard);
            outcome
        });
        match refreshing.await {
            Ok(Ok(access)) => Ok(access),
            Ok(Err(SessionError::Unavailable(cause))) => self.fault(Instant::now(), Some(cause)),
            Ok(Err(error)) => Err(error),
            Err(_) => self.fault(Instant::now(), None),
        }
    }

    /// The issuer could not be asked (or its pair not read): the current token while its
    /// lifetime lasts, the issuer left alone for a while.
    fn fault(
        &self,
        now: Instant,
        cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
    ) -> Result<AccessToken, SessionError> {
        let mut answer = Err(SessionError::Ended(Ended::LoggedOut));
        self.inner.state.rcu(|state| match &**state {
            State::Live(live) => {
                answer = current(live, now, cause.clone());
                Arc::new(State::Live(Live {
                    quiet_until: Some(now + RETRY_AFTER_FAULT),
                    ..live.clone()
                }))
            }
            State::Ended(ended) => {
                answer = Err(SessionError::Ended(*ended));
                Arc::clone(state)
            }
        });
        answer
    }

    /// Revokes the session at the issuer; from then on [`access_token`](Self::access_token)
    /// answers [`SessionError::Ended`]. A session already over is left so. Should the issuer
    /// not be reachable, the session stays live and the error says why.
    pub async fn logout(&self) -> Result<(), SessionError> {
        let _guard = self.inner.renewing.lock().await;
        let _lock = match &self.inner.store {
            Some(store) => Some(store.lock().await.map_err(unavailable)?),
            None => None,
        };
        let state = self.inner.state.load_full();
        let State::Live(live) = &*state else {
            return Ok(());
        };
        // Another process sharing the store may have refreshed since: its pair is the live one.
        let stored = match &self.inner.store {
            Some(store) => store.load().await.map_err(unavailable)?,
            None => None,
        };
        let refresh_token = stored
            .as_ref()
            .map_or(&*live.refresh_token, |stored| &*stored.pair.refresh_token);
        match self.inner.issuer.sign_out(refresh_token).await {
            Ok(()) | Err(IssuerError::Refused(_)) => {
                self.inner.save(None).await;
                self.inner.end(Ended::LoggedOut);
                Ok(())
            }
            Err(IssuerError::Unavailable(cause)) => Err(SessionError::Unavailable(cause)),
        }
    }
}

impl Inner {
    /// Refreshes `refresh_token` (whose access token lived `lifetime`) and stores what comes of
    /// it; with a store, under its lock, after reading it again.
    async fn refresh(
        &self,
        refresh_token: &str,
        lifetime: Duration,
    ) -> Result<AccessToken, SessionError> {
        let _lock = match &self.store {
            Some(store) => Some(store.lock().await.map_err(unavailable)?),
            None => None,
        };
        if let Some(store) = &self.store {
            match store.load().await.map_err(unavailable)? {
                // Another process refreshed first: its pair, not a second exchange of a spent
                // refresh token.
                Some(stored) if *stored.pair.refresh_token != *refresh_token => {
                    let live = self
                        .schedule
                        .live(stored.pair, stored.received, Some(lifetime))?;
                    return self.adopt(live);
                }
                Some(_) => {}
                None => return Err(self.end(Ended::Removed)),
            }
        }
        match self.issuer.refresh(refresh_token).await {
            // The old refresh token is spent: the pair is kept, its lifetime taken to be the
            // last one's should its own be unreadable.
            Ok(pair) => {
                let stored = Stored {
                    pair,
                    received: SystemTime::now(),
                };
                self.save(Some(&stored)).await;
                self.adopt(
                    self.schedule
                        .live(stored.pair, stored.received, Some(lifetime))?,
                )
            }
            Err(IssuerError::Refused(cause)) => {
                tracing::info!(%cause, "the session's refresh token was refused: it has ended");
                self.save(None).await;
                Err(self.end(Ended::Refused))
            }
            Err(IssuerError::Unavailable(cause)) => Err(SessionError::Unavailable(cause)),
        }
    }

    fn adopt(&self, live: Live) -> Result<AccessToken, SessionError> {
        let access = live.access.clone();
        self.state.store(Arc::new(State::Live(live)));
        Ok(access)
    }

    fn end(&self, ended: Ended) -> SessionError {
        self.state.store(Arc::new(State::Ended(ended)));
        SessionError::Ended(ended)
    }

    /// Saves the session, if there is a store; a failure is logged, not fatal: the pair in
    /// memory is good, and only the next run of the program would have to sign in again.
    async fn save(&self, stored: Option<&Stored>) {
        if let Some(store) = &self.store {
            if let Err(error) = store.save(stored).await {
                tracing::warn!(%error, "the session could not be saved; the next run of the program will have to sign in again");
            }
        }
    }
}

fn unavailable(error: StoreError) -> SessionError {
    SessionError::Unavailable(Arc::new(error))
}

/// The current token of `live` while its lifetime lasts, else why there is none.
fn current(
    live: &Live,
    now: Instant,
    cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
) -> Result<AccessToken, SessionError> {
    if now < live.expires {
        Ok(live.access.clone())
    } else {
        Err(SessionError::Unavailable(
            cause.unwrap_or_else(|| Arc::new(IssuerQuiet)),
        ))
    }
}

/// The issuer failed a moment ago and is left alone for [`RETRY_AFTER_FAULT`].
#[derive(Debug, thiserror::Error)]
#[error("the issuer failed a moment ago; it is asked again shortly")]
struct IssuerQuiet;

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("issuer", &"..")
            .field("ended", &self.ended())
            .finish_non_exhaustive()
    }
}

/// An access token, to send as `Authorization: Bearer`. `Debug` shows no token.
///
/// Cheap to clone: the token and its header value are shared, made once per pair.
#[derive(Clone)]
pub struct AccessToken(Arc<Token>);

struct Token {
    token: Box<str>,
    /// `Bearer <token>`, marked sensitive; `None` for a token that is no header value.
    bearer: Option<http::HeaderValue>,
}

impl AccessToken {
    fn new(token: String) -> Self {
        let bearer = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .ok()
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        Self(Arc::new(Token {
            token: token.into(),
            bearer,
        }))
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0.token
    }

    /// `Bearer <token>`, as an `Authorization` header value marked sensitive (so that HTTP
    /// libraries keep it out of their logs and HTTP/2 out of its header compression); `None`
    /// for a token that cannot be a header value (the issuer's mistake).
    pub fn bearer(&self) -> Option<http::HeaderValue> {
        self.0.bearer.clone()
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.token == other.0.token
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// Why a [`Session`] has no access token to give.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Signing in failed.
    #[error("signing in failed: {0}")]
    SignIn(IssuerError),
    /// The session is over: sign in again.
    #[error("the session has ended ({0:?}): sign in again")]
    Ended(Ended),
    /// The token is due and the issuer could not renew it; past its lifetime there is no valid
    /// token to give. The cause says why.
    #[error("the session could not be renewed: {0}")]
    Unavailable(Arc<dyn std::error::Error + Send + Sync>),
    /// The issuer's access token has no readable `exp` and `iat`, so there is no knowing when
    /// to refresh it.
    #[error("the access token's lifetime cannot be read")]
    UnreadableToken,
    /// The session's store could not be read or written.
    #[error("the session's store failed: {0}")]
    Store(Arc<StoreError>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token whose claims say it was issued at `iat` and expires at `exp` (unsigned: the
    /// schedule reads it unverified).
    fn token(iat: u64, exp: u64) -> String {
        let claims = format!(r#"{{"iat":{iat},"exp":{exp}}}"#);
        let payload = base64_simd::URL_SAFE_NO_PAD.encode_to_string(claims);
        format!("e30.{payload}.c2ln")
    }

    fn pair(access_token: String) -> TokenPair {
        TokenPair {
            access_token,
            refresh_token: "r".into(),
        }
    }

    fn schedule(margin: Duration, jitter: f64) -> Schedule {
        Schedule { margin, jitter }
    }

    #[test]
    fn due_a_margin_before_the_end_of_the_lifetime_counted_from_receipt() {
        // Issued long ago by its own clock: only `exp - iat` counts.
        let live = schedule(Duration::from_secs(60), 0.0)
            .live(
                pair(token(1_000, 1_600)),
                SystemTime::now() - Duration::from_secs(100),
                None,
            )
            .unwrap();
        let now = Instant::now();
        let to_due = live.due.saturating_duration_since(now).as_secs_f64();
        let to_end = live.expires.saturating_duration_since(now).as_secs_f64();
        assert!((439.0..=440.0).contains(&to_due), "{to_due}");
        assert!((499.0..=500.0).contains(&to_end), "{to_end}");
    }

    #[test]
    fn the_margin_is_at_most_half_the_lifetime_and_jitter_at_most_its_share() {
        let live = schedule(Duration::from_secs(600), 0.0)
            .live(pair(token(0, 10)), SystemTime::now(), None)
            .unwrap();
        let to_due = live.due.saturating_duration_since(Instant::now());
        assert!(to_due <= Duration::from_secs(5) && to_due > Duration::from_secs(4));
        for _ in 0..100 {
            let live = schedule(Duration::ZERO, 0.1)
                .live(pair(token(0, 100)), SystemTime::now(), None)
                .unwrap();
            let to_due = live.due.saturating_duration_since(Instant::now());
            assert!(to_due > Duration::from_secs(89) && to_due <= Duration::from_secs(100));
        }
        assert!((0..1000)
            .map(|_| random_fraction())
            .all(|f| (0.0..1.0).contains(&f)));
    }

    #[test]
    fn an_unreadable_lifetime_is_refused_at_start_and_the_last_one_after() {
        let schedule = schedule(Duration::from_secs(60), 0.0);
        let unreadable = || pair("not.a-token".into());
        assert!(matches!(
            schedule.live(unreadable(), SystemTime::now(), None),
            Err(SessionError::UnreadableToken)
        ));
        let known = Duration::from_secs(600);
        let live = schedule
            .live(unreadable(), SystemTime::now(), Some(known))
            .unwrap();
        assert_eq!(live.lifetime, known);
    }

    #[test]
    fn no_token_in_debug_and_the_header_value_is_sensitive() {
        let token = AccessToken::new("secret-token".into());
        assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
        let bearer = token.bearer().unwrap();
        assert!(bearer.is_sensitive());
        assert_eq!(bearer, "Bearer secret-token");
        let stored = Stored {
            pair: pair("secret-token".into()),
            received: SystemTime::UNIX_EPOCH,
        };
        assert!(!format!("{stored:?}").contains("secret-token"));
    }
}
