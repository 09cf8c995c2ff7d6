//! Raw HTTP helpers for the emulator tests: they speak the wire, not `stlock::Client`.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stlock_emulator::{Credentials, Emulator, EmulatorBuilder, HashCost};

pub async fn fast_emulator() -> Emulator {
    fast_emulator_with(Emulator::builder()).await
}

/// `builder` with cheap hashing, started.
pub async fn fast_emulator_with(builder: EmulatorBuilder) -> Emulator {
    builder
        .hash_cost(HashCost::Fast)
        .start()
        .await
        .expect("the emulator starts")
}

/// One answer: status and JSON body (every answer of the emulator has one).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: Option<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn detail(&self) -> &str {
        self.body["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no string detail in {self:?}"))
    }

    /// Asserts the status and that the body is `{"detail": "<text>"}`.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode) -> &str {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/json"),
            "{self:?}"
        );
        let object = self.body.as_object().expect("a JSON object");
        assert_eq!(object.len(), 1, "only `detail`: {self:?}");
        self.detail()
    }

    #[track_caller]
    pub fn assert_ok(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        &self.body
    }
}

/// A raw caller of one emulator, acting with one set of credentials.
#[derive(Clone)]
pub struct Wire {
    pub http: reqwest::Client,
    pub creds: Credentials,
}

impl Wire {
    pub fn new(creds: &Credentials) -> Self {
        Self {
            http: reqwest::Client::new(),
            creds: creds.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.creds.endpoint)
    }

    /// Sends `body` as is, with no `Content-Type` (as the Python client does), the API key,
    /// and `authorization` if given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<String>,
    ) -> Answer {
        let key = Some(self.creds.api_key.expose());
        self.send_with_key(key, method, path, authorization, body)
            .await
    }

    /// A call with no `x-api-key` at all (and no body).
    pub async fn send_without_key(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
    ) -> Answer {
        self.send_with_key(None, method, path, authorization, None)
            .await
    }

    async fn send_with_key(
        &self,
        api_key: Option<&str>,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<String>,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = api_key {
            request = request.header("x-api-key", key);
        }
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        read(request.send().await.expect("the emulator answers")).await
    }

    pub async fn register(
        &self,
        username: &str,
        email: &str,
        phone: &str,
        password: &str,
    ) -> Answer {
        let body = json!({
            "user_pool_id": self.creds.user_pool_id, "owner_id": self.creds.owner_id,
            "username": username, "email": email, "phone": phone, "password": password,
        });
        self.send(
            Method::POST,
            "/api/v0/users/register",
            None,
            Some(body.to_string()),
        )
        .await
    }

    /// Registers `name` with derived email and phone; returns the user object.
    pub async fn register_named(&self, name: &str, phone: &str) -> Value {
        self.register(name, &format!("{name}@example.com"), phone, "test")
            .await
            .assert_ok(StatusCode::CREATED)
            .clone()
    }

    pub async fn login(&self, username: &str, password: &str) -> Answer {
        let body = json!({
            "user_pool_id": self.creds.user_pool_id, "owner_id": self.creds.owner_id,
            "username": username, "password": password,
        });
        self.send(
            Method::POST,
            "/api/v0/users/login",
            None,
            Some(body.to_string()),
        )
        .await
    }

    /// Logs in and returns (access, refresh).
    pub async fn tokens(&self, username: &str, password: &str) -> (String, String) {
        let answer = self.login(username, password).await;
        let body = answer.assert_ok(StatusCode::OK);
        (
            body["access_token"]
                .as_str()
                .expect("access token")
                .to_owned(),
            body["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
        )
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        let bearer = format!("bearer {refresh_token}");
        self.send(Method::GET, "/api/v0/users/refresh", Some(&bearer), None)
            .await
    }

    pub async fn logout(&self, refresh_token: &str) -> Answer {
        let bearer = format!("bearer {refresh_token}");
        self.send(Method::POST, "/api/v0/users/logout", Some(&bearer), None)
            .await
    }

    pub async fn grant(&self, access_token: &str, method: &str, path: &str) -> Answer {
        let bearer = format!("bearer {access_token}");
        let body = json!({ "method": method, "path": path }).to_string();
        self.send(
            Method::POST,
            "/api/v0/users/grant",
            Some(&bearer),
            Some(body),
        )
        .await
    }

    /// Whether a grant check answers 200 with `allowed: true`.
    pub async fn allowed(&self, access_token: &str, method: &str, path: &str) -> bool {
        let answer = self.grant(access_token, method, path).await;
        answer.assert_ok(StatusCode::OK)["allowed"]
            .as_bool()
            .expect("allowed is a bool")
    }

    pub async fn patch(&self, access_token: &str, field: &str, body: Value) -> Answer {
        let bearer = format!("bearer {access_token}");
        self.send(
            Method::PATCH,
            &format!("/api/v0/users/{field}"),
            Some(&bearer),
            Some(body.to_string()),
        )
        .await
    }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().expect("ascii").to_owned());
    let bytes = response.bytes().await.expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
        panic!(
            "{status}: body is not JSON ({err}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Answer {
        status,
        body,
        content_type,
        headers,
    }
}

/// Waits for every task, in order.
pub async fn join_all<T: Send + 'static>(
    tasks: impl IntoIterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.into_iter().collect::<Vec<_>>() {
        results.push(task.await.expect("the task finishes"));
    }
    results
}
