//! The one error type of the client, and the service's own error answers.

use std::time::Duration;

use http::StatusCode;

/// Why a call to the STLock service failed.
///
/// The variants separate what the caller can act on: the service said no ([`Error::Service`]),
/// it did not answer in time ([`Error::Timeout`]), it could not be reached
/// ([`Error::Transport`]), it pointed elsewhere ([`Error::Redirected`]), the call was refused
/// before it was sent ([`Error::InvalidInput`]), or it answered success with a body that is not
/// what the protocol promises ([`Error::UnexpectedResponse`]). The `is_*` helpers ask the same questions without a `match`.
///
/// ```
/// # async fn run(client: stlock::Client) {
/// match client.login("alice", "wrong").await {
///     Ok(pair) => { /* signed in */ }
///     Err(err) if err.status() == Some(http::StatusCode::UNAUTHORIZED) => { /* bad password */ }
///     Err(err) if err.is_timeout() || err.is_transport() => { /* try again later */ }
///     Err(err) => eprintln!("login failed: {err}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service answered with an error status.
    #[error("{0}")]
    Service(ServiceError),
    /// No complete answer arrived within the configured timeout.
    #[error("the STLock service did not answer within {0:?}")]
    Timeout(Duration),
    /// The service could not be reached, or the connection broke.
    #[error("could not reach the STLock service: {0}")]
    Transport(#[source] reqwest::Error),
    /// The HTTP client could not be built ([`Client::new`](crate::client::Client::new)): no call
    /// was made, and none can be with this client.
    #[error("could not build the HTTP client: {0}")]
    Builder(#[source] reqwest::Error),
    /// The service answered with a redirect, which stlock does not follow: the call carries the
    /// API key and often a password or a token, meant for the configured endpoint only. (With a
    /// client given to [`Client::with_http_client`](crate::client::Client::with_http_client) that
    /// follows redirects, the answer came from elsewhere; `status` is that answer's.)
    #[error("the STLock service answered {status} with a redirect, which stlock does not follow")]
    Redirected {
        /// The status received.
        status: StatusCode,
    },
    /// The call was not sent because an argument is unusable.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which argument.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The service answered success, but not with the body the protocol promises.
    #[error("the STLock service answered {status} with a body stlock cannot read: {reason}")]
    UnexpectedResponse {
        /// The status received.
        status: StatusCode,
        /// What did not match.
        reason: String,
    },
}

impl Error {
    /// The service answered with an error status.
    pub fn is_service(&self) -> bool {
        matches!(self, Error::Service(_))
    }

    /// No answer arrived in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// The service could not be reached.
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport(_))
    }

    /// The HTTP client could not be built.
    pub fn is_builder(&self) -> bool {
        matches!(self, Error::Builder(_))
    }

    /// The service answered with a redirect, which was not followed.
    pub fn is_redirect(&self) -> bool {
        matches!(self, Error::Redirected { .. })
    }

    /// The call was refused before it was sent.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::InvalidInput { .. })
    }

    /// The service answered success with an unreadable body.
    pub fn is_unexpected_response(&self) -> bool {
        matches!(self, Error::UnexpectedResponse { .. })
    }

    /// The HTTP status the service answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Service(err) => Some(err.status),
            Error::UnexpectedResponse { status, .. } | Error::Redirected { status } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// What the service's refusal says about the session, for a 401 or 403: see [`Refusal`].
    pub fn refusal(&self) -> Option<Refusal> {
        self.service_error().and_then(ServiceError::refusal)
    }

    /// The service's error answer, if that is what this is.
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(err) => Some(err),
            _ => None,
        }
    }
}

/// An error answer from the service: its status, its `detail` and the raw body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceError {
    status: StatusCode,
    detail: Option<String>,
    body: String,
    json: bool,
}

impl ServiceError {
    /// Reads an error answer of any shape: `{"detail": "..."}`, a validation list under
    /// `detail`, other JSON, or no JSON at all.
    pub(crate) fn new(status: StatusCode, body: &[u8]) -> Self {
        let json = serde_json::from_slice::<serde_json::Value>(body).ok();
        Self {
            status,
            detail: json
                .as_ref()
                .and_then(|json| json.get("detail").map(detail_text)),
            body: String::from_utf8_lossy(body).into_owned(),
            json: json.is_some(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `detail` of a JSON error body, as text; `None` when the body has none.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Whether the body is JSON (a proxy's or a gateway's error page is not).
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The body exactly as received (invalid UTF-8 replaced).
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// What a refusal from the service (a 401 or 403) says about the session, read from the whole
/// answer: its status, that its body is JSON with a `detail`, and what the detail says.
///
/// The service's wire does not document its error answers, so only answers recognised as the
/// service speaking about the token or the user end a session; anything else — a proxy's or a
/// firewall's page, an answer about the API key or the owner, an unfamiliar text — is a fault,
/// and a fault never signs anyone out. The emulator's answers are the reference (see its
/// README).
///
/// | status | body | `detail` mentions | refusal | the session |
/// |---|---|---|---|---|
/// | 401 or 403 | JSON | the owner | [`ForeignOwner`](Self::ForeignOwner) | kept: a configuration fault |
/// | 401 or 403 | JSON | the API key | [`ApiKey`](Self::ApiKey) | kept: a configuration fault |
/// | 401 or 403 | JSON | a token already used, reused | [`ReusedToken`](Self::ReusedToken) | ends |
/// | 401 or 403 | JSON | a token revoked, expired, invalid or not valid | [`Token`](Self::Token) | ends |
/// | 401 or 403 | JSON | a user blocked, disabled or deactivated | [`BlockedUser`](Self::BlockedUser) | ends |
/// | anything else | | | [`Unrecognised`](Self::Unrecognised) | kept: a fault |
///
/// ```
/// use stlock::client::Refusal;
///
/// assert!(Refusal::Token.ends_session());
/// assert!(!Refusal::ApiKey.ends_session());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The service refused the token itself: revoked, expired or not valid.
    Token,
    /// The service refused a refresh token that was already used: its reuse detection has ended
    /// the session, and someone may hold a stolen copy.
    ReusedToken,
    /// The user is blocked.
    BlockedUser,
    /// The API key is missing or wrong: the app is misconfigured, the user did nothing wrong.
    ApiKey,
    /// The API key belongs to another owner than the token: the app is misconfigured.
    ForeignOwner,
    /// Not an answer recognised as the service's: a proxy, a gateway or a firewall, or a text
    /// this version does not know.
    Unrecognised,
}

impl Refusal {
    /// Whether the service has ended the session: only then does a refresh sign the user out.
    pub fn ends_session(self) -> bool {
        matches!(
            self,
            Refusal::Token | Refusal::ReusedToken | Refusal::BlockedUser
        )
    }

    /// Whether the app's own configuration is at fault (the API key or the owner).
    pub fn is_configuration(self) -> bool {
        matches!(self, Refusal::ApiKey | Refusal::ForeignOwner)
    }
}

impl ServiceError {
    /// What this answer says about the session: see [`Refusal`]. `None` for a status other
    /// than 401 and 403.
    pub fn refusal(&self) -> Option<Refusal> {
        if !matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return None;
        }
        let Some(detail) = self.detail.as_deref().filter(|_| self.json) else {
            return Some(Refusal::Unrecognised);
        };
        let detail = detail.to_ascii_lowercase();
        let says = |words: &[&str]| words.iter().any(|word| detail.contains(word));
        // Configuration first: "the API key is not valid" must not read as a token refused.
        Some(if says(&["owner"]) {
            Refusal::ForeignOwner
        } else if says(&["api key", "api-key", "apikey", "api_key"]) {
            Refusal::ApiKey
        } else if says(&["token"]) && says(&["already used", "reused", "reuse"]) {
            Refusal::ReusedToken
        } else if says(&["token"]) && says(&["revoked", "expired", "invalid", "not valid"]) {
            Refusal::Token
        } else if says(&["blocked", "disabled", "deactivated"]) {
            Refusal::BlockedUser
        } else {
            Refusal::Unrecognised
        })
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the STLock service answered {}", self.status)?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ServiceError {}

// FastAPI puts a string under `detail`, or for validation errors a list of
// `{"loc": [...], "msg": "..."}`; anything else is shown as JSON.
fn detail_text(detail: &serde_json::Value) -> String {
    match detail {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| match item.get("msg") {
                Some(serde_json::Value::String(msg)) => msg.clone(),
                _ => detail_text(item),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_is_read_from_every_body_shape() {
        let cases: [(&[u8], Option<&str>); 5] = [
            (br#"{"detail": "user not found"}"#, Some("user not found")),
            (
                br#"{"detail": [{"loc": ["body", "email"], "msg": "field required"}, {"msg": "too short"}]}"#,
                Some("field required; too short"),
            ),
            (br#"{"detail": {"code": 7}}"#, Some(r#"{"code":7}"#)),
            (br#"{"message": "nope"}"#, None),
            (b"<html>Bad Gateway</html>", None),
        ];
        for (body, detail) in cases {
            let err = ServiceError::new(StatusCode::BAD_GATEWAY, body);
            assert_eq!(err.detail(), detail);
            assert_eq!(err.body().as_bytes(), body);
        }
    }

    #[test]
    fn refusals_are_classified_from_the_whole_answer() {
        let cases: [(u16, &[u8], Option<Refusal>); 12] = [
            (401, br#"{"detail":"the token has been revoked"}"#, Some(Refusal::Token)),
            (401, br#"{"detail":"the token has expired"}"#, Some(Refusal::Token)),
            (
                401,
                br#"{"detail":"the refresh token was already used; every token of that sign-in is now revoked"}"#,
                Some(Refusal::ReusedToken),
            ),
            (403, br#"{"detail":"the user is blocked"}"#, Some(Refusal::BlockedUser)),
            (401, br#"{"detail":"the API key is not valid"}"#, Some(Refusal::ApiKey)),
            (401, br#"{"detail":"the x-api-key header is missing"}"#, Some(Refusal::ApiKey)),
            (
                403,
                br#"{"detail":"the API key belongs to another owner"}"#,
                Some(Refusal::ForeignOwner),
            ),
            // A proxy's or a firewall's page, JSON without a detail, an unknown text.
            (403, b"<html>Forbidden</html>", Some(Refusal::Unrecognised)),
            (401, br#"{"message":"token revoked"}"#, Some(Refusal::Unrecognised)),
            (403, br#"{"detail":"Not authenticated"}"#, Some(Refusal::Unrecognised)),
            (
                401,
                br#"{"detail":"the Authorization header must be `bearer <token>`"}"#,
                Some(Refusal::Unrecognised),
            ),
            (500, br#"{"detail":"the token has been revoked"}"#, None),
        ];
        for (status, body, refusal) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            let error = ServiceError::new(status, body);
            assert_eq!(error.refusal(), refusal, "{status} {}", error.body());
        }
    }

    #[test]
    fn non_utf8_body_is_kept_lossily() {
        let err = ServiceError::new(StatusCode::INTERNAL_SERVER_ERROR, b"\xff\xfeoops");
        assert!(err.body().ends_with("oops"));
        assert_eq!(err.detail(), None);
    }
}
