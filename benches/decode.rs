//! Cost of verifying an access token: stlock's `TokenDecoder` against a bare
//! `jsonwebtoken::decode` with the same checks, which is the floor any HS256 verifier pays; and
//! the cost `StlockLayer` adds to a request, accepted or rejected, over the bare service.
//!
//! ```sh
//! cargo bench --bench decode
//! ```

#[path = "../tests/it/support/forge.rs"]
mod forge;

use std::convert::Infallible;
use std::hint::black_box;

use axum::body::Body;
use criterion::{criterion_group, criterion_main, Criterion};
use forge::{access_token, call_ready as call, config_for, SECRET};
use http::{header, HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::{DecodingKey, Validation};
use stlock::refresh::AutoRefresh;
use stlock::token::AUDIENCE;
use stlock::{Claims, Client, StlockLayer, TokenDecoder};
use tower::Layer;

fn decode(c: &mut Criterion) {
    let config = config_for("http://127.0.0.1:1");
    let token = access_token();
    let mut group = c.benchmark_group("decode_access");

    let decoder = TokenDecoder::new(&config);
    group.bench_function("stlock TokenDecoder", |b| {
        b.iter(|| decoder.decode_access(black_box(&token)))
    });

    let key = DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = Validation::default();
    validation.set_audience(&[AUDIENCE]);
    group.bench_function("bare jsonwebtoken::decode", |b| {
        b.iter(|| jsonwebtoken::decode::<Claims>(black_box(&token), &key, &validation))
    });
    group.finish();
}

fn layer(c: &mut Criterion) {
    let handler = || {
        tower::service_fn(|_: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        })
    };
    let bearer = HeaderValue::from_str(&format!("Bearer {}", access_token())).expect("ASCII");
    let request = |authorization: Option<&HeaderValue>| {
        let mut request = Request::new(Body::empty());
        if let Some(value) = authorization {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, value.clone());
        }
        request
    };
    let auth =
        StlockLayer::from_client(Client::new(config_for("http://127.0.0.1:1")).expect("client"));
    let mut group = c.benchmark_group("request");

    let mut bare = handler();
    group.bench_function("no layer", |b| {
        b.iter(|| call(&mut bare, black_box(request(Some(&bearer)))))
    });

    let mut layered = auth.layer(handler());
    assert_eq!(
        call(&mut layered, request(Some(&bearer))).status(),
        StatusCode::OK
    );
    group.bench_function("StlockLayer, valid token", |b| {
        b.iter(|| call(&mut layered, black_box(request(Some(&bearer)))))
    });
    group.bench_function("StlockLayer, no token (401)", |b| {
        b.iter(|| call(&mut layered, black_box(request(None))))
    });

    // Auto-refresh on, the token not due: what every request but the rare refresh costs.
    let mut refreshing = auth
        .clone()
        .auto_refresh(AutoRefresh::cookies())
        .layer(handler());
    assert_eq!(
        call(&mut refreshing, request(Some(&bearer))).status(),
        StatusCode::OK
    );
    group.bench_function("StlockLayer with auto-refresh, token not due", |b| {
        b.iter(|| call(&mut refreshing, black_box(request(Some(&bearer)))))
    });
    group.finish();
}

criterion_group!(benches, decode, layer);
criterion_main!(benches);
