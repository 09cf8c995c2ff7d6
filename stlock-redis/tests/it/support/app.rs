//! The emulator, users with an expired access token, and replicas of one app: each its own
//! `StlockLayer` with cookie auto-refresh and its own `RedisStore`, on its own loopback port.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::header::SET_COOKIE;
use http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use stlock::config::ConfigBuilder;
use stlock::refresh::{AutoRefresh, HOST_ACCESS_COOKIE, HOST_REFRESH_COOKIE};
use stlock::{Client, Config, StlockLayer, StlockUser, TokenPair, User};
use stlock_emulator::Emulator;
use stlock_redis::{RedisStore, RedisStoreBuilder};
use stlock_test_support::emulator::emulator;
use stlock_test_support::http::serve;
use stlock_test_support::users::sign_up;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::within;

/// The session cookies' names: auto-refresh's defaults, its cookies being `Secure` with
/// `Path=/` and no `Domain` (the client here sends them by hand, over plain HTTP).
const ACCESS_COOKIE: &str = HOST_ACCESS_COOKIE;
const REFRESH_COOKIE: &str = HOST_REFRESH_COOKIE;

pub struct Replicas {
    pub emu: Emulator,
    pub client: Client,
    pub bases: Vec<String>,
    pub stores: Vec<RedisStore>,
}

/// An answer read whole, and how long it took from sending the request.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub took: Duration,
}

/// A user signed in, and an access token of theirs that has expired.
pub struct Session {
    pub user: User,
    pub pair: TokenPair,
    pub expired: String,
}

/// Requests in flight.
pub struct Storm(Vec<JoinHandle<Answer>>);

impl Storm {
    /// Every answer, in the order the requests were sent.
    pub async fn answers(self) -> Vec<Answer> {
        let mut answers = Vec::new();
        for answer in self.0 {
            answers.push(within(answer).await.expect("the request task"));
        }
        answers
    }
}

async fn me(user: StlockUser) -> String {
    user.user_id().to_owned()
}

impl Replicas {
    /// `count` replicas on one emulator, each with a store from `store` for the Redis at `url`.
    pub async fn start(
        count: usize,
        url: &str,
        store: impl Fn(RedisStoreBuilder) -> RedisStoreBuilder,
    ) -> Self {
        Self::start_with(count, url, store, |config| config).await
    }

    /// As [`start`](Self::start), with the client's configuration changed by `config` (its
    /// timeout, or its leeway).
    pub async fn start_with(
        count: usize,
        url: &str,
        store: impl Fn(RedisStoreBuilder) -> RedisStoreBuilder,
        config: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> Self {
        Self::start_on(count, || store(RedisStore::builder(url)), config).await
    }

    /// `count` replicas on one emulator, each with a store from `store` (one Redis server or a
    /// cluster), and the client's configuration changed by `config`.
    pub async fn start_on(
        count: usize,
        store: impl Fn() -> RedisStoreBuilder,
        config: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
    ) -> Self {
        let emu = within(emulator()).await;
        let creds = emu.credentials();
        let config = config(
            Config::builder()
                .endpoint(&creds.endpoint)
                .user_pool_id(&creds.user_pool_id)
                .owner_id(&creds.owner_id)
                .api_key(creds.api_key.clone())
                .jwt_secret(creds.jwt_secret.clone()),
        )
        .build()
        .expect("a valid configuration");
        let client = Client::new(config).expect("client");
        let mut bases = Vec::new();
        let mut stores = Vec::new();
        for _ in 0..count {
            let redis = store().build().expect("a store");
            let auth = StlockLayer::from_client(client.clone())
                .auto_refresh(AutoRefresh::cookies().store(redis.clone()).build().unwrap());
            let app = Router::new().route("/me", get(me)).route_layer(auth);
            bases.push(serve(app).await);
            stores.push(redis);
        }
        Self {
            emu,
            client,
            bases,
            stores,
        }
    }

    /// How many refreshes the emulator has served.
    pub fn refreshes(&self) -> u64 {
        self.emu
            .counts(&self.emu.credentials().user_pool_id)
            .expect("counts")
            .refreshes
    }

    /// A session whose access token expired a minute ago: past the default leeway (30 s), so
    /// that a request cannot go on with it.
    pub async fn session(&self, name: &str) -> Session {
        self.session_expired(name, Duration::from_secs(60)).await
    }

    /// A session whose access token expired `ago`.
    pub async fn session_expired(&self, name: &str, ago: Duration) -> Session {
        let (user, pair) = within(sign_up(&self.client, name)).await;
        let creds = self.emu.credentials();
        let exp = now() - ago.as_secs();
        let claims = json!({
            "jti": "7afdb39b-3d6f-42e3-8555-66168dca7340",
            "exp": exp,
            "iat": exp - 600,
            "type": "ACCESS",
            "aud": "USER",
            "sub": user.id,
            "owner_sub": creds.owner_id,
            "user_pool_sub": creds.user_pool_id,
        });
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(creds.jwt_secret.expose().as_bytes()),
        )
        .expect("HMAC signing");
        Session {
            user,
            pair,
            expired,
        }
    }

    /// `requests` concurrent `GET /me` with the session's expired access cookie and its refresh
    /// cookie, spread over the replicas in `targets` in turn, sent now.
    pub fn send(&self, session: &Session, requests: usize, targets: &[usize]) -> Storm {
        let cookie = format!(
            "{ACCESS_COOKIE}={}; {REFRESH_COOKIE}={}",
            session.expired, session.pair.refresh_token
        );
        let http = reqwest::Client::new();
        Storm(
            (0..requests)
                .map(|n| {
                    let url = format!("{}/me", self.bases[targets[n % targets.len()]]);
                    let request = http.get(url).header("cookie", cookie.clone());
                    tokio::spawn(async move {
                        let sent = Instant::now();
                        let response = request.send().await.expect("the app answers");
                        let (status, headers) = (response.status(), response.headers().clone());
                        let text = response.text().await.expect("body");
                        Answer {
                            status,
                            headers,
                            text,
                            took: sent.elapsed(),
                        }
                    })
                })
                .collect(),
        )
    }

    /// [`send`](Self::send), and every answer.
    pub async fn storm(
        &self,
        session: &Session,
        requests: usize,
        targets: &[usize],
    ) -> Vec<Answer> {
        self.send(session, requests, targets).answers().await
    }
    /// A round of the replicas' promise: 60 requests with `session`'s expired token spread
    /// over the first three replicas all get one new pair, from one refresh at the service;
    /// later, within the grace window, the old cookies get the same pair on each of them, still
    /// from that one refresh; and the pair is the one the service issued (its refresh token is
    /// live there, and spent by this look). Returns the pair.
    pub async fn refresh_once_in_a_storm(&self, session: &Session, round: usize) -> TokenPair {
        let before = self.refreshes();
        let answers = self.storm(session, 60, &[0, 1, 2]).await;
        let new = one_new_pair(&answers, session);
        assert_eq!(self.refreshes() - before, 1, "round {round}: one refresh");
        for replica in 0..3 {
            let later = self.storm(session, 1, &[replica]).await;
            assert_eq!(pair_set_by(&later[0]), new, "replica {replica}");
        }
        assert_eq!(self.refreshes() - before, 1, "round {round}: still one");
        within(self.client.refresh(&new.refresh_token))
            .await
            .expect("the new refresh token is live");
        new
    }
}

/// The cookies an answer set, as `name=value`.
fn cookies_set_by(answer: &Answer) -> impl Iterator<Item = &str> {
    answer
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .filter_map(|header| header.split(';').next())
}

/// The pair an answer set in its two cookies.
#[track_caller]
pub fn pair_set_by(answer: &Answer) -> TokenPair {
    let value = |name: &str| {
        cookies_set_by(answer)
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", answer.headers))
    };
    TokenPair {
        access_token: value(ACCESS_COOKIE),
        refresh_token: value(REFRESH_COOKIE),
    }
}

/// Asserts that every answer is the user's 200 and sets the same new pair, and returns it.
#[track_caller]
pub fn one_new_pair(answers: &[Answer], session: &Session) -> TokenPair {
    let first = pair_set_by(&answers[0]);
    for answer in answers {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.text, session.user.id);
        assert_eq!(
            pair_set_by(answer),
            first,
            "every answer sets the same pair"
        );
    }
    assert_ne!(first.refresh_token, session.pair.refresh_token);
    first
}

/// Asserts that every answer is the user's 200 on the old token: no cookie set, nothing
/// refreshed.
#[track_caller]
pub fn all_on_the_old_token(answers: &[Answer], session: &Session) {
    for answer in answers {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(answer.text, session.user.id);
        assert_eq!(cookies_set_by(answer).count(), 0, "{:?}", answer.headers);
    }
}

/// Asserts that every answer is 503 (the refresh unavailable, the token past the leeway),
/// with `Retry-After` and no cookie cleared: the user stays signed in.
#[track_caller]
pub fn all_unavailable(answers: &[Answer]) {
    for answer in answers {
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.text
        );
        assert!(answer.headers.contains_key(http::header::RETRY_AFTER));
        assert_eq!(cookies_set_by(answer).count(), 0, "{:?}", answer.headers);
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// A short lock expiry, for tests that wait for a lock to lapse.
pub const SHORT_LOCK: Duration = Duration::from_secs(1);
