#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod admin;
mod clock;
mod counts;
mod credentials;
mod error;
mod extract;
mod fields;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod password;
mod policy;
mod routes;
mod serve;
mod server;
mod sessions;
mod state;
mod strict_json;
mod throttle;
mod tokens;
mod validate;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::RngCore as _;
use stlock::Secret;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use counts::Counts;
pub use credentials::Credentials;
pub use error::{AdminError, EmulatorError};
pub use password::HashCost;
pub use policy::{Effect, NewPolicy, Policy, Rule};
pub use serve::Limits;

use clock::Clock;
use error::ApiError;
use password::Hasher;
use state::{State, Ttl};
use throttle::LoginThrottle;

/// Default lifetime of access tokens: 600 s, as the real service issues them.
pub const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(600);
/// Default lifetime of refresh tokens: 3600 s, as the real service issues them.
pub const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(3600);
/// How many (pool, username) failure counters the [login throttle](EmulatorBuilder::login_throttle)
/// keeps at most, unless [`EmulatorBuilder::login_throttle_capacity`] says otherwise: 10,000,
/// about two megabytes.
pub const LOGIN_THROTTLE_CAPACITY: usize = throttle::DEFAULT_CAPACITY;

/// Starts an emulator on `127.0.0.1` at a free port, with default settings; the same as
/// `Emulator::builder().start()`.
///
/// Must be called inside a Tokio runtime; the server runs on it until the returned
/// [`Emulator`] is dropped or [shut down](Emulator::shutdown).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), stlock_emulator::EmulatorError> {
/// let emulator = stlock_emulator::start().await?;
/// assert!(emulator.endpoint().starts_with("http://127.0.0.1:"));
/// let config = emulator.config(); // ready for stlock::Client::new
/// assert_eq!(config.user_pool_id(), emulator.credentials().user_pool_id);
/// # Ok(()) }
/// ```
pub async fn start() -> Result<Emulator, EmulatorError> {
    Emulator::builder().start().await
}

/// The real service when the `STLOCK_*` variables name one, else a fresh emulator: what an
/// example, a demo or an app's own test suite wants to run against.
///
/// When `STLOCK_ENDPOINT` is set, the configuration comes from [`Config::from_env`] and no
/// emulator is started; otherwise an emulator starts with default settings and its
/// configuration is returned with it. Keep the emulator alive as long as it is used: dropping it
/// stops it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), stlock_emulator::EmulatorError> {
/// # if std::env::var_os(stlock::config::env::ENDPOINT).is_some() { return Ok(()); }
/// let (config, emulator) = stlock_emulator::env_or_start().await?;
/// assert!(emulator.is_some(), "no STLOCK_ENDPOINT here, so an emulator runs");
/// # drop(config);
/// # Ok(()) }
/// ```
///
/// [`Config::from_env`]: stlock::Config::from_env
pub async fn env_or_start() -> Result<(stlock::Config, Option<Emulator>), EmulatorError> {
    if std::env::var_os(stlock::config::env::ENDPOINT).is_some() {
        return Ok((stlock::Config::from_env()?, None));
    }
    let emulator = start().await?;
    Ok((emulator.config(), Some(emulator)))
}

/// Settings of an emulator to start; from [`Emulator::builder`].
#[derive(Clone, Debug)]
pub struct EmulatorBuilder {
    listen: SocketAddr,
    access_ttl: Duration,
    refresh_ttl: Duration,
    hash_cost: HashCost,
    limits: Limits,
    login_throttle: Option<(u32, Duration)>,
    login_throttle_capacity: usize,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            access_ttl: DEFAULT_ACCESS_TTL,
            refresh_ttl: DEFAULT_REFRESH_TTL,
            hash_cost: HashCost::Default,
            limits: Limits::default(),
            login_throttle: None,
            login_throttle_capacity: LOGIN_THROTTLE_CAPACITY,
        }
    }
}

impl EmulatorBuilder {
    /// Where to listen (default `127.0.0.1:0`: loopback, a free port chosen by the system).
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Lifetime of access tokens (default [`DEFAULT_ACCESS_TTL`]); whole seconds, at least 1.
    #[must_use]
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    /// Lifetime of refresh tokens (default [`DEFAULT_REFRESH_TTL`]); whole seconds, at least 1.
    #[must_use]
    pub fn refresh_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Cost of password hashing (default [`HashCost::Default`]).
    #[must_use]
    pub fn hash_cost(mut self, cost: HashCost) -> Self {
        self.hash_cost = cost;
        self
    }

    /// Deadlines and the connection cap of the server (default [`Limits::default()`]); see
    /// [`Limits`] for what each bounds.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stlock_emulator::{Emulator, Limits};
    ///
    /// let builder = Emulator::builder().limits(Limits::default().idle_timeout(Duration::from_secs(1)));
    /// # drop(builder);
    /// ```
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Throttles logins (off by default): after `max_failures` failed logins for one username
    /// of a pool within `window` (whole seconds, at least 1, by the emulator's clock), further
    /// logins for it are answered 429 with `Retry-After`, the right password included, until
    /// the window closes. Unknown usernames are counted and answered the same way; a login with
    /// the right password forgets the failures. At most
    /// [`login_throttle_capacity`](Self::login_throttle_capacity) counters are kept, and one
    /// whose window is open is never forgotten: when all are open, a username without one gets
    /// 429 too, until the oldest window closes. The README's "Login throttling" section has
    /// the details.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stlock_emulator::Emulator;
    ///
    /// // At most 5 failed logins per username every 5 minutes.
    /// let builder = Emulator::builder().login_throttle(5, Duration::from_secs(300));
    /// # drop(builder);
    /// ```
    #[must_use]
    pub fn login_throttle(mut self, max_failures: u32, window: Duration) -> Self {
        self.login_throttle = Some((max_failures, window));
        self
    }

    /// How many (pool, username) counters the [login throttle](Self::login_throttle) keeps at
    /// most (default [`LOGIN_THROTTLE_CAPACITY`]; at least 1). Once that many windows are open,
    /// logins for a username without a counter are answered 429 with `Retry-After` until the
    /// oldest window closes, rather than forgetting a counter that may be holding a lockout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stlock_emulator::Emulator;
    ///
    /// let builder = Emulator::builder()
    ///     .login_throttle(5, Duration::from_secs(300))
    ///     .login_throttle_capacity(100_000);
    /// # drop(builder);
    /// ```
    #[must_use]
    pub fn login_throttle_capacity(mut self, capacity: usize) -> Self {
        self.login_throttle_capacity = capacity;
        self
    }

    /// Binds the socket, creates the first owner and pool, and starts serving; returns once
    /// connections are accepted. Must be called inside a Tokio runtime.
    pub async fn start(self) -> Result<Emulator, EmulatorError> {
        let ttl = Ttl {
            access: whole_seconds(self.access_ttl, "access")?,
            refresh: whole_seconds(self.refresh_ttl, "refresh")?,
        };
        let throttle = match self.login_throttle {
            None => None,
            Some((max_failures, window)) if max_failures > 0 && window.as_secs() > 0 => {
                Some(Mutex::new(LoginThrottle::new(
                    max_failures,
                    window.as_secs(),
                    self.login_throttle_capacity,
                )))
            }
            Some(_) => return Err(EmulatorError::InvalidLoginThrottle),
        };
        let hasher = Hasher::new(self.hash_cost).await?;
        let bind_error = |source| EmulatorError::Bind {
            addr: self.listen,
            source,
        };
        let listener = TcpListener::bind(self.listen).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let endpoint = format!("http://{}", reachable(local_addr));

        let mut state = State::new(ttl);
        let (owner_id, api_key) = state.add_owner();
        let (user_pool_id, jwt_secret) = state.add_pool(&owner_id);
        let app = Arc::new(App {
            state: Mutex::new(state),
            clock: Clock::default(),
            hasher,
            throttle,
        });

        let (stop, stopped) = oneshot::channel::<()>();
        let router = server::router(Arc::clone(&app));
        let server = tokio::spawn(serve::serve(listener, router, self.limits, async {
            // A dropped sender (the handle was dropped) stops the server too.
            let _ = stopped.await;
        }));

        let credentials = Credentials {
            endpoint,
            owner_id,
            user_pool_id,
            api_key,
            jwt_secret,
        };
        Ok(Emulator {
            app,
            local_addr,
            config: credentials.config()?,
            credentials,
            stop: Some(stop),
            server: Some(server),
        })
    }
}

/// A running emulator. Dropping it stops the server (in-flight requests finish first, within
/// the [shutdown timeout](Limits::shutdown_timeout));
/// [`shutdown`](Self::shutdown) does the same and waits for it.
///
/// Besides the HTTP API, the handle offers the admin operations (policies, blocking,
/// deleting users, [call counts](Self::counts)) and a clock that tests can move forward.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use stlock_emulator::{Emulator, HashCost};
/// use stlock::{Client, Registration};
///
/// let emulator = Emulator::builder().hash_cost(HashCost::Fast).start().await?;
/// let client = Client::new(emulator.config())?;
/// client.register(&Registration::new("bob", "bob@example.com", "79222222222", "pw")).await?;
/// let tokens = client.login("bob", "pw").await?;
///
/// // An hour later the refresh token has expired.
/// emulator.advance_clock(Duration::from_secs(3600));
/// let err = client.refresh(&tokens.refresh_token).await.unwrap_err();
/// assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
/// # Ok(()) }
/// ```
pub struct Emulator {
    app: Arc<App>,
    local_addr: SocketAddr,
    credentials: Credentials,
    config: stlock::Config,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts configuring an emulator.
    #[must_use]
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.credentials.endpoint
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The owner and pool created at start.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// A client configuration for [`credentials`](Self::credentials).
    pub fn config(&self) -> stlock::Config {
        self.config.clone()
    }

    /// Creates another pool of the same owner (same API key), with its own signing secret.
    pub fn add_pool(&self) -> Credentials {
        let (user_pool_id, jwt_secret) = self.app.lock().add_pool(&self.credentials.owner_id);
        Credentials {
            user_pool_id,
            jwt_secret,
            ..self.credentials.clone()
        }
    }

    /// Creates another owner, with its own API key and one pool.
    pub fn add_owner(&self) -> Credentials {
        let mut state = self.app.lock();
        let (owner_id, api_key) = state.add_owner();
        let (user_pool_id, jwt_secret) = state.add_pool(&owner_id);
        Credentials {
            endpoint: self.credentials.endpoint.clone(),
            owner_id,
            user_pool_id,
            api_key,
            jwt_secret,
        }
    }

    /// Moves the emulator's clock forward. Tokens issued afterwards carry the new time, and
    /// expiry checks use it; the system clock is untouched, so a client that verifies tokens
    /// locally keeps using real time.
    pub fn advance_clock(&self, by: Duration) {
        self.app.clock.advance(by);
    }

    /// Creates a policy in a pool (`POST /api/v0/admin/pools/{pool}/policies`).
    pub fn create_policy(
        &self,
        user_pool_id: &str,
        policy: NewPolicy,
    ) -> Result<Policy, AdminError> {
        self.app.lock().create_policy(user_pool_id, &policy)
    }

    /// The pool's policies, in creation order.
    pub fn policies(&self, user_pool_id: &str) -> Result<Vec<Policy>, AdminError> {
        self.app.lock().policies(user_pool_id)
    }

    /// Attaches a policy to a user (idempotent) and returns the user.
    pub fn attach_policy(
        &self,
        user_pool_id: &str,
        user_id: &str,
        policy_id: &str,
    ) -> Result<stlock::User, AdminError> {
        self.app
            .lock()
            .attach_policy(user_pool_id, user_id, policy_id)
    }

    /// Detaches a policy from a user (idempotent) and returns the user.
    pub fn detach_policy(
        &self,
        user_pool_id: &str,
        user_id: &str,
        policy_id: &str,
    ) -> Result<stlock::User, AdminError> {
        self.app
            .lock()
            .detach_policy(user_pool_id, user_id, policy_id)
    }

    /// The pool's users, in registration order.
    pub fn users(&self, user_pool_id: &str) -> Result<Vec<stlock::User>, AdminError> {
        self.app.lock().users(user_pool_id)
    }

    /// One user of the pool.
    pub fn user(&self, user_pool_id: &str, user_id: &str) -> Result<stlock::User, AdminError> {
        self.app.lock().user(user_pool_id, user_id)
    }

    /// Blocks a user: they can no longer log in, refresh or use their access tokens (403)
    /// until unblocked. Their sessions are kept.
    pub fn block_user(
        &self,
        user_pool_id: &str,
        user_id: &str,
    ) -> Result<stlock::User, AdminError> {
        self.app
            .lock()
            .set_status(user_pool_id, user_id, stlock::UserStatus::Blocked)
    }

    /// Unblocks a user; sessions that have not expired work again.
    pub fn unblock_user(
        &self,
        user_pool_id: &str,
        user_id: &str,
    ) -> Result<stlock::User, AdminError> {
        self.app
            .lock()
            .set_status(user_pool_id, user_id, stlock::UserStatus::Active)
    }

    /// Deletes a user and revokes all their sessions; their username, e-mail and phone are
    /// free again.
    pub fn delete_user(&self, user_pool_id: &str, user_id: &str) -> Result<(), AdminError> {
        self.app.lock().delete_user(user_pool_id, user_id)
    }

    /// Replaces the pool's signing secret (`PUT /api/v0/admin/pools/{pool}/jwt-secret`). New
    /// tokens (login, refresh) are signed with `secret`; tokens signed with an earlier secret
    /// of the pool stay valid at the emulator until they expire: such a refresh token still
    /// refreshes (into a pair signed with `secret`) and logs out, such an access token still
    /// checks grants. The emulator tries the current secret first.
    ///
    /// Errors: [`AdminError::UnknownPool`], then [`AdminError::JwtSecretTooShort`] for a secret
    /// under [`MIN_JWT_SECRET_LEN`](stlock::config::MIN_JWT_SECRET_LEN) bytes. The handle's
    /// [`credentials`](Self::credentials) and [`config`](Self::config) keep the secret the pool
    /// started with: build the configuration with the new one yourself.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use stlock::{Client, Registration, Secret, TokenDecoder};
    /// use stlock_emulator::{AdminError, Credentials, Emulator, HashCost};
    ///
    /// let emulator = Emulator::builder().hash_cost(HashCost::Fast).start().await?;
    /// let client = Client::new(emulator.config())?;
    /// client.register(&Registration::new("bob", "bob@example.com", "79222222222", "pw")).await?;
    /// let before = client.login("bob", "pw").await?;
    ///
    /// let pool = &emulator.credentials().user_pool_id;
    /// let new_secret = Secret::new("b".repeat(64));
    /// emulator.rotate_jwt_secret(pool, new_secret.clone())?;
    ///
    /// // The refresh token signed with the old secret still works; the new pair is signed
    /// // with the new secret only.
    /// let after = client.refresh(&before.refresh_token).await?;
    /// let rotated = Credentials { jwt_secret: new_secret, ..emulator.credentials().clone() };
    /// assert!(TokenDecoder::new(&rotated.config()?).decode_access(&after.access_token).is_ok());
    /// assert!(TokenDecoder::new(&emulator.config()).decode_access(&after.access_token).is_err());
    ///
    /// let short = emulator.rotate_jwt_secret(pool, Secret::new("too short"));
    /// assert_eq!(short, Err(AdminError::JwtSecretTooShort));
    /// # Ok(()) }
    /// ```
    pub fn rotate_jwt_secret(&self, user_pool_id: &str, secret: Secret) -> Result<(), AdminError> {
        self.app
            .lock()
            .rotate_jwt_secret(user_pool_id, &secret, self.app.clock.now())
    }

    /// How many calls of each kind of the user API reached the pool since it was created or
    /// its counts were last [reset](Self::reset_counts)
    /// (`GET /api/v0/admin/pools/{pool}/counts`). A call counts whatever its answer, once it
    /// has passed the API key, its token and its body's shape; the README's "Counting calls"
    /// section says exactly what counts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use stlock::{Client, Registration};
    /// use stlock_emulator::{Counts, Emulator, HashCost};
    ///
    /// let emulator = Emulator::builder().hash_cost(HashCost::Fast).start().await?;
    /// let pool = &emulator.credentials().user_pool_id;
    /// assert_eq!(emulator.counts(pool)?, Counts::default());
    ///
    /// let client = Client::new(emulator.config())?;
    /// client.register(&Registration::new("bob", "bob@example.com", "79222222222", "pw")).await?;
    /// assert!(client.login("bob", "wrong").await.is_err()); // 401, counted all the same
    /// let counts = emulator.counts(pool)?;
    /// assert_eq!((counts.registrations, counts.logins), (1, 1));
    /// # Ok(()) }
    /// ```
    pub fn counts(&self, user_pool_id: &str) -> Result<Counts, AdminError> {
        self.app.lock().counts(user_pool_id)
    }

    /// Sets every count of the pool back to zero
    /// (`DELETE /api/v0/admin/pools/{pool}/counts`). A call answered while the counts are
    /// being reset may be counted before or after the reset.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use stlock_emulator::Counts;
    ///
    /// let emulator = stlock_emulator::start().await?;
    /// let pool = &emulator.credentials().user_pool_id;
    /// emulator.reset_counts(pool)?;
    /// assert_eq!(emulator.counts(pool)?, Counts::default());
    /// # Ok(()) }
    /// ```
    pub fn reset_counts(&self, user_pool_id: &str) -> Result<(), AdminError> {
        self.app.lock().reset_counts(user_pool_id)
    }

    /// The stored Argon2 hash (PHC string) of a user's password, for tests of the hashing
    /// itself. Never served over HTTP.
    #[doc(hidden)]
    pub fn password_hash(&self, user_pool_id: &str, user_id: &str) -> Result<String, AdminError> {
        self.app.lock().stored_password_hash(user_pool_id, user_id)
    }

    /// Stops accepting connections, lets in-flight requests finish (for at most the
    /// [shutdown timeout](Limits::shutdown_timeout)), and waits until the server has stopped.
    pub async fn shutdown(mut self) {
        self.stop_serving();
        if let Some(server) = self.server.take() {
            // The task only ends by finishing; a join error would mean it was cancelled,
            // which is a stop as well.
            let _ = server.await;
        }
    }

    fn stop_serving(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already be gone, which is what we want anyway.
            let _ = stop.send(());
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop_serving();
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("local_addr", &self.local_addr)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// What the handlers share.
struct App {
    state: Mutex<State>,
    clock: Clock,
    hasher: Hasher,
    /// `None` when logins are not throttled.
    throttle: Option<Mutex<LoginThrottle>>,
}

impl App {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; should something ever, the state is still
        // the best there is, so carry on rather than fail every later request.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a login attempt for `username` (as a failure until [`Self::login_succeeded`]),
    /// or refuses it while the username is locked.
    fn login_attempt(&self, pool_id: &str, username: &str) -> Result<(), ApiError> {
        let Some(throttle) = &self.throttle else {
            return Ok(());
        };
        let now = self.clock.now();
        throttle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .attempt(pool_id, username, now)
            .map_err(|locked| ApiError::TooManyLogins {
                retry_after_secs: locked.retry_after_secs,
            })
    }

    /// The password of a login was right: its username's failures are forgotten.
    fn login_succeeded(&self, pool_id: &str, username: &str) {
        if let Some(throttle) = &self.throttle {
            throttle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .forgive(pool_id, username);
        }
    }
}

fn whole_seconds(ttl: Duration, which: &'static str) -> Result<u64, EmulatorError> {
    match ttl.as_secs() {
        0 => Err(EmulatorError::TtlTooShort { which }),
        secs => Ok(secs),
    }
}

/// An address clients can connect to: a wildcard listen address becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// `bytes` random bytes from the OS, as lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
