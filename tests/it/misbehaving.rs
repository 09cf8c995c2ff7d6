//! A service that misbehaves (errors that are not JSON, 5xx, truncated bodies, resets, silence):
//! the client, and the example app built on it, answer with a typed error in bounded time, and
//! nothing of the service reaches the app's own clients. (`GrantLayer` against the same
//! services is in `grant.rs`.)

use std::time::{Duration, Instant};

use http::StatusCode;
use stlock::{Client, Error, StlockLayer};

use crate::app::App;
use crate::support::http::{http, serve, Answer};
use crate::support::raw::{closed_port_endpoint, RawServer};
use crate::support::{OWNER, POOL, SECRET};

/// Each misbehaviour, with the endpoint of a fresh server showing it.
async fn misbehaving() -> Vec<(&'static str, String)> {
    vec![
        ("unreachable", closed_port_endpoint()),
        ("silent", RawServer::silent().await.endpoint()),
        ("reset", RawServer::reset().await.endpoint()),
        ("truncated", RawServer::truncated().await.endpoint()),
        ("endless", RawServer::endless_body().await.endpoint()),
        (
            "html 502",
            RawServer::answering(
                "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 20\r\n\r\n<h1>Bad Gateway</h1>",
            )
            .await
            .endpoint(),
        ),
        (
            "json 500",
            RawServer::json("500 Internal Server Error", r#"{"detail":"db at 10.0.0.7 is down"}"#)
                .await
                .endpoint(),
        ),
        (
            "not json 200",
            RawServer::answering("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!")
                .await
                .endpoint(),
        ),
    ]
}

const TIMEOUT: Duration = Duration::from_millis(500);

fn client_of(endpoint: &str) -> Client {
    let config = stlock::Config::builder()
        .endpoint(endpoint)
        .user_pool_id(POOL)
        .owner_id(OWNER)
        .api_key("key")
        .jwt_secret(SECRET)
        .timeout(TIMEOUT)
        .build()
        .unwrap();
    Client::new(config).unwrap()
}

#[tokio::test]
async fn the_client_answers_each_with_a_typed_error_in_bounded_time() {
    for (what, endpoint) in misbehaving().await {
        let started = Instant::now();
        let err = client_of(&endpoint).login("alice", "pw").await.unwrap_err();
        assert!(
            started.elapsed() < TIMEOUT * 4,
            "{what}: {:?}",
            started.elapsed()
        );
        let expected = match what {
            "unreachable" | "reset" | "truncated" => matches!(err, Error::Transport(_)),
            "silent" => matches!(err, Error::Timeout(_)),
            "endless" | "not json 200" => matches!(err, Error::UnexpectedResponse { .. }),
            _ => err.status().is_some_and(|status| status.is_server_error()),
        };
        assert!(expected, "{what}: {err:?}");
    }
}

#[tokio::test]
async fn the_example_app_answers_502_or_504_without_a_word_of_the_service() {
    for (what, endpoint) in misbehaving().await {
        let auth = StlockLayer::from_client(client_of(&endpoint));
        let base = serve(App::new(auth).router()).await;
        let started = Instant::now();
        let response = http()
            .post(format!("{base}/login"))
            .json(&serde_json::json!({"username": "alice", "password": "pw"}))
            .send()
            .await
            .unwrap();
        let answer = Answer::read(response).await;
        assert!(
            started.elapsed() < TIMEOUT * 4,
            "{what}: {:?}",
            started.elapsed()
        );
        // The service's refusals (4xx) are passed on, as the Python app does; its failures are
        // the app's gateway failing, with a message of the app's own.
        let expected = match what {
            "silent" => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        answer.assert_json_error(expected);
        for leak in ["127.0.0.1", "10.0.0.7", "http://", "<h1>", "not json"] {
            assert!(!answer.text.contains(leak), "{what}: {}", answer.text);
        }
    }
}
