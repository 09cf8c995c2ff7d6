//! `Authorization` and `Cookie` headers of any bytes, through `StlockLayer`: nothing panics, and
//! every answer is the handler's (200) or a rejection (400 or 401).
#![no_main]

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use axum_core::body::Body;
use http::{header, HeaderValue, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use stlock::{Client, Config, StlockLayer, TokenSource};
use tower::{Layer, Service};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    authorization: Vec<&'a [u8]>,
    cookies: Vec<&'a [u8]>,
    cookie_name: &'a str,
    /// A request that changes state, judged by where it says it comes from.
    post: bool,
    origin: Vec<&'a [u8]>,
    sec_fetch_site: Vec<&'a [u8]>,
    host: Vec<&'a [u8]>,
}

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let config = Config::builder()
            .endpoint("http://127.0.0.1:1")
            .user_pool_id("0e2173b5-b55f-4ea4-bec5-450e2c12a458")
            .owner_id("b3893a06-5931-4160-9e62-938ab173b6c8")
            .api_key("key")
            .jwt_secret("0123456789abcdef0123456789abcdef")
            .build()
            .expect("a valid configuration");
        Client::new(config).expect("a client")
    })
}

fuzz_target!(|input: Input<'_>| {
    let layer = StlockLayer::from_client(client().clone()).token_sources([
        TokenSource::AuthorizationHeader,
        TokenSource::cookie(input.cookie_name),
    ]);
    let mut service = layer.layer(tower::service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    }));
    let mut request = Request::new(Body::empty());
    if input.post {
        *request.method_mut() = http::Method::POST;
    }
    for (name, values) in [
        (header::AUTHORIZATION, &input.authorization),
        (header::COOKIE, &input.cookies),
        (header::ORIGIN, &input.origin),
        (
            header::HeaderName::from_static("sec-fetch-site"),
            &input.sec_fetch_site,
        ),
        (header::HOST, &input.host),
    ] {
        for value in values {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                request.headers_mut().append(name.clone(), value);
            }
        }
    }
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let Poll::Ready(Ok(response)) = pin!(service.call(request)).poll(&mut cx) else {
        panic!("the layer answers at once");
    };
    assert!(
        [
            StatusCode::OK,
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN
        ]
        .contains(&response.status()),
        "{}",
        response.status()
    );
});
