//! The metrics of the `metrics` feature, read through a real recorder (metrics-util's recorder
//! for tests, and the axum example's Prometheus exporter): one request per result, against the
//! real emulator and servers on loopback.
//!
//! Each test installs its own recorder on its thread, where a `#[tokio::test]` runs everything
//! (the app served, the emulator, the client), and after the app's layers were built: what a
//! layer records goes to the recorder installed when the request runs.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use jsonwebtoken::Algorithm;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use stlock::refresh::AutoRefresh;
use stlock::{Client, GrantLayer, Secret, StlockLayer};
use stlock_emulator::Rule;

use crate::app::App;
use crate::example_metrics;
use crate::refresh::{access_token_expiring, cookies, me, pair_set_by, Fixture};
use crate::sessions::client_through;
use crate::support::emulator::{access_claims, emulator, policy, sign_up};
use crate::support::forge::{now, sign};
use crate::support::http::{bearer, http, serve, Answer};
use crate::support::raw::{closed_port_endpoint, RawServer};

/// What a recorder holds, taken (so that the next look starts from zero), each metric named as
/// `name{label=value,…}`.
struct Taken {
    counters: BTreeMap<String, u64>,
    histograms: BTreeMap<String, Vec<f64>>,
}

impl Taken {
    fn from(snapshotter: &Snapshotter) -> Self {
        let mut taken = Taken {
            counters: BTreeMap::new(),
            histograms: BTreeMap::new(),
        };
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            match value {
                DebugValue::Counter(count) if count > 0 => {
                    taken.counters.insert(name, count);
                }
                DebugValue::Histogram(samples) if !samples.is_empty() => {
                    let samples = samples.into_iter().map(|sample| sample.0).collect();
                    taken.histograms.insert(name, samples);
                }
                _ => {}
            }
        }
        taken
    }

    /// The counters whose name starts with `prefix`.
    fn counters_of(&self, prefix: &str) -> BTreeMap<&str, u64> {
        self.counters
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, count)| (name.as_str(), *count))
            .collect()
    }
}

/// A request (its URL and headers) and the status it must get.
type Case = (String, Vec<(&'static str, String)>, StatusCode);

fn expected<'a>(counts: &[(&'a str, u64)]) -> BTreeMap<&'a str, u64> {
    counts.iter().copied().collect()
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = http().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Answer::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn every_result_of_an_authentication_is_counted() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let creds = emu.credentials();
    let secret = creds.jwt_secret.expose().to_owned();
    let routes = || Router::new().route("/me", get(me).post(me));
    let strict = serve(routes().route_layer(StlockLayer::from_client(client.clone()))).await;
    let anyone = || async { "welcome" };
    let optional = serve(
        Router::new()
            .route("/me", get(anyone))
            .route_layer(StlockLayer::from_client(client.clone()).optional()),
    )
    .await;
    // Cookie-mode auto-refresh whose refreshes cannot reach the service.
    let unreachable = client_through(&emu, &closed_port_endpoint(), creds.api_key.expose());
    let browser = serve(routes().route_layer(
        StlockLayer::from_client(unreachable).auto_refresh(AutoRefresh::cookies().build().unwrap()),
    ))
    .await;
    let (user, pair) = sign_up(&client, "alice").await;
    let forged = |claims: &serde_json::Value, secret: &str, alg| sign(claims, secret, alg);
    let claims = access_claims(creds, &user.id);
    let mut other_pool = claims.clone();
    other_pool["user_pool_sub"] = "another-pool".into();
    let mut other_owner = claims.clone();
    other_owner["owner_sub"] = "another-owner".into();
    let mut other_audience = claims.clone();
    other_audience["aud"] = "ADMIN".into();
    let expired = access_token_expiring(&emu, &user, now() - 3600);

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _installed = metrics::set_default_local_recorder(&recorder);

    let me = |base: &str| format!("{base}/me");
    let cases: Vec<Case> = vec![
        (
            me(&strict),
            vec![("authorization", bearer(&pair.access_token))],
            StatusCode::OK,
        ),
        (me(&strict), vec![], StatusCode::UNAUTHORIZED),
        (
            me(&strict),
            vec![
                ("authorization", bearer(&pair.access_token)),
                ("authorization", bearer(&pair.access_token)),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            me(&strict),
            vec![("authorization", bearer("not-a-jwt"))],
            StatusCode::UNAUTHORIZED,
        ),
        (
            me(&strict),
            vec![(
                "authorization",
                bearer(&forged(
                    &claims,
                    "another-secret-of-at-least-32-bytes",
                    Algorithm::HS256,
                )),
            )],
            StatusCode::UNAUTHORIZED,
        ),
        (
            me(&strict),
            vec![(
                "authorization",
                bearer(&forged(&claims, &secret, Algorithm::HS384)),
            )],
            StatusCode::UNAUTHORIZED,
        ),
        (
            me(&strict),
            vec![("authorization", bearer(&expired))],
            StatusCode::UNAUTHORIZED,
        ),
        (
            me(&strict),
            vec![("authorization", bearer(&pair.refresh_token))],
            StatusCode::UNAUTHORIZED,
        ),
        (
            me(&strict),
            vec![(
                "authorization",
                bearer(&forged(&other_pool, &secret, Algorithm::HS256)),
            )],
            StatusCode::UNAUTHORIZED,
        ),
        (
            me(&strict),
            vec![(
                "authorization",
                bearer(&forged(&other_owner, &secret, Algorithm::HS256)),
            )],
            StatusCode::UNAUTHORIZED,
        ),
        (
            me(&strict),
            vec![(
                "authorization",
                bearer(&forged(&other_audience, &secret, Algorithm::HS256)),
            )],
            StatusCode::UNAUTHORIZED,
        ),
        (me(&optional), vec![], StatusCode::OK),
        // Past the leeway, the service unreachable: 503, still signed in.
        (
            me(&browser),
            vec![cookies(&expired, &pair.refresh_token)],
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        // A refresh token that does not verify ends the session without asking the service.
        (
            me(&browser),
            vec![cookies(
                &expired,
                &forged(
                    &claims,
                    "another-secret-of-at-least-32-bytes",
                    Algorithm::HS256,
                ),
            )],
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (url, headers, status) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let answer = get_with(url, &headers).await;
        assert_eq!(answer.status, *status, "{url} {headers:?}: {}", answer.text);
    }
    // A form posted from another origin with the session's cookies.
    let (name, value) = cookies(&pair.access_token, &pair.refresh_token);
    let answer = http()
        .post(me(&browser))
        .header(name, value)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);

    let taken = Taken::from(&snapshotter);
    assert_eq!(
        taken.counters_of("stlock_authentications_total"),
        expected(&[
            ("stlock_authentications_total{result=accepted}", 1),
            ("stlock_authentications_total{result=anonymous}", 1),
            ("stlock_authentications_total{result=bad_signature}", 1),
            ("stlock_authentications_total{result=cross_origin}", 1),
            (
                "stlock_authentications_total{result=disallowed_algorithm}",
                1
            ),
            ("stlock_authentications_total{result=expired}", 1),
            ("stlock_authentications_total{result=foreign_owner}", 1),
            ("stlock_authentications_total{result=foreign_pool}", 1),
            (
                "stlock_authentications_total{result=malformed_credentials}",
                1
            ),
            ("stlock_authentications_total{result=malformed_token}", 1),
            ("stlock_authentications_total{result=missing_token}", 1),
            (
                "stlock_authentications_total{result=refresh_unavailable}",
                1
            ),
            ("stlock_authentications_total{result=session_ended}", 1),
            ("stlock_authentications_total{result=wrong_audience}", 1),
            ("stlock_authentications_total{result=wrong_type}", 1),
        ])
    );
    assert_eq!(
        taken.counters_of("stlock_refreshes_total"),
        expected(&[
            ("stlock_refreshes_total{result=refused}", 1),
            ("stlock_refreshes_total{result=unavailable}", 1),
        ])
    );
    // One call to the (unreachable) service, timed; the forged refresh token made none.
    assert_eq!(taken.histograms["stlock_refresh_duration_seconds"].len(), 1);
}

#[tokio::test]
async fn token_cache_lookups_are_counted_as_hits_and_misses() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let base = serve(
        Router::new()
            .route("/me", get(me))
            .route_layer(StlockLayer::from_client(client.clone())),
    )
    .await;
    let (_, pair) = sign_up(&client, "alice").await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _installed = metrics::set_default_local_recorder(&recorder);

    // Remembered from its second sighting: two misses, then hits.
    let token = bearer(&pair.access_token);
    for _ in 0..4 {
        let answer = get_with(&format!("{base}/me"), &[("authorization", &token)]).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    // No token, no look-up.
    get_with(&format!("{base}/me"), &[]).await;

    let taken = Taken::from(&snapshotter);
    assert_eq!(
        taken.counters_of("stlock_token_cache_total"),
        expected(&[
            ("stlock_token_cache_total{result=hit}", 2),
            ("stlock_token_cache_total{result=miss}", 2),
        ])
    );
}

#[tokio::test]
async fn a_storm_counts_one_refresh_and_the_others_shared_then_theft_and_refusal() {
    let grace = Duration::from_secs(600);
    let fx = Fixture::new(AutoRefresh::cookies().grace(grace).build().unwrap()).await;
    let (user, old, expired) = fx.expired_session("alice").await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _installed = metrics::set_default_local_recorder(&recorder);

    let mut new = None;
    for answer in fx.storm(20, &cookies(&expired, &old.refresh_token)).await {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        new = Some(pair_set_by(&answer));
    }
    assert_eq!(fx.refreshes(), 1);
    let taken = Taken::from(&snapshotter);
    assert_eq!(
        taken.counters_of("stlock_refreshes_total"),
        expected(&[
            ("stlock_refreshes_total{result=refreshed}", 1),
            ("stlock_refreshes_total{result=shared}", 19),
        ])
    );
    assert_eq!(
        taken.counters_of("stlock_authentications_total"),
        expected(&[("stlock_authentications_total{result=accepted}", 20)])
    );
    let took = &taken.histograms["stlock_refresh_duration_seconds"];
    assert_eq!(took.len(), 1, "one call to the service");
    assert!(took[0] > 0.0 && took[0] < 10.0, "{took:?}");

    // The old refresh cookie again, with another access token of the user: theft.
    let older = access_token_expiring(&fx.emu, &user, now() - 120);
    let thief = fx.me(&[cookies(&older, &old.refresh_token)]).await;
    assert_eq!(thief.status, StatusCode::UNAUTHORIZED);
    // The session is over at the service: its refresh token is refused.
    let new = new.unwrap();
    let ended = fx.me(&[cookies(&expired, &new.refresh_token)]).await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED);
    let taken = Taken::from(&snapshotter);
    assert_eq!(
        taken.counters_of("stlock_refreshes_total"),
        expected(&[
            ("stlock_refreshes_total{result=refused}", 1),
            ("stlock_refreshes_total{result=suspected_theft}", 1),
        ])
    );
}

#[tokio::test]
async fn a_pair_the_app_cannot_verify_is_counted_as_unverifiable() {
    let fx = Fixture::new(AutoRefresh::cookies().build().unwrap()).await;
    let (_, old, expired) = fx.expired_session("alice").await;
    // The service signs with a secret the app does not accept yet.
    let pool = fx.emu.credentials().user_pool_id.clone();
    fx.emu
        .rotate_jwt_secret(&pool, Secret::new("a-new-pool-secret-of-at-least-32-bytes"))
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _installed = metrics::set_default_local_recorder(&recorder);

    let answer = fx.me(&[cookies(&expired, &old.refresh_token)]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let taken = Taken::from(&snapshotter);
    assert_eq!(
        taken.counters_of("stlock_refreshes_total"),
        expected(&[("stlock_refreshes_total{result=unverifiable}", 1)])
    );
    assert_eq!(
        taken.counters_of("stlock_authentications_total"),
        expected(&[(
            "stlock_authentications_total{result=refresh_unavailable}",
            1
        )])
    );
}

#[tokio::test]
async fn grant_checks_are_counted_by_decision_and_cache() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    let creds = emu.credentials();
    let auth = StlockLayer::from_client(client.clone());
    let cached = serve(App::new(auth.clone()).router()).await;
    let uncached = serve(
        App::with_layers(
            auth.clone(),
            GrantLayer::new(client.clone()).cache_ttl(Duration::ZERO),
        )
        .router(),
    )
    .await;
    let down = client_through(&emu, &closed_port_endpoint(), creds.api_key.expose());
    let unavailable = serve(App::with_layers(auth.clone(), GrantLayer::new(down)).router()).await;
    let refusing_path = RawServer::answering(
        "HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/json\r\ncontent-length: 25\r\n\r\n{\"detail\":\"invalid path\"}",
    )
    .await;
    let refusing = client_through(&emu, &refusing_path.endpoint(), creds.api_key.expose());
    let invalid = serve(App::with_layers(auth, GrantLayer::new(refusing)).router()).await;

    let (user, pair) = sign_up(&client, "alice").await;
    let reading = policy(&emu, Rule::allow(["GET"], ["/orders/*"]));
    emu.attach_policy(&creds.user_pool_id, &user.id, &reading)
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _installed = metrics::set_default_local_recorder(&recorder);

    let token = bearer(&pair.access_token);
    let order = |base: &str, method: &str| {
        let request = http()
            .request(method.parse().unwrap(), format!("{base}/orders/1"))
            .header("authorization", token.clone());
        async move { request.send().await.unwrap().status() }
    };
    for (base, method, status) in [
        (&cached, "GET", StatusCode::OK),
        (&cached, "GET", StatusCode::OK),
        (&cached, "DELETE", StatusCode::FORBIDDEN),
        (&cached, "DELETE", StatusCode::FORBIDDEN),
        (&uncached, "GET", StatusCode::OK),
        (&unavailable, "GET", StatusCode::SERVICE_UNAVAILABLE),
        (&invalid, "GET", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(order(base, method).await, status, "{method} on {base}");
    }
    // Signed out: the service no longer knows the token (asked afresh on another app's cache).
    client.logout(&pair.refresh_token).await.unwrap();
    assert_eq!(order(&uncached, "GET").await, StatusCode::UNAUTHORIZED);

    let taken = Taken::from(&snapshotter);
    assert_eq!(
        taken.counters_of("stlock_grant_checks_total"),
        expected(&[
            ("stlock_grant_checks_total{decision=allowed,cache=hit}", 1),
            ("stlock_grant_checks_total{decision=allowed,cache=miss}", 1),
            ("stlock_grant_checks_total{decision=allowed,cache=off}", 1),
            ("stlock_grant_checks_total{decision=denied,cache=hit}", 1),
            ("stlock_grant_checks_total{decision=denied,cache=miss}", 1),
            (
                "stlock_grant_checks_total{decision=invalid_path,cache=miss}",
                1
            ),
            ("stlock_grant_checks_total{decision=revoked,cache=off}", 1),
            (
                "stlock_grant_checks_total{decision=unavailable,cache=miss}",
                1
            ),
        ])
    );
    // Six times the service was asked (or tried), each timed.
    assert_eq!(
        taken.histograms["stlock_grant_check_duration_seconds"].len(),
        6
    );
}

#[tokio::test]
async fn each_request_is_counted_by_the_recorder_installed_when_it_runs() {
    let emu = emulator().await;
    let client = Client::new(emu.config()).unwrap();
    // The layer is built, and serving, before any recorder is installed.
    let base = serve(
        Router::new()
            .route("/me", get(me))
            .route_layer(StlockLayer::from_client(client)),
    )
    .await;
    let url = format!("{base}/me");
    let accepted = "stlock_authentications_total{result=missing_token}";

    let first = DebuggingRecorder::new();
    let first_read = first.snapshotter();
    let second = DebuggingRecorder::new();
    let second_read = second.snapshotter();
    {
        let _installed = metrics::set_default_local_recorder(&first);
        get_with(&url, &[]).await;
    }
    {
        let _installed = metrics::set_default_local_recorder(&second);
        get_with(&url, &[]).await;
        get_with(&url, &[]).await;
    }
    assert_eq!(Taken::from(&first_read).counters.get(accepted), Some(&1));
    assert_eq!(Taken::from(&second_read).counters.get(accepted), Some(&2));
}

/// The README's walkthrough, through the example's router, and its scrape: the counters the
/// README shows after it, line for line.
#[tokio::test]
async fn the_example_serves_the_walkthroughs_counters_in_prometheus_format() {
    let emu = std::sync::Arc::new(emulator().await);
    let client = Client::new(emu.config()).unwrap();
    let recorder = example_metrics::recorder().unwrap();
    let handle = recorder.handle();
    let pool = emu.credentials().user_pool_id.clone();
    let reading = policy(&emu, Rule::allow(["GET"], ["/orders/**"]));
    // The example's demo hook: every new user gets the policy.
    let attach = {
        let emu = std::sync::Arc::clone(&emu);
        move |user: stlock::User| emu.attach_policy(&pool, &user.id, &reading).unwrap()
    };
    let app = App::new(StlockLayer::from_client(client))
        .on_register(attach)
        .router()
        .merge(example_metrics::routes(handle));
    let base = serve(app).await;
    let _installed = metrics::set_default_local_recorder(&recorder);
    stlock::metrics::describe();

    let post = |path: &str, body: serde_json::Value| {
        let request = http().post(format!("{base}{path}")).json(&body);
        async move { Answer::read(request.send().await.unwrap()).await }
    };
    let registered = post(
        "/register",
        serde_json::json!({"username": "alice", "email": "alice@example.com",
            "phone": "79111111111", "password": "change-me"}),
    )
    .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let pair = post(
        "/login",
        serde_json::json!({"username": "alice", "password": "change-me"}),
    )
    .await;
    let token = bearer(pair.json["access_token"].as_str().unwrap());
    let refresh = pair.json["refresh_token"].as_str().unwrap().to_owned();
    let with_token = [("authorization", token.as_str())];
    for (method, path, headers, status) in [
        ("GET", "/user", &with_token[..], StatusCode::OK),
        ("GET", "/user", &[][..], StatusCode::UNAUTHORIZED),
        ("GET", "/orders/42", &with_token[..], StatusCode::OK),
        (
            "DELETE",
            "/orders/42",
            &with_token[..],
            StatusCode::FORBIDDEN,
        ),
    ] {
        let mut request = http().request(method.parse().unwrap(), format!("{base}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            status,
            "{method} {path}"
        );
    }
    let renewed = post("/refresh", serde_json::json!({ "refresh_token": refresh })).await;
    let refresh = renewed.json["refresh_token"].as_str().unwrap().to_owned();
    let out = post("/logout", serde_json::json!({ "refresh_token": refresh })).await;
    assert_eq!(out.status, StatusCode::OK);
    let refused = post("/refresh", serde_json::json!({ "refresh_token": refresh })).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let scrape = get_with(&format!("{base}/metrics"), &[]).await;
    assert_eq!(scrape.status, StatusCode::OK);
    assert_eq!(
        scrape.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    let mut counted: Vec<&str> = scrape
        .text
        .lines()
        .filter(|line| line.starts_with("stlock_") && !line.contains("_duration_seconds"))
        .collect();
    counted.sort_unstable();
    assert_eq!(
        counted,
        [
            "stlock_authentications_total{result=\"accepted\"} 3",
            "stlock_authentications_total{result=\"missing_token\"} 1",
            "stlock_grant_checks_total{decision=\"allowed\",cache=\"miss\"} 1",
            "stlock_grant_checks_total{decision=\"denied\",cache=\"miss\"} 1",
            "stlock_token_cache_total{result=\"hit\"} 1",
            "stlock_token_cache_total{result=\"miss\"} 2",
        ],
        "{}",
        scrape.text
    );
    for line in [
        "# HELP stlock_authentications_total Requests through StlockLayer",
        "# TYPE stlock_grant_check_duration_seconds histogram",
        "stlock_grant_check_duration_seconds_bucket{le=\"+Inf\"} 2",
        "stlock_grant_check_duration_seconds_count 2",
    ] {
        assert!(
            scrape.text.contains(line),
            "no `{line}` in:\n{}",
            scrape.text
        );
    }
    // Nothing per user or per token.
    let user = pair.json["access_token"].as_str().unwrap();
    assert!(!scrape.text.contains(user));
}
