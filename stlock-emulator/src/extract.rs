//! What handlers take from a request: the calling owner, a verified token, the JSON body.
//!
//! Authentication runs in extractors, before the body is looked at: the API key first, then
//! the token's signature, type, expiry and owner. Whether the token's session is still alive
//! is checked by the operation itself, under the same lock as its effect.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::header::{AUTHORIZATION, CONTENT_LENGTH};
use http::request::Parts;
use http::{HeaderMap, HeaderName, StatusCode};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::serve::BodyTimeout;
use crate::server::MAX_BODY_BYTES;
use crate::state::PoolShared;
use crate::{strict_json, tokens, App};
use stlock::{Claims, TokenType};

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The owner whose `x-api-key` came with the request.
pub(crate) struct Caller {
    pub(crate) owner_id: String,
}

impl Caller {
    fn from_headers(headers: &HeaderMap, app: &App) -> Result<Self, ApiError> {
        // Two keys or two tokens could be read one way here and another way by whatever stands
        // in front (a proxy, a log): refuse rather than pick one. Checked on every call, tokens
        // or not, before the key itself.
        sent_once(headers, &X_API_KEY, "x-api-key")?;
        sent_once(headers, &AUTHORIZATION, "Authorization")?;
        let key = headers.get(X_API_KEY).ok_or(ApiError::MissingApiKey)?;
        app.lock()
            .owner_by_api_key(key.as_bytes())
            .map(|owner_id| Caller { owner_id })
            .ok_or(ApiError::InvalidApiKey)
    }

    /// Refuses a request that acts for another owner than the API key's.
    pub(crate) fn must_be(&self, owner_id: &str) -> Result<(), ApiError> {
        if self.owner_id.eq_ignore_ascii_case(owner_id) {
            Ok(())
        } else {
            Err(ApiError::ForeignOwner)
        }
    }
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        Caller::from_headers(&parts.headers, app)
    }
}

fn sent_once(headers: &HeaderMap, name: &HeaderName, shown: &'static str) -> Result<(), ApiError> {
    match headers.get_all(name).iter().nth(1) {
        Some(_) => Err(ApiError::DuplicateHeader(shown)),
        None => Ok(()),
    }
}

/// The verified claims of the access token in `Authorization`, and its pool, whose counters
/// the handler counts the call in.
pub(crate) struct AccessToken(pub(crate) Claims, pub(crate) Arc<PoolShared>);

/// The verified claims of the refresh token in `Authorization`, and its pool.
pub(crate) struct RefreshToken(pub(crate) Claims, pub(crate) Arc<PoolShared>);

impl FromRequestParts<Arc<App>> for AccessToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let (claims, pool) = authenticate(&parts.headers, app, TokenType::Access)?;
        Ok(AccessToken(claims, pool))
    }
}

impl FromRequestParts<Arc<App>> for RefreshToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let (claims, pool) = authenticate(&parts.headers, app, TokenType::Refresh)?;
        Ok(RefreshToken(claims, pool))
    }
}

fn authenticate(
    headers: &HeaderMap,
    app: &App,
    expected: TokenType,
) -> Result<(Claims, Arc<PoolShared>), ApiError> {
    let caller = Caller::from_headers(headers, app)?;
    let token = bearer_token(headers)?;
    let pool_id = tokens::claimed_pool(token).ok_or(ApiError::InvalidToken)?;
    let pool = app
        .lock()
        .token_pool(&pool_id)
        .ok_or(ApiError::InvalidToken)?;
    let claims = tokens::verify(token, &pool.keys(), expected, app.clock.now())?;
    caller.must_be(&claims.owner_sub)?;
    Ok((claims, pool))
}

/// The token of `Authorization: <scheme> <token>`, the scheme being `bearer` in any case.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(ApiError::MissingToken)?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::MissingToken),
    }
}

/// A request body, read as a JSON object whatever its `Content-Type` says (the service's own
/// client sends none), then into `T`. An empty body is an empty object, so that fields with
/// defaults work. An object with a key twice, at any depth, is not valid JSON here.
pub(crate) struct JsonBody<T>(pub(crate) T);

/// What a JSON object body is read into; its refusals are 422s (or, for a bug, 500s).
pub(crate) trait FromObject: Sized {
    fn from_object(object: Map<String, Value>) -> Result<Self, ApiError>;
}

impl<S: Send + Sync, T: FromObject> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let too_large = ApiError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        };
        // Refused before a byte is read, so that hyper never sends `100 Continue` for it and
        // nobody waits for a body that would be refused anyway.
        if announced_length(request.headers()).is_some_and(|length| length > MAX_BODY_BYTES as u64)
        {
            return Err(too_large);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large
                } else if BodyTimeout::find(&rejection).is_some() {
                    ApiError::BodyTimeout
                } else {
                    ApiError::UnreadableBody
                }
            })?;
        T::from_object(object_of(&bytes)?).map(JsonBody)
    }
}

/// A body as the JSON object it must be: whitespace alone is `{}`; anything else is parsed
/// strictly (no duplicate key) and must be an object.
pub(crate) fn object_of(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match strict_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::Invalid(
            "the request body must be a JSON object".into(),
        )),
        Err(err) => Err(ApiError::MalformedJson(err.to_string())),
    }
}

/// The body length a request announces. hyper has already refused a malformed or ambiguous
/// `Content-Length` on HTTP/1.
fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
