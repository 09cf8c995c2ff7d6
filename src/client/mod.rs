//! [`Client`]: the async client for every operation of the STLock v0 user API, and its one
//! [`Error`] type.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{header, HeaderValue, Method, StatusCode};
use reqwest::Url;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::config::Config;
use crate::token::{Claims, DecodeError, TokenDecoder, TokenPair, MAX_TOKEN_LEN};
use crate::user::{Registration, User};

mod error;

pub use error::{Error, Refusal, ServiceError};

/// Largest answer body read from the service; real answers are well under a kilobyte, so more
/// than this is a broken or hostile server, not a bigger answer.
const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// The operations of the v0 API, with their method and path below `{endpoint}/api/v0/users/`.
#[derive(Clone, Copy)]
enum Operation {
    Register,
    Login,
    Refresh,
    Logout,
    Grant,
    UpdateUsername,
    UpdateEmail,
    UpdatePassword,
}

impl Operation {
    const ALL: [Operation; 8] = [
        Operation::Register,
        Operation::Login,
        Operation::Refresh,
        Operation::Logout,
        Operation::Grant,
        Operation::UpdateUsername,
        Operation::UpdateEmail,
        Operation::UpdatePassword,
    ];

    fn method(self) -> Method {
        match self {
            Operation::Refresh => Method::GET,
            Operation::UpdateUsername | Operation::UpdateEmail | Operation::UpdatePassword => {
                Method::PATCH
            }
            _ => Method::POST,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Operation::Register => "api/v0/users/register",
            Operation::Login => "api/v0/users/login",
            Operation::Refresh => "api/v0/users/refresh",
            Operation::Logout => "api/v0/users/logout",
            Operation::Grant => "api/v0/users/grant",
            Operation::UpdateUsername => "api/v0/users/username",
            Operation::UpdateEmail => "api/v0/users/email",
            Operation::UpdatePassword => "api/v0/users/password",
        }
    }
}

/// The async STLock client: every operation of the v0 API, and token verification.
///
/// One pooled HTTP client inside; `Clone` is a reference-count increment, so build it once and
/// share it (the [`TokenDecoder`] is inside too). `Debug` never shows the API key or the secret.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use stlock::{Client, Config, Registration};
///
/// let client = Client::new(Config::from_env()?)?;
/// client.register(&Registration::new("alice", "alice@example.com", "79111111111", "s3cret")).await?;
/// let tokens = client.login("alice", "s3cret").await?;
/// let claims = client.decode(&tokens.access_token)?;
/// println!("signed in as {}", claims.sub);
/// let tokens = client.refresh(&tokens.refresh_token).await?;
/// client.logout(&tokens.refresh_token).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: Config,
    decoder: TokenDecoder,
    api_key: HeaderValue,
    urls: [Url; Operation::ALL.len()],
}

impl Client {
    /// Builds a client with its own connection pool, timing out each call after
    /// [`Config::timeout`] and following no redirect: every call carries the API key and many a
    /// password or token, which must reach the configured endpoint and nothing else. A redirect
    /// answer is [`Error::Redirected`].
    pub fn new(config: Config) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stlock/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(Error::Builder)?;
        Ok(Self::with_http_client(config, http))
    }

    /// Builds a client on an existing `reqwest` client, to share its connection pool. The
    /// timeout of [`Config::timeout`] still applies to every call.
    ///
    /// Build that client with `.redirect(reqwest::redirect::Policy::none())`: reqwest follows
    /// redirects by default, and a followed redirect carries the API key and the request body
    /// (passwords, tokens) to wherever the service points. stlock cannot stop a client it did not
    /// build from following one; it refuses the answer ([`Error::Redirected`]) once it sees the
    /// response came from elsewhere.
    pub fn with_http_client(config: Config, http: reqwest::Client) -> Self {
        let urls = Operation::ALL.map(|op| {
            // The endpoint is a checked base URL ending in `/` and the paths are constant,
            // so joining cannot fail; fall back to the endpoint itself just in case.
            config
                .endpoint()
                .join(op.path())
                .unwrap_or_else(|_| config.endpoint().clone())
        });
        let mut api_key = HeaderValue::from_str(config.api_key().expose())
            // `Config` only accepts visible ASCII keys, which are always valid header values.
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        api_key.set_sensitive(true);
        Self {
            inner: Arc::new(Inner {
                http,
                decoder: TokenDecoder::new(&config),
                config,
                api_key,
                urls,
            }),
        }
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The token decoder, prepared once from the configuration.
    pub fn decoder(&self) -> &TokenDecoder {
        &self.inner.decoder
    }

    /// Verifies an access token locally and returns its claims (the Python `decode`).
    pub fn decode(&self, access_token: &str) -> Result<Claims, DecodeError> {
        self.inner.decoder.decode_access(access_token)
    }

    /// Creates a user in the pool (`POST /register`).
    pub async fn register(&self, registration: &Registration) -> Result<User, Error> {
        require("username", &registration.username)?;
        require("email", &registration.email)?;
        require("phone", &registration.phone)?;
        require("password", registration.password.expose())?;
        #[derive(Serialize)]
        struct Body<'a> {
            user_pool_id: &'a str,
            owner_id: &'a str,
            username: &'a str,
            email: &'a str,
            phone: &'a str,
            password: &'a str,
        }
        let body = Body {
            user_pool_id: self.config().user_pool_id(),
            owner_id: self.config().owner_id(),
            username: &registration.username,
            email: &registration.email,
            phone: &registration.phone,
            password: registration.password.expose(),
        };
        self.call_json(Operation::Register, None, Some(&body)).await
    }

    /// Signs a user in and returns a fresh token pair (`POST /login`).
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenPair, Error> {
        require("username", username)?;
        require("password", password)?;
        #[derive(Serialize)]
        struct Body<'a> {
            user_pool_id: &'a str,
            owner_id: &'a str,
            username: &'a str,
            password: &'a str,
        }
        let body = Body {
            user_pool_id: self.config().user_pool_id(),
            owner_id: self.config().owner_id(),
            username,
            password,
        };
        self.call_json(Operation::Login, None, Some(&body)).await
    }

    /// Exchanges a refresh token for a new pair (`GET /refresh`). The old refresh token is dead
    /// afterwards: keep the new one.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, Error> {
        let token = bearer("refresh_token", refresh_token)?;
        self.call_json(Operation::Refresh, Some(token), None::<&()>)
            .await
    }

    /// Revokes a refresh token: the user is signed out (`POST /logout`).
    pub async fn logout(&self, refresh_token: &str) -> Result<(), Error> {
        let token = bearer("refresh_token", refresh_token)?;
        self.call(Operation::Logout, Some(token), None::<&()>)
            .await
            .map(drop)
    }

    /// Asks whether the token's user may call `method` on `path` (`POST /grant`).
    ///
    /// A denial is an answer, not an error: it comes back as `allowed: false`, whether the
    /// service says so with `200 {"allowed": false}` or with a `403` and a JSON body (whose
    /// `detail` is kept in [`GrantDecision::detail`]), since which of the two the real service
    /// sends is not known.
    pub async fn check_grant(
        &self,
        access_token: &str,
        method: &Method,
        path: &str,
    ) -> Result<GrantDecision, Error> {
        let token = bearer("access_token", access_token)?;
        if path.chars().any(char::is_control) {
            return Err(Error::InvalidInput {
                field: "path",
                reason: "must not contain control characters",
            });
        }
        #[derive(Serialize)]
        struct Body<'a> {
            method: &'a str,
            path: &'a str,
        }
        let body = Body {
            method: method.as_str(),
            path,
        };
        match self
            .call_json(Operation::Grant, Some(token), Some(&body))
            .await
        {
            Err(Error::Service(refusal))
                if refusal.status() == StatusCode::FORBIDDEN && refusal.is_json() =>
            {
                Ok(GrantDecision {
                    allowed: false,
                    method: method.as_str().to_owned(),
                    path: path.to_owned(),
                    detail: refusal.detail().map(str::to_owned),
                })
            }
            answer => answer,
        }
    }

    /// Changes the signed-in user's username (`PATCH /username`) and returns the updated user.
    pub async fn update_username(&self, access_token: &str, username: &str) -> Result<User, Error> {
        self.update_profile(
            Operation::UpdateUsername,
            access_token,
            "username",
            username,
        )
        .await
    }

    /// Changes the signed-in user's e-mail address (`PATCH /email`) and returns the updated user.
    pub async fn update_email(&self, access_token: &str, email: &str) -> Result<User, Error> {
        self.update_profile(Operation::UpdateEmail, access_token, "email", email)
            .await
    }

    /// Changes the signed-in user's password (`PATCH /password`) and returns the user.
    ///
    /// The service revokes the user's refresh tokens: every session must sign in again.
    pub async fn update_password(
        &self,
        access_token: &str,
        old_password: &str,
        new_password: &str,
    ) -> Result<User, Error> {
        let token = bearer("access_token", access_token)?;
        require("old_password", old_password)?;
        require("new_password", new_password)?;
        #[derive(Serialize)]
        struct Body<'a> {
            old_password: &'a str,
            new_password: &'a str,
        }
        let body = Body {
            old_password,
            new_password,
        };
        self.call_json(Operation::UpdatePassword, Some(token), Some(&body))
            .await
    }

    /// `PATCH`es one profile field; the body is `{"user_pool_id": …, field: value}`.
    async fn update_profile(
        &self,
        op: Operation,
        access_token: &str,
        field: &'static str,
        value: &str,
    ) -> Result<User, Error> {
        let token = bearer("access_token", access_token)?;
        require(field, value)?;
        let body = BTreeMap::from([
            ("user_pool_id", self.config().user_pool_id()),
            (field, value),
        ]);
        self.call_json(op, Some(token), Some(&body)).await
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        op: Operation,
        token: Option<HeaderValue>,
        body: Option<&impl Serialize>,
    ) -> Result<T, Error> {
        let (status, bytes) = self.call(op, token, body).await?;
        serde_json::from_slice(&bytes).map_err(|err| Error::UnexpectedResponse {
            status,
            reason: err.to_string(),
        })
    }

    /// Sends one call and returns the status and body of a success; an error status becomes
    /// [`Error::Service`].
    async fn call(
        &self,
        op: Operation,
        token: Option<HeaderValue>,
        body: Option<&impl Serialize>,
    ) -> Result<(StatusCode, Vec<u8>), Error> {
        let inner = &*self.inner;
        let mut request = inner
            .http
            .request(op.method(), inner.urls[op as usize].clone())
            .timeout(inner.config.timeout())
            .header("x-api-key", inner.api_key.clone());
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, token);
        }
        if let Some(body) = body {
            let json = serde_json::to_vec(body).map_err(|_| Error::InvalidInput {
                field: "body",
                reason: "cannot be serialised to JSON",
            })?;
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(json);
        }
        let mut response = request.send().await.map_err(|err| self.transport(err))?;
        let status = response.status();
        // With the client of `new` a redirect arrives as it is; with one given to
        // `with_http_client` it may have been followed already, which shows in the URL.
        if status.is_redirection() || *response.url() != inner.urls[op as usize] {
            return Err(Error::Redirected { status });
        }
        let Some(bytes) = read_capped(&mut response)
            .await
            .map_err(|err| self.transport(err))?
        else {
            return Err(Error::UnexpectedResponse {
                status,
                reason: format!("the body is larger than {MAX_RESPONSE_BODY} bytes"),
            });
        };
        if status.is_success() {
            Ok((status, bytes))
        } else {
            Err(Error::Service(ServiceError::new(status, &bytes)))
        }
    }

    fn transport(&self, err: reqwest::Error) -> Error {
        if err.is_timeout() {
            Error::Timeout(self.inner.config.timeout())
        } else {
            Error::Transport(err)
        }
    }
}

fn require(field: &'static str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::InvalidInput {
            field,
            reason: "must not be empty",
        });
    }
    Ok(())
}

/// Checks that a token looks like a JWT and turns it into a sensitive `Authorization` value,
/// with the lower-case scheme word the service's own client sends.
fn bearer(field: &'static str, token: &str) -> Result<HeaderValue, Error> {
    let invalid = |reason| Err(Error::InvalidInput { field, reason });
    if token.is_empty() {
        return invalid("must not be empty");
    }
    if token.len() > MAX_TOKEN_LEN {
        return invalid("is longer than any STLock token");
    }
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
    {
        return invalid("is not a JWT: it holds characters outside base64url and `.`");
    }
    let mut value = HeaderValue::from_str(&format!("bearer {token}"))
        .or_else(|_| invalid("cannot be sent in a header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The service's answer to a grant check (`POST /grant`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantDecision {
    /// Whether the user's policies allow the call.
    pub allowed: bool,
    /// The method that was checked, upper-case.
    #[serde(default)]
    pub method: String,
    /// The path that was checked.
    #[serde(default)]
    pub path: String,
    /// The service's explanation, when it gave one (a denial answered with 403 has its
    /// `detail` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A response's body, read chunk by chunk up to [`MAX_RESPONSE_BODY`] bytes: `None` when it is
/// larger, so that a server (or whatever answers in its place) cannot make a caller hold an
/// endless body in memory.
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BODY {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_refuses_what_is_not_a_jwt() {
        for token in [
            "",
            "a b",
            "a\nb",
            "ey.ey.sig;drop",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            let err = bearer("access_token", token).unwrap_err();
            assert!(err.is_invalid_input(), "{token:?}");
        }
        let value = bearer("access_token", "aa.bb.cc").unwrap();
        assert_eq!(value.to_str().unwrap(), "bearer aa.bb.cc");
        assert!(value.is_sensitive());
    }

    #[test]
    fn every_operation_has_the_documented_method() {
        let table: Vec<_> = Operation::ALL
            .iter()
            .map(|op| (op.method(), op.path()))
            .collect();
        assert_eq!(
            table,
            [
                (Method::POST, "api/v0/users/register"),
                (Method::POST, "api/v0/users/login"),
                (Method::GET, "api/v0/users/refresh"),
                (Method::POST, "api/v0/users/logout"),
                (Method::POST, "api/v0/users/grant"),
                (Method::PATCH, "api/v0/users/username"),
                (Method::PATCH, "api/v0/users/email"),
                (Method::PATCH, "api/v0/users/password"),
            ]
        );
    }
}
