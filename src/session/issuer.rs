//! Where a signed-in program's tokens come from: the STLock service through [`Client`] (for
//! backends that hold the owner's API key), or the app's own JSON endpoints ([`AppEndpoints`],
//! for programs in users' hands, which must never hold it).

use std::fmt;
use std::sync::Arc;

use http::StatusCode;
use serde::Serialize;

use crate::client::{read_capped, Client, Error, Refusal};
use crate::refresh::BoxFuture;
use crate::token::TokenPair;

/// How a [`Session`](super::Session) signs in, refreshes and signs out.
///
/// Implemented for [`Client`] (the STLock service itself, with the owner's API key) and for
/// [`AppEndpoints`] (an app's own `POST /login`, `/refresh` and `/logout`). Whatever the
/// implementation, it must tell a refusal of the refresh token ([`IssuerError::Refused`], which
/// ends the session) from a failure to ask ([`IssuerError::Unavailable`], which does not).
pub trait Issuer: Send + Sync + 'static {
    /// Signs in with a username and a password.
    fn sign_in<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<TokenPair, IssuerError>>;

    /// Exchanges a refresh token for a new pair; the old refresh token is spent.
    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
    ) -> BoxFuture<'a, Result<TokenPair, IssuerError>>;

    /// Revokes the session of a refresh token.
    fn sign_out<'a>(&'a self, refresh_token: &'a str) -> BoxFuture<'a, Result<(), IssuerError>>;
}

/// Why an [`Issuer`] gave no answer to use.
#[derive(Clone, Debug, thiserror::Error)]
pub enum IssuerError {
    /// The credentials or the refresh token were refused: for a refresh, the session is over.
    #[error("refused: {0}")]
    Refused(Arc<dyn std::error::Error + Send + Sync>),
    /// The issuer could not be asked, or answered something else than a refusal (a fault, a
    /// proxy's page): nothing is known of the session.
    #[error("unavailable: {0}")]
    Unavailable(Arc<dyn std::error::Error + Send + Sync>),
}

impl IssuerError {
    /// A refresh or sign-out that failed, classified as auto-refresh does: only the service
    /// refusing the token itself (or a token it could never take) ends the session; a wrong
    /// API key, a proxy's page or no answer does not.
    fn from_refresh(error: Error) -> Self {
        if error.is_invalid_input() || error.refusal().is_some_and(Refusal::ends_session) {
            IssuerError::Refused(Arc::new(error))
        } else {
            IssuerError::Unavailable(Arc::new(error))
        }
    }

    /// A sign-in that failed: the service's answer about the credentials (a 4xx other than a
    /// refusal of the app's own API key) is a refusal.
    fn from_sign_in(error: Error) -> Self {
        let about_credentials = error.is_invalid_input()
            || error.status().is_some_and(|status| {
                status.is_client_error()
                    && status != StatusCode::REQUEST_TIMEOUT
                    && status != StatusCode::TOO_MANY_REQUESTS
                    && !error.refusal().is_some_and(Refusal::is_configuration)
            });
        if about_credentials {
            IssuerError::Refused(Arc::new(error))
        } else {
            IssuerError::Unavailable(Arc::new(error))
        }
    }
}

impl Issuer for Client {
    fn sign_in<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<TokenPair, IssuerError>> {
        Box::pin(async move {
            self.login(username, password)
                .await
                .map_err(IssuerError::from_sign_in)
        })
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
    ) -> BoxFuture<'a, Result<TokenPair, IssuerError>> {
        Box::pin(async move {
            Client::refresh(self, refresh_token)
                .await
                .map_err(IssuerError::from_refresh)
        })
    }

    fn sign_out<'a>(&'a self, refresh_token: &'a str) -> BoxFuture<'a, Result<(), IssuerError>> {
        Box::pin(async move {
            self.logout(refresh_token)
                .await
                .map_err(IssuerError::from_refresh)
        })
    }
}

/// An app's own sign-in endpoints, by URL, as the axum example has them: `POST {base}/login`
/// with `{"username", "password"}`, `POST {base}/refresh` and `POST {base}/logout` with
/// `{"refresh_token"}`, the first two answering `{"access_token", "refresh_token"}`.
///
/// For programs in users' hands (a CLI, a desktop app): they hold no API key and no secret;
/// the app verifies every token. A `401` or `422` from the app is a refusal; anything else that
/// is not a pair (a `5xx`, a proxy's page, no answer) leaves the session as it is. As the
/// [`Client`] does, it follows no redirect (a followed one would carry the password or the
/// refresh token elsewhere: it is an answer that is not a pair) and reads no body larger than a
/// megabyte.
///
/// ```
/// use stlock::session::AppEndpoints;
///
/// let app = AppEndpoints::new("https://app.example.com/auth/")?;
/// # Ok::<(), stlock::session::InvalidEndpoint>(())
/// ```
#[derive(Clone)]
pub struct AppEndpoints {
    base: reqwest::Url,
    http: reqwest::Client,
}

/// A base URL that is not `http` or `https`.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the app's base URL must be an absolute http or https URL")]
pub struct InvalidEndpoint;

impl AppEndpoints {
    /// The endpoints under `base` (a trailing `/` or not), with a client of their own that gives
    /// each call 10 seconds and follows no redirect.
    pub fn new(base: &str) -> Result<Self, InvalidEndpoint> {
        let http = reqwest::Client::builder()
            .timeout(crate::config::DEFAULT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| InvalidEndpoint)?;
        Self::with_http_client(base, http)
    }

    /// The endpoints under `base`, called through `http` (its timeouts, TLS and proxy settings).
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`: an answer that comes from
    /// elsewhere than the endpoint is refused, but a redirect reqwest follows has carried the
    /// request's body there already.
    pub fn with_http_client(base: &str, http: reqwest::Client) -> Result<Self, InvalidEndpoint> {
        let mut base = reqwest::Url::parse(base).map_err(|_| InvalidEndpoint)?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(InvalidEndpoint);
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self { base, http })
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, IssuerError> {
        let unavailable = |error: AppError| IssuerError::Unavailable(Arc::new(error));
        let url = self
            .base
            .join(path)
            .map_err(|_| unavailable(AppError::Url))?;
        let body = serde_json::to_vec(body).map_err(|_| unavailable(AppError::Unexpected))?;
        let mut response = self
            .http
            .post(url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|error| unavailable(AppError::Transport(error.without_url())))?;
        let status = response.status();
        if status.is_redirection() || *response.url() != url {
            return Err(unavailable(AppError::Redirected(status)));
        }
        match status {
            status if status.is_success() => {
                let bytes = read_capped(&mut response)
                    .await
                    .map_err(|error| unavailable(AppError::Transport(error.without_url())))?
                    .ok_or_else(|| unavailable(AppError::TooLarge))?;
                serde_json::from_slice(&bytes).map_err(|_| unavailable(AppError::Unexpected))
            }
            status @ (StatusCode::UNAUTHORIZED | StatusCode::UNPROCESSABLE_ENTITY) => {
                Err(IssuerError::Refused(Arc::new(AppError::Status(status))))
            }
            status => Err(unavailable(AppError::Status(status))),
        }
    }
}

impl fmt::Debug for AppEndpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppEndpoints")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// What went wrong asking the app.
#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("the app answered {0}")]
    Status(StatusCode),
    #[error("the app could not be asked: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("the app answered something else than JSON of the expected shape")]
    Unexpected,
    #[error("the app answered a redirect ({0}), which is not followed")]
    Redirected(StatusCode),
    #[error("the app's answer is larger than a megabyte")]
    TooLarge,
    // The base was checked to be one an endpoint's name joins onto; kept rather than a panic.
    #[error("the endpoint's URL could not be made from the app's base URL")]
    Url,
}

#[derive(Serialize)]
struct Credentials<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct RefreshToken<'a> {
    refresh_token: &'a str,
}

impl Issuer for AppEndpoints {
    fn sign_in<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<TokenPair, IssuerError>> {
        Box::pin(async move {
            self.post("login", &Credentials { username, password })
                .await
        })
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
    ) -> BoxFuture<'a, Result<TokenPair, IssuerError>> {
        Box::pin(async move { self.post("refresh", &RefreshToken { refresh_token }).await })
    }

    fn sign_out<'a>(&'a self, refresh_token: &'a str) -> BoxFuture<'a, Result<(), IssuerError>> {
        Box::pin(async move {
            self.post::<serde_json::Value>("logout", &RefreshToken { refresh_token })
                .await
                .map(drop)
        })
    }
}
