//! What `StlockLayer` allocates per request, counted with a counting allocator, not timed: for a
//! repeat token, only the slot of the user in the request's extensions; for a fresh one, also
//! its claims. Decoding itself allocates nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;

use crate::support::config_for;
use crate::support::forge::{access_token, access_token_with_jti, call_ready as call};
use axum::body::Body;
use http::{header, HeaderValue, Request, Response, StatusCode};
use stlock::{Client, StlockLayer, StlockUser};
use tower::{Layer, Service};

/// Counts allocations made on the current thread while counting is switched on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations<T>(work: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let out = work();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get))
}

/// A handler that only checks it was given the user.
fn handler(
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Unpin> + Clone
{
    tower::service_fn(|request: Request<Body>| {
        let status = match request.extensions().get::<StlockUser>() {
            Some(_) => StatusCode::OK,
            None => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        std::future::ready(Ok(response))
    })
}

/// The claims' five strings, and the `Arc` the user and the cache share them through.
const CLAIMS: usize = 5 + 1;

/// What storing one value of a user's size in a request's `http::Extensions` allocates: its
/// map, and the boxed value.
fn extension_cost() -> usize {
    allocations(|| {
        let mut request = Request::new(());
        request.extensions_mut().insert([0u64; 8]);
        request
    })
    .1
}

#[test]
fn a_repeat_token_costs_no_allocation_but_the_extension_and_a_fresh_one_only_its_claims() {
    let client = Client::new(config_for("http://127.0.0.1:1")).unwrap();
    let bearer = |token: &str| HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let request = |authorization: &HeaderValue| {
        let mut request = Request::new(Body::empty());
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, authorization.clone());
        request
    };
    let token = bearer(&access_token());
    let other = bearer(&access_token_with_jti("an-other-token"));

    // Warm up once-per-process state (lazy statics in dependencies) outside the counts.
    let mut bare = handler();
    let mut layered = StlockLayer::from_client(client.clone()).layer(handler());
    let mut uncached = StlockLayer::from_client(client.clone())
        .token_cache(0)
        .layer(handler());
    call(&mut layered, request(&other));
    call(&mut uncached, request(&other));

    let (response, baseline) = allocations(|| call(&mut bare, request(&token)));
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "no layer, no user"
    );
    let extension = extension_cost();
    let raw = access_token();
    let (_, decoding) = allocations(|| client.decode(&raw));
    assert_eq!(
        decoding, 5,
        "the decoder allocates the claims' five strings, nothing else"
    );

    // Without the cache, a request pays for its claims (and the `Arc` that shares them) and
    // for the extension, nothing more.
    let (response, uncached_cost) = allocations(|| call(&mut uncached, request(&token)));
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the layer passed the user on"
    );
    assert!(
        uncached_cost <= baseline + CLAIMS + extension,
        "{uncached_cost} allocations: request and response {baseline}, claims {CLAIMS}, \
         extension {extension}"
    );
    // With it: a first sighting costs the same (it is only noted); the second takes the token
    // in (its copy and the entry); from then on a request costs nothing for its claims.
    let (_, fresh) = allocations(|| call(&mut layered, request(&token)));
    assert_eq!(fresh, uncached_cost);
    let (_, admitted) = allocations(|| call(&mut layered, request(&token)));
    assert_eq!(admitted, uncached_cost + 2);
    for _ in 0..3 {
        let (response, repeat) = allocations(|| call(&mut layered, request(&token)));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            repeat,
            uncached_cost - CLAIMS,
            "a repeat token allocates no claims"
        );
        assert!(repeat <= baseline + extension);
    }
}
