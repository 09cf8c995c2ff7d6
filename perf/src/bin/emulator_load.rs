//! The emulator's capacity on this machine: logins per second at its default Argon2 cost,
//! against the most the machine can hash (one verification's time, times the cores), and
//! refreshes per second. Writes the figures as JSON.
//!
//! ```sh
//! emulator_load --out target/perf/emulator_load.json [--seconds 10] \
//!     [--login-workers 4] [--refresh-workers 32]
//! ```
//!
//! The emulator runs in this process on a Tokio runtime with one worker per core, as its binary
//! does; the load generator is a plain hyper HTTP/1 client on the same runtime, one keep-alive
//! connection per worker. Every phase ends at its deadline: a worker starts no call after it.
//! Logins all use the right password (no throttle is set, and a wrong one would cost the same
//! Argon2 run); each refresh worker holds its own session and sends the refresh token the
//! previous refresh returned, since a refresh token works once.

use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::json;
use stlock::TokenPair;
use stlock_emulator::{Credentials, Emulator};
use stlock_perf::args::Args;
use stlock_perf::results::{self, EmulatorLoad, Rate};

/// Argon2 verifications timed to find the median.
const ARGON2_SAMPLES: u32 = 21;
/// Verifications each core runs for the all-cores rate.
const ARGON2_ALL_CORES_ROUNDS: u32 = 20;
const PASSWORD: &str = "correct horse battery staple";

fn main() {
    let args =
        Args::from_env(&["out", "seconds", "login-workers", "refresh-workers"]).and_then(|args| {
            Ok((
                args.required("out")?.to_owned(),
                args.parsed_or("seconds", 10u64)?,
                args.parsed_or("login-workers", 4u32)?,
                args.parsed_or("refresh-workers", 32u32)?,
            ))
        });
    let (out, seconds, login_workers, refresh_workers) = args.unwrap_or_else(|message| {
        eprintln!("emulator_load: {message}");
        std::process::exit(2);
    });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);

    let argon2_verify_ms = argon2_verify_ms();
    eprintln!(
        "emulator_load: one Argon2id verification (m=19456 KiB, t=2, p=1): {argon2_verify_ms:.1} ms; limit {:.1} logins/s on {cores} cores",
        f64::from(cores) * 1000.0 / argon2_verify_ms
    );
    let argon2_all_cores_per_sec = argon2_all_cores_per_sec(cores);
    eprintln!(
        "emulator_load: Argon2id on {cores} cores at once: {argon2_all_cores_per_sec:.1} verifications/s"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let (logins, refreshes) = runtime.block_on(async {
        let emulator = Emulator::builder()
            .start()
            .await
            .expect("the emulator starts");
        let api = Api::new(emulator.credentials().clone());
        // One user per login worker, so that no two logins wait on one user's record.
        for n in 0..login_workers.max(1) {
            api.register(n).await;
        }
        let phase = Duration::from_secs(seconds);
        let logins = logins(&api, login_workers, phase).await;
        eprintln!("emulator_load: logins: {:.1}/s", logins.per_sec());
        let refreshes = refreshes(&api, login_workers.max(1), refresh_workers, phase).await;
        eprintln!("emulator_load: refreshes: {:.0}/s", refreshes.per_sec());
        emulator.shutdown().await;
        (logins, refreshes)
    });
    let load = EmulatorLoad {
        cores,
        argon2_verify_ms,
        argon2_samples: ARGON2_SAMPLES,
        argon2_all_cores_per_sec,
        logins,
        refreshes,
    };
    results::write(out.as_ref(), &load).expect("the results file");
}

/// Argon2 at the emulator's default cost, and the PHC string of [`PASSWORD`] under it.
fn argon2_and_hash() -> (Argon2<'static>, String) {
    let params = Params::new(19_456, 2, 1, None).expect("the emulator's Argon2 parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2
        .hash_password(PASSWORD.as_bytes(), &salt)
        .expect("hashing")
        .to_string();
    (argon2, hash)
}

/// Verifications per second with `cores` threads verifying at once, each
/// `ARGON2_ALL_CORES_ROUNDS` times after one untimed run.
fn argon2_all_cores_per_sec(cores: u32) -> f64 {
    let (argon2, hash) = argon2_and_hash();
    let start = std::sync::Barrier::new(cores as usize + 1);
    let elapsed = std::thread::scope(|scope| {
        for _ in 0..cores {
            scope.spawn(|| {
                let hash = PasswordHash::new(&hash).expect("a PHC string");
                let verify = || {
                    argon2
                        .verify_password(PASSWORD.as_bytes(), &hash)
                        .expect("the right password verifies")
                };
                verify();
                start.wait();
                for _ in 0..ARGON2_ALL_CORES_ROUNDS {
                    verify();
                }
            });
        }
        start.wait();
        Instant::now()
    })
    .elapsed();
    f64::from(cores * ARGON2_ALL_CORES_ROUNDS) / elapsed.as_secs_f64()
}

/// The median time of one verification with the emulator's default parameters.
fn argon2_verify_ms() -> f64 {
    let (argon2, hash) = argon2_and_hash();
    let hash = PasswordHash::new(&hash).expect("a PHC string");
    // One untimed run first, so that the first timed one does not also pay for the allocator
    // growing to the 19 MiB an Argon2 run takes.
    argon2
        .verify_password(PASSWORD.as_bytes(), &hash)
        .expect("the right password verifies");
    let mut times: Vec<f64> = (0..ARGON2_SAMPLES)
        .map(|_| {
            let start = Instant::now();
            argon2
                .verify_password(PASSWORD.as_bytes(), &hash)
                .expect("the right password verifies");
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Workers logging in until the deadline, each as its own user.
async fn logins(api: &Api, workers: u32, phase: Duration) -> Rate {
    run_workers(workers, phase, |n, deadline| {
        let api = api.clone();
        async move {
            let (mut ok, mut failed) = (0, 0);
            while Instant::now() < deadline {
                match api.login(n).await {
                    Some(_) => ok += 1,
                    None => failed += 1,
                }
            }
            (ok, failed)
        }
    })
    .await
}

/// Workers each rotating their own session's refresh token until the deadline.
async fn refreshes(api: &Api, users: u32, workers: u32, phase: Duration) -> Rate {
    // The logins that open the sessions are not timed.
    let mut sessions = Vec::new();
    for n in 0..workers {
        let pair = api.login(n % users).await.expect("a login opens a session");
        sessions.push(pair.refresh_token);
    }
    let sessions = std::sync::Mutex::new(sessions);
    run_workers(workers, phase, |_, deadline| {
        let api = api.clone();
        let token = sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .expect("a session per worker");
        async move {
            let (mut ok, mut failed, mut token) = (0, 0, token);
            while Instant::now() < deadline {
                match api.refresh(&token).await {
                    Some(pair) => {
                        ok += 1;
                        token = pair.refresh_token;
                    }
                    // The session is gone (a refresh token works once): nothing left to do.
                    None => {
                        failed += 1;
                        break;
                    }
                }
            }
            (ok, failed)
        }
    })
    .await
}

/// Runs `workers` tasks made by `work` until `phase` has passed, and adds up what they did.
async fn run_workers<F, W>(workers: u32, phase: Duration, mut work: W) -> Rate
where
    W: FnMut(u32, Instant) -> F,
    F: std::future::Future<Output = (u64, u64)> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + phase;
    let tasks: Vec<_> = (0..workers)
        .map(|n| tokio::spawn(work(n, deadline)))
        .collect();
    let (mut succeeded, mut failed) = (0, 0);
    for task in tasks {
        let (ok, bad) = task.await.expect("a worker finished");
        succeeded += ok;
        failed += bad;
    }
    Rate {
        concurrency: workers,
        succeeded,
        failed,
        elapsed_ms: start.elapsed().as_millis() as u64,
    }
}

/// The v0 user API of the emulator, over a keep-alive HTTP/1 client.
#[derive(Clone)]
struct Api {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    credentials: std::sync::Arc<Credentials>,
}

impl Api {
    fn new(credentials: Credentials) -> Self {
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            // A connection idle through the logins run must not be picked for a refresh just
            // as the emulator closes it (its idle timeout, 5 s): the client lets go first.
            .pool_idle_timeout(stlock_emulator::Limits::DEFAULT_IDLE_TIMEOUT / 2)
            .pool_timer(TokioTimer::new())
            .build_http();
        Self {
            http,
            credentials: std::sync::Arc::new(credentials),
        }
    }

    fn username(n: u32) -> String {
        format!("perf-user-{n}")
    }

    async fn register(&self, n: u32) {
        let body = json!({
            "user_pool_id": self.credentials.user_pool_id,
            "owner_id": self.credentials.owner_id,
            "username": Self::username(n),
            "email": format!("perf-user-{n}@example.com"),
            "phone": format!("7900{n:07}"),
            "password": PASSWORD,
        });
        let (status, _) = self.call(Method::POST, "register", None, Some(body)).await;
        assert!(status.is_success(), "registering a user answered {status}");
    }

    async fn login(&self, n: u32) -> Option<TokenPair> {
        let body = json!({
            "user_pool_id": self.credentials.user_pool_id,
            "owner_id": self.credentials.owner_id,
            "username": Self::username(n),
            "password": PASSWORD,
        });
        let (status, bytes) = self.call(Method::POST, "login", None, Some(body)).await;
        pair(status, &bytes)
    }

    async fn refresh(&self, refresh_token: &str) -> Option<TokenPair> {
        let (status, bytes) = self
            .call(Method::GET, "refresh", Some(refresh_token), None)
            .await;
        pair(status, &bytes)
    }

    async fn call(
        &self,
        method: Method,
        operation: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, Bytes) {
        let uri = format!("{}/api/v0/users/{operation}", self.credentials.endpoint);
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-api-key", self.credentials.api_key.expose());
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).expect("a valid request");
        // A request the emulator did not answer (its connection closed under it) counts as a
        // failure, as any other: it shows in the report rather than stopping the run.
        let Ok(response) = self.http.request(request).await else {
            return (StatusCode::BAD_GATEWAY, Bytes::new());
        };
        let status = response.status();
        let Ok(body) = response.into_body().collect().await else {
            return (StatusCode::BAD_GATEWAY, Bytes::new());
        };
        let bytes = body.to_bytes();
        (status, bytes)
    }
}

/// The token pair of a successful answer.
fn pair(status: StatusCode, bytes: &[u8]) -> Option<TokenPair> {
    if !status.is_success() {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}
