//! Rejections are logged at debug level with their reason, and never with the token.

use crate::app::App;
use crate::support::forge::{access_claims_of, call_ready, sign};
use crate::support::http::{fetch, serve};
use crate::support::logs::capture;
use crate::support::raw::closed_port_endpoint;
use crate::support::{config_for, OWNER, POOL, SECRET};
use axum::body::Body;
use http::{header, HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::Algorithm;
use stlock::{Client, StlockLayer};
use tower::Layer;
use tracing::Level;

fn reject_logged(level: Level, token: &str) -> (StatusCode, String) {
    let client = Client::new(config_for("http://127.0.0.1:1")).unwrap();
    let mut service =
        StlockLayer::from_client(client).layer(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        }));
    let mut request = Request::new(Body::empty());
    request.headers_mut().insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let (response, log) = capture(level, || call_ready(&mut service, request));
    (response.status(), log)
}

#[test]
fn a_rejection_is_logged_at_debug_with_its_reason_but_not_the_token() {
    // Signed with another secret: a real-looking token that must not reach the log.
    let claims = access_claims_of(OWNER, POOL, "user-1");
    let token = sign(
        &claims,
        "another-secret-of-at-least-32-bytes!",
        Algorithm::HS256,
    );

    let (status, log) = reject_logged(Level::DEBUG, &token);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(log.contains("DEBUG"), "{log}");
    assert!(log.contains("stlock rejected a request"), "{log}");
    assert!(log.contains("signature is invalid"), "{log}");
    for part in token.split('.') {
        assert!(!log.contains(part), "a part of the token was logged: {log}");
    }

    let (status, log) = reject_logged(Level::INFO, &token);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        log.is_empty(),
        "rejections are not logged above debug: {log}"
    );
}

#[test]
fn a_failed_grant_check_is_logged_at_warn_with_the_cause_the_client_is_not_shown() {
    let endpoint = closed_port_endpoint();
    let port = endpoint
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let claims = access_claims_of(OWNER, POOL, "user-1");
    let token = sign(&claims, SECRET, Algorithm::HS256);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (answer, log) = capture(Level::WARN, || {
        runtime.block_on(async {
            let auth = StlockLayer::new(config_for(&endpoint)).unwrap();
            let base = serve(App::new(auth).router()).await;
            fetch(
                &format!("{base}/orders/1"),
                &[("authorization", &format!("Bearer {token}"))],
            )
            .await
        })
    });
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!answer.text.contains(&port), "{}", answer.text);
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("stlock refused a request"), "{log}");
    assert!(log.contains("could not reach the STLock service"), "{log}");
    for part in token.split('.') {
        assert!(!log.contains(part), "a part of the token was logged: {log}");
    }
}
