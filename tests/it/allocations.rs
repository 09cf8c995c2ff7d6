//! `StlockLayer` adds no allocation to a request beyond decoding the token and storing the user
//! in the request's extensions: counted with a counting allocator, not timed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;

use crate::support::config_for;
use crate::support::forge::{access_token, call_ready as call};
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

#[test]
fn the_layer_allocates_only_for_decoding_and_the_extension() {
    let client = Client::new(config_for("http://127.0.0.1:1")).unwrap();
    let token = access_token();
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let request = || {
        let mut request = Request::new(Body::empty());
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, bearer.clone());
        request
    };

    // Warm up once-per-process state (lazy statics in dependencies) outside the counts.
    client.decode(&token).unwrap();
    let mut bare = handler();
    let mut layered = StlockLayer::from_client(client.clone()).layer(handler());
    call(&mut layered, request());

    let (_, decoding) = allocations(|| client.decode(&token).unwrap());
    let (response, baseline) = allocations(|| call(&mut bare, request()));
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "no layer, no user"
    );
    let (response, with_layer) = allocations(|| call(&mut layered, request()));
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the layer passed the user on"
    );

    // Storing one value in `http::Extensions` takes at most three allocations: the map's box,
    // its table, and the boxed value.
    const EXTENSION: usize = 3;
    assert!(decoding > 0);
    assert!(
        with_layer <= baseline + decoding + EXTENSION,
        "the layer made {with_layer} allocations; request and response alone {baseline}, \
         decoding {decoding}, extension {EXTENSION}"
    );
}
