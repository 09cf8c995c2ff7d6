//! What verifying a token costs, alone and in a request, with stlock and with the other axum JWT
//! crates, all in one run so that their figures can be compared.
//!
//! ```sh
//! cargo bench --manifest-path perf/Cargo.toml --bench auth            # about 4 minutes
//! cargo bench --manifest-path perf/Cargo.toml --bench auth -- --quick # a rough look
//! ```
//!
//! Groups and functions (criterion writes each to `target/criterion/GROUP/FUNCTION/`):
//!
//! - `decode`: `stlock` (`TokenDecoder::decode_access`) and `jsonwebtoken_raw` (a bare
//!   `jsonwebtoken::decode` with the same key and rules, built once): the same token.
//! - `request`: one `GET /me` through an axum `Router`, driven by `tower::ServiceExt::oneshot`
//!   on a clone of a router built once (a clone is a reference count), on a current-thread Tokio
//!   runtime. The request is built outside the timed part (`iter_batched`), and the response
//!   dropped outside it, for every entry alike; so each entry times routing, the middleware,
//!   the handler and building the response. `no_auth` is stlock's baseline;
//!   `no_auth_route_layer` is it with a layer that does nothing on its route, what axum itself
//!   charges for any route layer;
//!   `stlock_layer` sends a token never sent before, signed outside the timed part, so no cache
//!   can serve it; `stlock_layer_cached` sends the same token every time, which stlock's
//!   verified-token cache (on by default) serves. Each peer has its own baseline, the same app
//!   without authentication on the same axum version, and sends the same fixed token (a peer
//!   has no cache, so whether the token is new makes no difference to it).
//! - `reject`: through stlock's layer: `missing` (no `Authorization`), `garbage`
//!   (`Bearer not-a-jwt`), `bad_signature` (a token of the right shape signed with another
//!   secret).
//! - `refresh`: `not_due`, stlock's layer with `AutoRefresh::cookies()` and a valid token, new
//!   each time, that is not due for a refresh.
//! - `session`: `access_token` is `Session::access_token` on a token not due (the fast path
//!   of a signed-in program: an atomic load, a clock read, a reference count), awaited on the
//!   current-thread runtime; `current` is `Session::current`, the same without the future.
//! - `metrics` (only with `--features metrics`, which builds stlock with its `metrics` feature):
//!   `cached` and `missing` as in `request/stlock_layer_cached` and `reject/missing`, with no
//!   recorder installed, and `cached_prometheus` and `missing_prometheus` with
//!   metrics-exporter-prometheus's recorder installed on the bench's thread: what recording
//!   a request's counters costs.
//!
//! ```sh
//! cargo bench --manifest-path perf/Cargo.toml --bench auth --features metrics -- metrics
//! ```

use std::convert::Infallible;

use axum::body::Body;
use axum07::body::Body as Body07;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion};
use http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use stlock::TokenDecoder;
use stlock_perf::apps::{self, axum_jwt, axum_jwt_auth, jwt_authorizer, PATH};
use stlock_perf::claims::PeerClaims;
use stlock_perf::fixture::{self, Minter};
use tokio::runtime::Runtime;
use tower::{Service, ServiceExt};

fn decode(c: &mut Criterion) {
    let token = fixture::fixed_token();
    let mut group = c.benchmark_group("decode");

    let decoder = TokenDecoder::new(&fixture::config());
    decoder
        .decode_access(&token)
        .expect("stlock accepts the fixed token");
    group.bench_function("stlock", |b| {
        b.iter(|| decoder.decode_access(black_box(&token)))
    });

    let key = jsonwebtoken::DecodingKey::from_secret(fixture::SECRET.as_bytes());
    let validation = apps::jsonwebtoken_validation();
    jsonwebtoken::decode::<PeerClaims>(&token, &key, &validation)
        .expect("jsonwebtoken accepts the fixed token");
    group.bench_function("jsonwebtoken_raw", |b| {
        b.iter(|| jsonwebtoken::decode::<PeerClaims>(black_box(&token), &key, &validation))
    });
    group.finish();
}

fn request(c: &mut Criterion) {
    let rt = runtime();
    let fixed = bearer(&fixture::fixed_token());
    let mut group = c.benchmark_group("request");

    bench_app(
        &mut group,
        &rt,
        "no_auth",
        apps::stlock::no_auth_router(),
        || get::<Body>(Some(&fixed)),
    );
    bench_app(
        &mut group,
        &rt,
        "no_auth_route_layer",
        apps::stlock::no_auth_route_layer_router(),
        || get::<Body>(Some(&fixed)),
    );
    let mut minter = Minter::new();
    bench_app(
        &mut group,
        &rt,
        "stlock_layer",
        apps::stlock::router(apps::stlock::layer()),
        || get::<Body>(Some(&bearer(&minter.fresh()))),
    );
    bench_app(
        &mut group,
        &rt,
        "stlock_layer_cached",
        apps::stlock::router(apps::stlock::layer()),
        || get::<Body>(Some(&fixed)),
    );

    bench_app(
        &mut group,
        &rt,
        "jwt_authorizer_no_auth",
        jwt_authorizer::no_auth_router(),
        || get::<Body07>(Some(&fixed)),
    );
    bench_app(
        &mut group,
        &rt,
        "jwt_authorizer",
        rt.block_on(jwt_authorizer::router()),
        || get::<Body07>(Some(&fixed)),
    );

    bench_app(
        &mut group,
        &rt,
        "axum_jwt_auth_no_auth",
        axum_jwt_auth::no_auth_router(),
        || get::<Body>(Some(&fixed)),
    );
    bench_app(
        &mut group,
        &rt,
        "axum_jwt_auth",
        axum_jwt_auth::router(),
        || get::<Body>(Some(&fixed)),
    );

    bench_app(
        &mut group,
        &rt,
        "axum_jwt_no_auth",
        axum_jwt::no_auth_router(),
        || get::<Body>(Some(&fixed)),
    );
    bench_app(&mut group, &rt, "axum_jwt", axum_jwt::router(), || {
        get::<Body>(Some(&fixed))
    });
    bench_app(
        &mut group,
        &rt,
        "axum_jwt_layer",
        axum_jwt::layer_router(),
        || get::<Body>(Some(&fixed)),
    );
    group.finish();
}

fn reject(c: &mut Criterion) {
    let rt = runtime();
    let app = apps::stlock::router(apps::stlock::layer());
    let garbage = HeaderValue::from_static("Bearer not-a-jwt");
    let forged = bearer(&fixture::bad_signature_token());
    let mut group = c.benchmark_group("reject");
    bench_rejection(&mut group, &rt, "missing", app.clone(), || {
        get::<Body>(None)
    });
    bench_rejection(&mut group, &rt, "garbage", app.clone(), || {
        get::<Body>(Some(&garbage))
    });
    bench_rejection(&mut group, &rt, "bad_signature", app, || {
        get::<Body>(Some(&forged))
    });
    group.finish();
}

#[cfg(feature = "metrics")]
fn metrics(c: &mut Criterion) {
    let rt = runtime();
    let fixed = bearer(&fixture::fixed_token());
    let app = apps::stlock::router(apps::stlock::layer());
    let mut group = c.benchmark_group("metrics");
    bench_app(&mut group, &rt, "cached", app.clone(), || {
        get::<Body>(Some(&fixed))
    });
    bench_rejection(&mut group, &rt, "missing", app.clone(), || {
        get::<Body>(None)
    });
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    {
        // Criterion measures on this thread, and the runtime runs every request on it too.
        let _installed = metrics::set_default_local_recorder(&prometheus);
        bench_app(&mut group, &rt, "cached_prometheus", app.clone(), || {
            get::<Body>(Some(&fixed))
        });
        bench_rejection(&mut group, &rt, "missing_prometheus", app, || {
            get::<Body>(None)
        });
    }
    // The recorder saw every request: the figures above include recording them.
    let scrape = prometheus.handle().render();
    assert!(
        scrape.contains("stlock_authentications_total{result=\"accepted\"}")
            && scrape.contains("stlock_authentications_total{result=\"missing_token\"}"),
        "{scrape}"
    );
    group.finish();
}

fn session(c: &mut Criterion) {
    let rt = runtime();
    let client = stlock::Client::new(fixture::config()).expect("a client for the fixed pool");
    let session = stlock::session::Session::builder(client)
        .start(stlock::TokenPair {
            access_token: fixture::fixed_token(),
            refresh_token: fixture::fixed_token(),
        })
        .expect("a token whose lifetime is readable");
    assert!(session.current().is_some(), "the fixed token is not due");
    let mut group = c.benchmark_group("session");
    group.bench_function("access_token", |b| {
        b.to_async(&rt).iter(|| session.access_token())
    });
    group.bench_function("current", |b| b.iter(|| session.current()));
    group.finish();
}

fn refresh(c: &mut Criterion) {
    let rt = runtime();
    let mut minter = Minter::new();
    let mut group = c.benchmark_group("refresh");
    bench_app(
        &mut group,
        &rt,
        "not_due",
        apps::stlock::refreshing_router(),
        || get::<Body>(Some(&bearer(&minter.fresh()))),
    );
    group.finish();
}

/// A single-threaded runtime: every future here is ready at once, so nothing would run on a
/// second thread anyway, and criterion enters it once per batch, not once per request.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is a valid header value")
}

/// `GET /me`, with this `Authorization` header if any. Generic over the body type: axum 0.7
/// and 0.8 each have their own.
fn get<B: Default>(authorization: Option<&HeaderValue>) -> Request<B> {
    let mut request = Request::new(B::default());
    *request.uri_mut() = Uri::from_static(PATH);
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, value.clone());
    }
    request
}

/// Benchmarks `app` on requests from `setup`, once it has answered one of them 200.
fn bench_app<S, B, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    app: S,
    setup: impl FnMut() -> Request<B>,
) where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible> + Clone,
{
    bench_expecting(group, rt, name, app, setup, StatusCode::OK);
}

/// Benchmarks `app` on requests from `setup`, once it has answered one of them 401.
fn bench_rejection<S, B, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    app: S,
    setup: impl FnMut() -> Request<B>,
) where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible> + Clone,
{
    bench_expecting(group, rt, name, app, setup, StatusCode::UNAUTHORIZED);
}

fn bench_expecting<S, B, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    app: S,
    mut setup: impl FnMut() -> Request<B>,
    expected: StatusCode,
) where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible> + Clone,
{
    let answer = rt
        .block_on(app.clone().oneshot(setup()))
        .unwrap_or_else(|never| match never {});
    assert_eq!(
        answer.status(),
        expected,
        "{name} answered the wrong status"
    );
    group.bench_function(name, |b| {
        b.to_async(rt).iter_batched(
            &mut setup,
            |request| app.clone().oneshot(request),
            // Built 64 at a time: few enough to stay in the CPU's caches, as a request a server
            // has just parsed is, rather than thousands of them fetched cold from memory.
            BatchSize::NumIterations(64),
        )
    });
}

criterion_group! {
    name = benches;
    // criterion's defaults but a shorter warm-up: every entry is a few microseconds at most,
    // warm after well under a second; 16 entries then take about three minutes.
    config = Criterion::default().warm_up_time(Duration::from_secs(2));
    targets = decode, request, reject, refresh, session
}

#[cfg(feature = "metrics")]
criterion_group! {
    name = metrics_benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(2));
    targets = metrics
}

#[cfg(not(feature = "metrics"))]
criterion_main!(benches);
#[cfg(feature = "metrics")]
criterion_main!(benches, metrics_benches);
