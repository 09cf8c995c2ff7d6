//! The v0 user API, under `/api/v0/users`.
//!
//! Order of checks in every handler: API key (401), token signature, type and expiry (401),
//! owner of key vs. token (403), body shape and fields (400/422), owner and pool of the body
//! (403/404), then the operation itself (401 revoked, 403 blocked, 409 taken, ...).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::Router;
use http::StatusCode;
use serde_json::json;

use super::error::ApiError;
use super::extract::{AccessToken, Caller, Fields, JsonBody, RefreshToken};
use super::policy::Call;
use super::server::json_response;
use super::state::{Contact, State as UserState};
use super::{validate, App};
use crate::{Claims, GrantDecision, User};

pub(super) fn user_api() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v0/users/register", post(register))
        .route("/api/v0/users/login", post(login))
        .route("/api/v0/users/refresh", get(refresh))
        .route("/api/v0/users/logout", post(logout))
        .route("/api/v0/users/grant", post(grant))
        .route("/api/v0/users/username", patch(update_username))
        .route("/api/v0/users/email", patch(update_email))
        .route("/api/v0/users/password", patch(update_password))
}

async fn register(
    State(app): State<Arc<App>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let pool_id = body.string("user_pool_id")?;
    let owner_id = body.string("owner_id")?;
    let contact = Contact {
        username: body.string("username")?,
        email: body.string("email")?,
        phone: body.string("phone")?,
    };
    let password = body.string("password")?;
    validate::username(contact.username)?;
    validate::email(contact.email)?;
    validate::phone(contact.phone)?;
    validate::password("password", password)?;
    caller.must_be(owner_id)?;
    // Refuse what is already taken before paying for a hash; `register` checks again.
    app.lock()
        .owned_pool(&caller.owner_id, pool_id)?
        .check_free(&contact, None)?;
    let hash = app.hasher.hash(password.to_owned()).await?;
    let user = app
        .lock()
        .register(pool_id, &contact, hash, app.clock.now())?;
    Ok(json_response(StatusCode::CREATED, &user))
}

async fn login(
    State(app): State<Arc<App>>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let pool_id = body.string("user_pool_id")?;
    let owner_id = body.string("owner_id")?;
    let username = body.string("username")?;
    let password = body.string("password")?;
    caller.must_be(owner_id)?;
    let candidate = {
        let state = app.lock();
        state.owned_pool(&caller.owner_id, pool_id)?;
        state.login_candidate(pool_id, username)
    };
    // An unknown username is checked against the dummy hash: same time, same answer.
    let hash = candidate.as_ref().map(|(_, hash)| hash.clone());
    let matches = app.hasher.verify(password.to_owned(), hash).await?;
    let (Some((user_id, hash)), true) = (candidate, matches) else {
        return Err(ApiError::BadCredentials);
    };
    let pair = app
        .lock()
        .finish_login(pool_id, &user_id, &hash, app.clock.now())?;
    Ok(json_response(StatusCode::OK, &pair))
}

async fn refresh(
    State(app): State<Arc<App>>,
    RefreshToken(claims): RefreshToken,
) -> Result<Response, ApiError> {
    let pair = app.lock().refresh(&claims, app.clock.now())?;
    Ok(json_response(StatusCode::OK, &pair))
}

async fn logout(
    State(app): State<Arc<App>>,
    RefreshToken(claims): RefreshToken,
) -> Result<Response, ApiError> {
    app.lock().logout(&claims)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "detail": "logged out" }),
    ))
}

async fn grant(
    State(app): State<Arc<App>>,
    AccessToken(claims): AccessToken,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let method = body.string_or("method", "get")?;
    let path = body.string_or("path", "")?;
    let call = Call::parse(method, path).map_err(ApiError::Invalid)?;
    let allowed = app.lock().grant(&claims, &call)?;
    let decision = GrantDecision {
        allowed,
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
    };
    Ok(json_response(StatusCode::OK, &decision))
}

async fn update_username(
    State(app): State<Arc<App>>,
    AccessToken(claims): AccessToken,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    update_profile(
        &app,
        &claims,
        &body,
        "username",
        validate::username,
        UserState::update_username,
    )
}

async fn update_email(
    State(app): State<Arc<App>>,
    AccessToken(claims): AccessToken,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    update_profile(
        &app,
        &claims,
        &body,
        "email",
        validate::email,
        UserState::update_email,
    )
}

/// The shared steps of `PATCH /username` and `PATCH /email`: read and check the new value and
/// the pool, then change the user.
fn update_profile(
    app: &App,
    claims: &Claims,
    body: &Fields,
    field: &'static str,
    validate: fn(&str) -> Result<(), ApiError>,
    update: fn(&mut UserState, &Claims, &str) -> Result<User, ApiError>,
) -> Result<Response, ApiError> {
    let pool_id = body.string("user_pool_id")?;
    let value = body.string(field)?;
    validate(value)?;
    same_pool(claims, pool_id)?;
    let user = update(&mut app.lock(), claims, value)?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn update_password(
    State(app): State<Arc<App>>,
    AccessToken(claims): AccessToken,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let old_password = body.string("old_password")?;
    let new_password = body.string("new_password")?;
    validate::password("new_password", new_password)?;
    let current_hash = app.lock().password_hash(&claims)?;
    let matches = app
        .hasher
        .verify(old_password.to_owned(), Some(current_hash.clone()))
        .await?;
    if !matches {
        return Err(ApiError::WrongOldPassword);
    }
    let new_hash = app.hasher.hash(new_password.to_owned()).await?;
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
