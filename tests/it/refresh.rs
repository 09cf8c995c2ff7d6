//! Auto-refresh against the real emulator over loopback: one refresh however many requests race
//! (counted at the emulator), the grace window, refused and expired refresh tokens, the service
//! down, cookie and header mode, and a tonic client.
//!
//! An access token "expired" here is made by hand for a real user of the emulator and signed
//! with the pool's secret: the layer judges expiry by the system clock, which the emulator's
//! `advance_clock` does not move, and nothing waits for real time to pass.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, SET_COOKIE};
use http::StatusCode;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use stlock::refresh::{
    AutoRefresh, ACCESS_TOKEN_HEADER, HOST_ACCESS_COOKIE, HOST_REFRESH_COOKIE, REFRESH_TOKEN_HEADER,
};
use stlock::{Client, StlockLayer, StlockUser, TokenPair, User};
use stlock_emulator::Emulator;

use crate::support::emulator::{access_claims, emulator, sign_up};
use crate::support::forge::{now, sign};
use crate::support::http::{http, serve, Answer};

/// The access token of `user`, signed with the pool's secret, expiring at `exp`.
pub fn access_token_expiring(emu: &Emulator, user: &User, exp: u64) -> String {
    let mut claims = access_claims(emu.credentials(), &user.id);
    claims["exp"] = exp.into();
    claims["iat"] = (exp - 600).into();
    sign(
        &claims,
        emu.credentials().jwt_secret.expose(),
        Algorithm::HS256,
    )
}

pub async fn me(user: StlockUser) -> String {
    user.user_id().to_owned()
}

/// An emulator, a client of it, and `GET /me` served behind a layer with auto-refresh.
pub struct Fixture {
    pub emu: Emulator,
    pub client: Client,
    pub base: String,
}

impl Fixture {
    pub async fn new(refresh: AutoRefresh) -> Self {
        let emu = emulator().await;
        let client = Client::new(emu.config()).unwrap();
        let auth = StlockLayer::from_client(client.clone()).auto_refresh(refresh);
        Self::serving(emu, client, auth).await
    }

    /// `GET /me` behind `auth`, whose client talks to `emu`.
    pub async fn serving(emu: Emulator, client: Client, auth: StlockLayer) -> Self {
        let base = serve(Router::new().route("/me", get(me)).route_layer(auth)).await;
        Self { emu, client, base }
    }

    /// How many refreshes reached the emulator.
    pub fn refreshes(&self) -> u64 {
        self.emu
            .counts(&self.emu.credentials().user_pool_id)
            .unwrap()
            .refreshes
    }

    /// `GET /me` with these headers.
    pub async fn me(&self, headers: &[(&str, String)]) -> Answer {
        let mut request = http().get(format!("{}/me", self.base));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    /// `count` requests of `GET /me` with this header at once, their answers in the order sent.
    pub async fn storm(&self, count: usize, header: &(&'static str, String)) -> Vec<Answer> {
        let requests: Vec<_> = (0..count)
            .map(|_| {
                let (base, header) = (self.base.clone(), header.clone());
                tokio::spawn(async move {
                    let request = http().get(format!("{base}/me")).header(header.0, header.1);
                    Answer::read(request.send().await.unwrap()).await
                })
            })
            .collect();
        let mut answers = Vec::with_capacity(count);
        for request in requests {
            answers.push(request.await.unwrap());
        }
        answers
    }

    /// A signed-up user, their real pair, and an access token of theirs that expired a minute
    /// ago (past the 30 s leeway).
    pub async fn expired_session(&self, name: &str) -> (User, TokenPair, String) {
        let (user, pair) = sign_up(&self.client, name).await;
        let expired = access_token_expiring(&self.emu, &user, now() - 60);
        (user, pair, expired)
    }
}

/// The `Cookie` header of a browser holding this pair in the default (`__Host-`) cookies.
pub fn cookies(access: &str, refresh: &str) -> (&'static str, String) {
    (
        "cookie",
        format!("{HOST_ACCESS_COOKIE}={access}; {HOST_REFRESH_COOKIE}={refresh}"),
    )
}

/// The value of each `Set-Cookie` of the answer, by cookie name, with its attributes.
pub fn set_cookies(answer: &Answer) -> Vec<(String, String, String)> {
    answer
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|header| {
            let header = header.to_str().unwrap();
            let (pair, attributes) = header.split_once(';').unwrap_or((header, ""));
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned(), attributes.to_owned())
        })
        .collect()
}

/// The pair an answer set in the default (`__Host-`) cookies.
#[track_caller]
pub fn pair_set_by(answer: &Answer) -> TokenPair {
    let set = set_cookies(answer);
    let find = |name: &str| {
        set.iter()
            .find(|(cookie, ..)| cookie == name)
            .map(|(_, value, _)| value.clone())
            .unwrap_or_else(|| panic!("no {name} cookie in {:?}", answer.headers))
    };
    TokenPair {
        access_token: find(HOST_ACCESS_COOKIE),
        refresh_token: find(HOST_REFRESH_COOKIE),
    }
}

#[track_caller]
pub fn assert_cleared(answer: &Answer) {
    let set = set_cookies(answer);
    assert_eq!(set.len(), 2, "{:?}", answer.headers);
    for (name, value, attributes) in set {
        assert!(value.is_empty(), "{name} still holds a value");
        assert!(attributes.contains("Max-Age=0"), "{name}: {attributes}");
    }
}

#[tokio::test]
async fn a_storm_of_requests_with_one_expired_cookie_pair_refreshes_exactly_once() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    // Several rounds, each a fresh session: a race that passes once by luck fails here.
    for round in 0..5 {
        let (user, old, expired) = fx.expired_session(&format!("user{round}")).await;
        let before = fx.refreshes();
        let header = cookies(&expired, &old.refresh_token);
        let mut pairs = Vec::new();
        for answer in fx.storm(100, &header).await {
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            assert_eq!(answer.text, user.id);
            assert_eq!(answer.header(CACHE_CONTROL.as_str()), Some("no-store"));
            pairs.push(pair_set_by(&answer));
        }
        assert_eq!(
            fx.refreshes() - before,
            1,
            "round {round}: one refresh at the emulator"
        );
        assert!(
            pairs.iter().all(|pair| *pair == pairs[0]),
            "one new pair for all"
        );
        let new = pairs[0].clone();
        assert_ne!(new.refresh_token, old.refresh_token);

        // The new pair works, and carries no new cookies: nothing is due.
        let answer = fx
            .me(&[cookies(&new.access_token, &new.refresh_token)])
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(set_cookies(&answer).is_empty());
        // The old refresh token is spent at the service; the new one rotates.
        assert!(fx.client.refresh(&old.refresh_token).await.is_err());
    }
}

#[tokio::test]
async fn within_the_grace_window_the_old_cookies_get_the_same_pair_without_a_second_refresh() {
    let fx = Fixture::new(
        AutoRefresh::cookies()
            .grace(Duration::from_secs(600))
            .build()
            .unwrap(),
    )
    .await;
    let (_, old, expired) = fx.expired_session("alice").await;
    let first = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    let later = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    assert_eq!(later.status, StatusCode::OK);
    assert_eq!(pair_set_by(&first), pair_set_by(&later));
    assert_eq!(fx.refreshes(), 1);
}

#[tokio::test]
async fn past_the_grace_window_the_old_cookies_end_the_session() {
    // A zero grace window: the outcome is forgotten at once, as it is 10 s later by default.
    let fx = Fixture::new(
        AutoRefresh::cookies()
            .grace(Duration::ZERO)
            .build()
            .unwrap(),
    )
    .await;
    let (_, old, expired) = fx.expired_session("alice").await;
    let first = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    assert_eq!(first.status, StatusCode::OK);
    let later = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    later.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_eq!(later.detail(), "the session has ended: sign in again");
    assert_cleared(&later);
    assert_eq!(fx.refreshes(), 2);
    // Presenting the spent token again was taken for theft: the new pair is revoked too.
    let new = pair_set_by(&first);
    assert!(fx.client.refresh(&new.refresh_token).await.is_err());
}

#[tokio::test]
async fn revoked_expired_forged_and_foreign_refresh_tokens_end_the_session() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;

    // Revoked: signed out elsewhere.
    let (_, pair, expired) = fx.expired_session("alice").await;
    fx.client.logout(&pair.refresh_token).await.unwrap();
    let answer = fx.me(&[cookies(&expired, &pair.refresh_token)]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_cleared(&answer);

    // Expired at the service (its clock moved an hour on; ours did not).
    let (_, pair, expired) = fx.expired_session("bob").await;
    fx.emu.advance_clock(Duration::from_secs(3600));
    let answer = fx.me(&[cookies(&expired, &pair.refresh_token)]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_cleared(&answer);
    let asked = fx.refreshes();
    assert!(asked >= 1, "the revoked token was put to the service");

    // Forged: refused here, the service never asked.
    let (carol, carol_pair, carol_expired) = fx.expired_session("carol").await;
    let forged = format!("{}x", carol_pair.refresh_token);
    let answer = fx.me(&[cookies(&carol_expired, &forged)]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_cleared(&answer);
    assert_eq!(fx.refreshes(), asked);
    // Another user's: stolen or planted, never renewed for this request; the exchange it leads
    // ends that session at the service instead.
    let (_, dave_pair) = sign_up(&fx.client, "dave").await;
    let answer = fx
        .me(&[cookies(&carol_expired, &dave_pair.refresh_token)])
        .await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    assert_cleared(&answer);
    assert_eq!(fx.refreshes(), asked + 1);
    assert!(fx.client.refresh(&dave_pair.refresh_token).await.is_err());
    // Carol's own pair still works: a rejected request ended nothing of hers at the service.
    let answer = fx
        .me(&[cookies(&carol_expired, &carol_pair.refresh_token)])
        .await;
    assert_eq!(answer.text, carol.id);
}

#[tokio::test]
async fn without_an_access_cookie_the_refresh_cookie_renews_the_session() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    let (user, pair) = sign_up(&fx.client, "alice").await;
    // The browser dropped the access cookie at its Max-Age.
    let answer = fx
        .me(&[(
            "cookie",
            format!("{HOST_REFRESH_COOKIE}={}", pair.refresh_token),
        )])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, user.id);
    pair_set_by(&answer);
    assert_eq!(fx.refreshes(), 1);
    // Nothing at all is still nothing.
    let answer = fx.me(&[]).await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_that_is_not_due_costs_no_refresh() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    let (user, pair) = sign_up(&fx.client, "alice").await;
    let answer = fx
        .me(&[cookies(&pair.access_token, &pair.refresh_token)])
        .await;
    assert_eq!(answer.text, user.id);
    assert!(set_cookies(&answer).is_empty());
    assert_eq!(answer.header(CACHE_CONTROL.as_str()), None);
    assert_eq!(fx.refreshes(), 0);
}

#[tokio::test]
async fn a_token_in_its_last_share_of_life_is_refreshed_early() {
    let fx = Fixture::new(AutoRefresh::cookies().refresh_early(0.2).build().unwrap()).await;
    let (user, pair) = sign_up(&fx.client, "alice").await;
    // 600 s of life, 60 s left: under a fifth.
    let ending = access_token_expiring(&fx.emu, &user, now() + 60);
    let answer = fx.me(&[cookies(&ending, &pair.refresh_token)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    pair_set_by(&answer);
    assert_eq!(fx.refreshes(), 1);
    // 300 s left is half its life: not yet.
    let halfway = access_token_expiring(&fx.emu, &user, now() + 300);
    let new = pair_set_by(&answer);
    let answer = fx.me(&[cookies(&halfway, &new.refresh_token)]).await;
    assert!(set_cookies(&answer).is_empty());
    assert_eq!(fx.refreshes(), 1);
}

#[tokio::test]
async fn with_the_service_down_a_token_in_its_leeway_goes_on_and_one_past_it_is_503() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    let (user, pair) = sign_up(&fx.client, "alice").await;
    let Fixture { emu, base, client } = fx;
    let in_leeway = access_token_expiring(&emu, &user, now() - 5);
    let past_leeway = access_token_expiring(&emu, &user, now() - 60);
    emu.shutdown().await;
    let me = |access: String| {
        let header = cookies(&access, &pair.refresh_token);
        let url = format!("{base}/me");
        async move {
            Answer::read(
                http()
                    .get(url)
                    .header(header.0, header.1)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };

    let answer = me(in_leeway).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, user.id);
    assert!(set_cookies(&answer).is_empty());

    let answer = me(past_leeway).await;
    answer.assert_json_error(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.header("retry-after"), Some("5"));
    // Not a sign-out: the cookies stay.
    assert!(set_cookies(&answer).is_empty());
    assert!(!answer.text.contains("127.0.0.1"), "{}", answer.text);
    drop(client);
}

#[tokio::test]
async fn header_mode_takes_the_refresh_token_in_a_header_and_answers_the_pair_in_headers() {
    let fx = Fixture::new(AutoRefresh::headers().build().unwrap()).await;
    let (user, old, expired) = fx.expired_session("alice").await;
    let answer = fx
        .me(&[
            ("authorization", format!("Bearer {expired}")),
            ("x-refresh-token", old.refresh_token.clone()),
        ])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, user.id);
    let access = answer.header(ACCESS_TOKEN_HEADER).unwrap().to_owned();
    let refresh = answer.header(REFRESH_TOKEN_HEADER).unwrap().to_owned();
    assert_eq!(fx.client.decode(&access).unwrap().sub, user.id);
    assert!(set_cookies(&answer).is_empty());
    // The new pair is the session now.
    let answer = fx
        .me(&[("authorization", format!("Bearer {access}"))])
        .await;
    assert_eq!(answer.text, user.id);
    assert!(fx.client.refresh(&refresh).await.is_ok());

    // Without the refresh header an expired token is what it was: 401.
    let answer = fx
        .me(&[("authorization", format!("Bearer {expired}"))])
        .await;
    answer.assert_json_error(StatusCode::UNAUTHORIZED);
    let detail: Value = answer.json.clone();
    assert!(
        detail["detail"].as_str().unwrap().contains("expired"),
        "{detail}"
    );
}

#[tokio::test]
async fn the_grant_layer_checks_with_the_renewed_token() {
    use stlock::GrantLayer;
    use stlock_emulator::Rule;

    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let (user, pair) = sign_up(&client, "alice").await;
    let policy = crate::support::emulator::policy(&emu, Rule::allow(["GET"], ["/me"]));
    emu.attach_policy(&emu.credentials().user_pool_id, &user.id, &policy)
        .unwrap();
    let auth = StlockLayer::from_client(client.clone())
        .auto_refresh(AutoRefresh::cookies().build().unwrap());
    let app = Router::new()
        .route("/me", get(me))
        .route_layer(GrantLayer::new(client.clone()))
        .route_layer(auth);
    let base = serve(app).await;
    let expired = access_token_expiring(&emu, &user, now() - 60);
    let (name, value) = cookies(&expired, &pair.refresh_token);
    let answer = Answer::read(
        http()
            .get(format!("{base}/me"))
            .header(name, value)
            .send()
            .await
            .unwrap(),
    )
    .await;
    // The old token is no token the service knows: the grant was checked with the new one.
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.text, user.id);
}
