//! Where the layer goes in an axum router decides what a wrong method answers: on the method
//! router, 405 whatever the token; on the router, the method router's 405 is behind the layer
//! too, so a request without a token answers 401. An unknown path is 404 either way.

use axum::routing::get;
use axum::Router;
use http::StatusCode;
use stlock::{Client, StlockLayer, StlockUser};

use crate::support::emulator::emulator;
use crate::support::http::{http, serve, Answer};

async fn me(user: StlockUser) -> String {
    user.user_id().to_owned()
}

#[tokio::test]
async fn a_wrong_method_answers_405_only_with_the_layer_on_the_method_router() {
    let emu = emulator().await;
    let auth = StlockLayer::from_client(Client::new(emu.config()).unwrap());
    let app = Router::new()
        .route("/me", get(me).route_layer(auth.clone()))
        .merge(Router::new().route("/orders", get(me)).route_layer(auth));
    let base = serve(app).await;
    let answer = |method: http::Method, path: &'static str| {
        let request = http().request(method, format!("{base}{path}"));
        async move { Answer::read(request.send().await.unwrap()).await.status }
    };
    assert_eq!(
        answer(http::Method::PUT, "/me").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        answer(http::Method::GET, "/me").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        answer(http::Method::PUT, "/orders").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        answer(http::Method::GET, "/nowhere").await,
        StatusCode::NOT_FOUND
    );
}
