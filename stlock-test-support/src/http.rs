//! Apps served on loopback, and their answers read back whole.

use std::net::SocketAddr;

use axum::Router;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;

/// Serves `app` on a fresh loopback port and returns its base URL. The listener is bound
/// before this returns, so the first request is accepted without any waiting.
pub async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// One HTTP client for a test.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// An answer read whole: status, headers, body as text and as JSON (`Null` if it is not JSON).
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// Every header.
    pub headers: HeaderMap,
    /// The body, as text.
    pub text: String,
    /// The body, as JSON; `Null` if it is not JSON.
    pub json: Value,
}

impl Answer {
    /// Reads `response` to its end.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    /// The value of the header `name`, if there is one (the first, if several).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    /// The `detail` of a JSON error; the test fails if there is none.
    pub fn detail(&self) -> &str {
        self.json["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no string detail in {} {}", self.status, self.text))
    }

    /// Asserts a JSON `{"detail"}` answer with this status.
    #[track_caller]
    pub fn assert_json_error(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        assert_eq!(
            self.json.as_object().map(|o| o.len()),
            Some(1),
            "{}",
            self.text
        );
        assert!(!self.detail().is_empty());
        self
    }
}

/// GET `url` with these headers.
pub async fn fetch(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = http().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Answer::read(request.send().await.expect("request is sent")).await
}

/// `("authorization", "Bearer <token>")`, for [`fetch`].
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Sends `method target` with `Authorization: Bearer <token>` over a plain socket, byte for
/// byte: an HTTP client library would normalise `..` and `%2e%2e` in the target before sending,
/// which is exactly what these requests must not have done to them.
pub async fn send_raw(base: &str, method: &str, target: &str, token: &str) -> (StatusCode, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {target} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        socket.read_to_end(&mut response),
    )
    .await
    .expect("the app answers and closes")
    .expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
