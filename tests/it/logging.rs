//! Rejections are logged at debug level with their reason, and never with the token.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::support::forge::{access_claims_of, call_ready, sign};
use crate::support::{config_for, OWNER, POOL};
use axum::body::Body;
use http::{header, HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::Algorithm;
use stlock::{Client, StlockLayer};
use tower::Layer;
use tracing::Level;

/// Everything the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn reject_logged(level: Level, token: &str) -> (StatusCode, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
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
    let status = tracing::subscriber::with_default(subscriber, || {
        call_ready(&mut service, request).status()
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (status, log)
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
