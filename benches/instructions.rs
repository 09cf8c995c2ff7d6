//! The work of a request through `StlockLayer`, and of its parts, a given number of times, for
//! counting instructions with callgrind: unlike time on a shared machine, the count is the same
//! on every run, so a change of a few percent shows. Not a criterion benchmark (those are in
//! `perf/`); it prints nothing.
//!
//! ```sh
//! cargo bench --bench instructions --no-run
//! bin=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -1)
//! for work in bare request decode decode_rotated layer refresh cached missing garbage \
//!     router_no_auth router_noop_layer router_fresh router_cached router_missing; do for n in 1000 2000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$work" "$n" 2>&1 | grep Collected
//! done; done
//! ```
//!
//! The difference between the two counts of one kind of work, divided by 1000, is its cost per
//! call; start-up cancels out. What the `metrics` feature costs: the same loop on a build with
//! it (`cargo bench --bench instructions --features metrics --no-run`), without a recorder, and
//! with `prometheus` after the count (`"$bin" cached 1000 prometheus`), which installs
//! metrics-exporter-prometheus's recorder first. `decode_rotated` decodes the same token with a decoder whose
//! current secret is another, the token's being kept for a rotation (one more HMAC). The `router_*` kinds are `perf/`'s `request` and `reject` apps:
//! an axum `Router` with the layer on its route and a handler taking `StlockUser` (`router_fresh`
//! with the cache off, so that every request is verified); `router_noop_layer` is the app
//! without authentication with a layer that does nothing on its route, what axum charges for
//! any route layer.

#[path = "../tests/it/support/forge.rs"]
mod forge;

use std::convert::Infallible;
use std::hint::black_box;

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use forge::{access_token, call_ready, config_for, OWNER, POOL, SECRET};
use http::{header, HeaderValue, Request, Response};
use stlock::refresh::AutoRefresh;
use stlock::{Client, StlockLayer, StlockUser};
use tower::Layer;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(work), Some(times)) = (args.next(), args.next()) else {
        eprintln!(
            "usage: instructions bare|request|decode|decode_rotated|layer|refresh|cached|missing|garbage\
             |router_no_auth|router_noop_layer|router_fresh|router_cached|router_missing TIMES [prometheus]"
        );
        std::process::exit(2);
    };
    let times: usize = times.parse().unwrap_or(0);
    if let Some(recorder) = args.next() {
        install(&recorder);
    }
    let client = Client::new(config_for("http://127.0.0.1:1")).expect("a client");
    let token = access_token();
    let rotating = stlock::Config::builder()
        .endpoint("http://127.0.0.1:1")
        .user_pool_id(POOL)
        .owner_id(OWNER)
        .api_key("key")
        .jwt_secret("the-secret-the-service-signs-with-now")
        .extra_jwt_secrets([SECRET])
        .build()
        .expect("a valid configuration");
    let rotating = Client::new(rotating).expect("a client");
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).expect("ASCII");
    let request_with = |authorization: Option<&HeaderValue>| {
        let mut request = Request::new(Body::empty());
        if let Some(value) = authorization {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, value.clone());
        }
        request
    };
    let request = || request_with(Some(&bearer));
    let garbage = HeaderValue::from_static("Bearer not-a-jwt");
    let handler = tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let auth = StlockLayer::from_client(client.clone());
    let mut bare = handler;
    let mut layered = auth.clone().token_cache(0).layer(handler);
    let mut cached = auth.clone().layer(handler);
    let mut refreshing = auth
        .clone()
        .auto_refresh(
            AutoRefresh::cookies()
                .build()
                .expect("valid auto-refresh settings"),
        )
        .token_cache(0)
        .layer(handler);
    let routed = |layer: Option<StlockLayer>| {
        let router = Router::new();
        match layer {
            Some(layer) => router.route("/me", get(me)).route_layer(layer),
            None => router.route("/me", get(anonymous)),
        }
        .with_state(())
    };
    let mut router_no_auth = routed(None);
    // What any layer on a route costs in axum: the route boxed once more, and its future.
    let mut router_noop_layer = Router::new()
        .route("/me", get(anonymous))
        .route_layer(tower::layer::util::Identity::new())
        .with_state(());
    let mut router_fresh = routed(Some(auth.clone().token_cache(0)));
    let mut router_cached = routed(Some(auth.clone()));
    let routed_request = |authorization: Option<&HeaderValue>| {
        let mut request = request_with(authorization);
        *request.uri_mut() = http::Uri::from_static("/me");
        request
    };
    for _ in 0..times {
        match work.as_str() {
            "request" => drop(black_box(request())),
            "decode" => drop(black_box(client.decode(black_box(&token)))),
            "decode_rotated" => drop(black_box(rotating.decode(black_box(&token)))),
            "layer" => drop(black_box(call_ready(&mut layered, request()))),
            "refresh" => drop(black_box(call_ready(&mut refreshing, request()))),
            "cached" => drop(black_box(call_ready(&mut cached, request()))),
            "bare" => drop(black_box(call_ready(&mut bare, request()))),
            "missing" => drop(black_box(call_ready(&mut cached, request_with(None)))),
            "garbage" => drop(black_box(call_ready(
                &mut cached,
                request_with(Some(&garbage)),
            ))),
            "router_no_auth" => drop(black_box(call_ready(
                &mut router_no_auth,
                routed_request(Some(&bearer)),
            ))),
            "router_noop_layer" => drop(black_box(call_ready(
                &mut router_noop_layer,
                routed_request(Some(&bearer)),
            ))),
            "router_fresh" => drop(black_box(call_ready(
                &mut router_fresh,
                routed_request(Some(&bearer)),
            ))),
            "router_cached" => drop(black_box(call_ready(
                &mut router_cached,
                routed_request(Some(&bearer)),
            ))),
            "router_missing" => drop(black_box(call_ready(
                &mut router_cached,
                routed_request(None),
            ))),
            _ => {}
        }
    }
}

/// Installs the recorder named, for the whole process.
fn install(recorder: &str) {
    #[cfg(feature = "metrics")]
    if recorder == "prometheus" {
        let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        if metrics::set_global_recorder(prometheus).is_ok() {
            return;
        }
    }
    eprintln!("no recorder `{recorder}` in this build (`prometheus` needs the `metrics` feature)");
    std::process::exit(2);
}

async fn me(user: StlockUser) -> StatusCode {
    black_box(user.user_id());
    StatusCode::OK
}

async fn anonymous() -> StatusCode {
    StatusCode::OK
}
