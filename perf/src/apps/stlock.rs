//! stlock's app: `StlockLayer` on the route, the handler takes `StlockUser`. And the plain axum
//! 0.8 app without it, which is also what the load server serves without authentication.

use std::hint::black_box;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use stlock::refresh::AutoRefresh;
use stlock::{Client, StlockLayer, StlockUser};

use super::PATH;
use crate::fixture;

async fn me(user: StlockUser) -> StatusCode {
    black_box(user.user_id());
    StatusCode::OK
}

async fn anonymous() -> StatusCode {
    StatusCode::OK
}

/// The layer as an app builds it from its configuration, with stlock's defaults: among them the
/// verified-token cache (`StlockLayer::token_cache`, on by default), which serves the
/// `stlock_layer_cached` entry's repeat token and which the fresh tokens of `stlock_layer` miss.
pub fn layer() -> StlockLayer {
    let client = Client::new(fixture::config()).expect("a client for the fixed pool");
    StlockLayer::from_client(client)
}

/// The route behind `layer`. Every app here ends with `with_state`, as `axum::serve` does:
/// without it axum builds a route's service (layers applied) anew for every request.
pub fn router(layer: StlockLayer) -> Router {
    Router::new()
        .route(PATH, get(me))
        .route_layer(layer)
        .with_state(())
}

/// The route behind the default layer with auto-refresh in cookie mode.
pub fn refreshing_router() -> Router {
    router(
        layer().auto_refresh(
            AutoRefresh::cookies()
                .build()
                .expect("valid auto-refresh settings"),
        ),
    )
}

/// The same route without authentication: the baseline of stlock's entries.
pub fn no_auth_router() -> Router {
    Router::new().route(PATH, get(anonymous)).with_state(())
}

/// The route without authentication, with a layer that does nothing on it: what axum charges
/// for a route layer, whatever the layer does.
pub fn no_auth_route_layer_router() -> Router {
    Router::new()
        .route(PATH, get(anonymous))
        .route_layer(tower::layer::util::Identity::new())
        .with_state(())
}
