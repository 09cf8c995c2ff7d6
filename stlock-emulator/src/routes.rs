//! The v0 user API, under `/api/v0/users`.
//!
//! Order of checks in every handler: a header sent twice (400), API key (401), token signature,
//! type and expiry (401), owner of key vs. token (403), body size, arrival and shape (413, 408,
//! 400, 422), owner and pool of the body (403/404), then the operation itself (429 throttled,
//! 401 revoked, 403 blocked, 409 taken, ...).
//!
//! Each handler counts its call in its pool's counters before answering anything of its own:
//! a call counts once the extractors have passed it, whatever the handler then answers. Calls
//! with a token count for the token's pool; `register` and `login` for the body's pool, once
//! it is one of the caller's.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::Router;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::counts::Op;
use crate::error::ApiError;
use crate::extract::{AccessToken, Caller, JsonBody, RefreshToken};
use crate::fields::StringFields;
use crate::policy::{self, Call};
use crate::server::json_response;
use crate::state::{Contact, State as UserState};
use crate::{validate, App};
use stlock::{Claims, GrantDecision, User};

pub(crate) fn user_api() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v0/users/register", post(register))
        .route("/api/v0/users/login", post(login))
        // Not `get` alone: axum would run the handler for `HEAD` too, and a `HEAD` (a link
        // checker, a proxy's probe) would use the refresh token up.
        .route(
            "/api/v0/users/refresh",
            get(refresh).head(only_get).fallback(only_get),
        )
        .route("/api/v0/users/logout", post(logout))
        .route("/api/v0/users/grant", post(grant))
        .route("/api/v0/users/username", patch(update_username))
        .route("/api/v0/users/email", patch(update_email))
        .route("/api/v0/users/password", patch(update_password))
}

/// `POST /register`. Fields are declared in the order they are checked, here and below: of
/// several missing or wrong ones, the first is reported.
#[derive(Deserialize)]
struct RegisterBody {
    user_pool_id: String,
    owner_id: String,
    username: String,
    email: String,
    phone: String,
    password: String,
}

/// `POST /login`.
#[derive(Deserialize)]
struct LoginBody {
    user_pool_id: String,
    owner_id: String,
    username: String,
    password: String,
}

/// `POST /grant`; both fields are optional, as the service's own client defaults them.
#[derive(Deserialize)]
#[serde(default)]
struct GrantBody {
    method: String,
    path: String,
}

impl Default for GrantBody {
    fn default() -> Self {
        Self {
            method: "get".into(),
            path: String::new(),
        }
    }
}

/// `PATCH /username`.
#[derive(Deserialize)]
struct UsernameBody {
    user_pool_id: String,
    username: String,
}

/// `PATCH /email`.
#[derive(Deserialize)]
struct EmailBody {
    user_pool_id: String,
    email: String,
}

/// `PATCH /password`.
#[derive(Deserialize)]
struct PasswordBody {
    old_password: String,
    new_password: String,
}

impl StringFields for RegisterBody {}
impl StringFields for LoginBody {}
impl StringFields for GrantBody {}
impl StringFields for UsernameBody {}
impl StringFields for EmailBody {}
impl StringFields for PasswordBody {}

/// Reads `object` as the body of every operation, as a fuzz target does: only a panic matters.
#[cfg(fuzzing)]
pub(crate) fn read_every_body(object: serde_json::Map<String, serde_json::Value>) {
    use crate::extract::FromObject;
    let _ = RegisterBody::from_object(object.clone());
    let _ = LoginBody::from_object(object.clone());
    let _ = GrantBody::from_object(object.clone());
    let _ = UsernameBody::from_object(object.clone());
    let _ = EmailBody::from_object(object.clone());
    let _ = PasswordBody::from_object(object.clone());
    let _ = crate::NewPolicy::from_object(object);
}

async fn register(
    State(app): State<Arc<App>>,
    caller: Caller,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<Response, ApiError> {
    let contact = Contact {
        username: &body.username,
        email: &body.email,
        phone: &body.phone,
    };
    {
        let state = app.lock();
        // Counted first; the pool's own answer (404) comes after the values and the owner.
        let pool = state.counted_pool(&caller.owner_id, &body.user_pool_id, Op::Register);
        validate::username(contact.username)?;
        validate::email(contact.email)?;
        validate::phone(contact.phone)?;
        validate::password("password", &body.password)?;
        caller.must_be(&body.owner_id)?;
        // Refuse what is already taken before paying for a hash; `register` checks again.
        pool?.check_free(&contact, None)?;
    }
    let hash = app.hasher.hash(body.password).await?;
    let user = app
        .lock()
        .register(&body.user_pool_id, &contact, hash, app.clock.now())?;
    Ok(json_response(StatusCode::CREATED, &user))
}

async fn login(
    State(app): State<Arc<App>>,
    caller: Caller,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    let pool_id = body.user_pool_id.as_str();
    let candidate = {
        let state = app.lock();
        // Counted first; a foreign owner (403) is still reported before the pool (404).
        let pool = state.counted_pool(&caller.owner_id, pool_id, Op::Login);
        caller.must_be(&body.owner_id)?;
        pool?;
        state.login_candidate(pool_id, &body.username)
    };
    // Counted (or refused) before the hash, for known and unknown usernames alike, so that
    // neither the answer nor the path taken tells them apart.
    app.login_attempt(pool_id, &body.username)?;
    // An unknown username is checked against the dummy hash: same time, same answer.
    let hash = candidate.as_ref().map(|(_, hash)| hash.clone());
    let matches = app.hasher.verify(body.password, hash).await?;
    let (Some((user_id, hash)), true) = (candidate, matches) else {
        return Err(ApiError::BadCredentials);
    };
    app.login_succeeded(pool_id, &body.username);
    let pair = app
        .lock()
        .finish_login(pool_id, &user_id, &hash, app.clock.now())?;
    Ok(json_response(StatusCode::OK, &pair))
}

async fn refresh(
    State(app): State<Arc<App>>,
    RefreshToken(claims, pool): RefreshToken,
) -> Result<Response, ApiError> {
    pool.counters.count(Op::Refresh);
    let pair = app.lock().refresh(&claims, app.clock.now())?;
    Ok(json_response(StatusCode::OK, &pair))
}

/// `/refresh` answers `GET` only, `HEAD` included.
async fn only_get() -> ApiError {
    ApiError::MethodNotAllowed { allow: "GET" }
}

async fn logout(
    State(app): State<Arc<App>>,
    RefreshToken(claims, pool): RefreshToken,
) -> Result<Response, ApiError> {
    pool.counters.count(Op::Logout);
    app.lock().logout(&claims)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "detail": "logged out" }),
    ))
}

async fn grant(
    State(app): State<Arc<App>>,
    AccessToken(claims, pool): AccessToken,
    JsonBody(body): JsonBody<GrantBody>,
) -> Result<Response, ApiError> {
    pool.counters.count(Op::Grant);
    let call = Call::parse(&body.method, &body.path).map_err(ApiError::Invalid)?;
    // Revocation and blocking are checked under the lock; the matching runs after it.
    let rules = app.lock().grant_rules(&claims)?;
    let allowed = policy::decide(rules.iter().flat_map(|rules| rules.iter()), &call);
    let decision = GrantDecision {
        allowed,
        method: body.method.to_ascii_uppercase(),
        path: body.path,
        detail: None,
    };
    Ok(json_response(StatusCode::OK, &decision))
}

async fn update_username(
    State(app): State<Arc<App>>,
    AccessToken(claims, pool): AccessToken,
    JsonBody(body): JsonBody<UsernameBody>,
) -> Result<Response, ApiError> {
    pool.counters.count(Op::Username);
    update_profile(
        &app,
        &claims,
        (&body.user_pool_id, &body.username),
        validate::username,
        UserState::update_username,
    )
}

async fn update_email(
    State(app): State<Arc<App>>,
    AccessToken(claims, pool): AccessToken,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<Response, ApiError> {
    pool.counters.count(Op::Email);
    update_profile(
        &app,
        &claims,
        (&body.user_pool_id, &body.email),
        validate::email,
        UserState::update_email,
    )
}

/// The shared steps of `PATCH /username` and `PATCH /email`: check the new value and the
/// pool, then change the user.
fn update_profile(
    app: &App,
    claims: &Claims,
    (pool_id, value): (&str, &str),
    validate: fn(&str) -> Result<(), ApiError>,
    update: fn(&mut UserState, &Claims, &str) -> Result<User, ApiError>,
) -> Result<Response, ApiError> {
    validate(value)?;
    same_pool(claims, pool_id)?;
    let user = update(&mut app.lock(), claims, value)?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn update_password(
    State(app): State<Arc<App>>,
    AccessToken(claims, pool): AccessToken,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<Response, ApiError> {
    pool.counters.count(Op::Password);
    validate::password("new_password", &body.new_password)?;
    let current_hash = app.lock().password_hash(&claims)?;
    let matches = app
        .hasher
        .verify(body.old_password, Some(current_hash.clone()))
        .await?;
    if !matches {
        return Err(ApiError::WrongOldPassword);
    }
    let new_hash = app.hasher.hash(body.new_password).await?;
    let user = app
        .lock()
        .change_password(&claims, &current_hash, new_hash)?;
    Ok(json_response(StatusCode::OK, &user))
}

/// A profile change names the pool; it must be the token's.
fn same_pool(claims: &Claims, pool_id: &str) -> Result<(), ApiError> {
    if claims.user_pool_sub.eq_ignore_ascii_case(pool_id) {
        Ok(())
    } else {
        Err(ApiError::ForeignPool)
    }
}
