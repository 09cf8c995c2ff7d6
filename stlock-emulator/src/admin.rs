//! Administration of a pool: policies, users, blocking, call counts. Each operation is written once, on
//! `State`; the `Emulator` methods and the HTTP endpoints under `/api/v0/admin` both call it.

use std::sync::{Arc, MutexGuard};

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::counts::Counts;
use crate::error::{AdminError, ApiError};
use crate::extract::{Caller, FromObject, JsonBody};
use crate::fields::StringFields;
use crate::policy::{self, NewPolicy, Policy};
use crate::server::json_response;
use crate::state::{self, StoredPolicy, UserRecord};
use crate::App;
use stlock::config::MIN_JWT_SECRET_LEN;
use stlock::{Secret, User, UserStatus};

impl state::State {
    pub(crate) fn create_policy(
        &mut self,
        pool_id: &str,
        new: &NewPolicy,
    ) -> Result<Policy, AdminError> {
        let pool = self.pool_mut(pool_id)?;
        let (rules, compiled) = policy::compile(new)?;
        let policy = Policy {
            id: uuid::Uuid::new_v4().to_string(),
            user_pool_id: pool_id.to_ascii_lowercase(),
            name: new.name.trim().to_owned(),
            rules,
        };
        pool.policies.push(StoredPolicy {
            policy: policy.clone(),
            rules: compiled.into(),
        });
        Ok(policy)
    }

    pub(crate) fn policies(&self, pool_id: &str) -> Result<Vec<Policy>, AdminError> {
        Ok(self
            .pool(pool_id)?
            .policies
            .iter()
            .map(|stored| stored.policy.clone())
            .collect())
    }

    pub(crate) fn attach_policy(
        &mut self,
        pool_id: &str,
        user_id: &str,
        policy_id: &str,
    ) -> Result<User, AdminError> {
        self.change_policies(pool_id, user_id, policy_id, |ids, id| {
            if !ids.contains(&id) {
                ids.push(id);
            }
        })
    }

    pub(crate) fn detach_policy(
        &mut self,
        pool_id: &str,
        user_id: &str,
        policy_id: &str,
    ) -> Result<User, AdminError> {
        self.change_policies(pool_id, user_id, policy_id, |ids, id| {
            ids.retain(|attached| *attached != id);
        })
    }

    fn change_policies(
        &mut self,
        pool_id: &str,
        user_id: &str,
        policy_id: &str,
        change: impl FnOnce(&mut Vec<String>, String),
    ) -> Result<User, AdminError> {
        let pool = self.pool_mut(pool_id)?;
        let policy_id = policy_id.to_ascii_lowercase();
        // The user is looked up first: "user not found" is the likelier mistake to report.
        let user_id = user_id.to_ascii_lowercase();
        if !pool.users.contains_key(&user_id) {
            return Err(AdminError::UnknownUser);
        }
        if !pool
            .policies
            .iter()
            .any(|stored| stored.policy.id == policy_id)
        {
            return Err(AdminError::UnknownPolicy);
        }
        let record = pool
            .users
            .get_mut(&user_id)
            .ok_or(AdminError::UnknownUser)?;
        change(&mut record.user.policy_ids, policy_id);
        Ok(record.user.clone())
    }

    pub(crate) fn users(&self, pool_id: &str) -> Result<Vec<User>, AdminError> {
        let mut records: Vec<&UserRecord> = self.pool(pool_id)?.users.values().collect();
        records.sort_by_key(|record| record.seq);
        Ok(records
            .into_iter()
            .map(|record| record.user.clone())
            .collect())
    }

    pub(crate) fn user(&self, pool_id: &str, user_id: &str) -> Result<User, AdminError> {
        Ok(self.user_record(pool_id, user_id)?.user.clone())
    }

    pub(crate) fn set_status(
        &mut self,
        pool_id: &str,
        user_id: &str,
        status: UserStatus,
    ) -> Result<User, AdminError> {
        let record = self
            .pool_mut(pool_id)?
            .users
            .get_mut(&user_id.to_ascii_lowercase())
            .ok_or(AdminError::UnknownUser)?;
        record.user.status = status;
        Ok(record.user.clone())
    }

    pub(crate) fn delete_user(&mut self, pool_id: &str, user_id: &str) -> Result<(), AdminError> {
        let pool = self.pool_mut(pool_id)?;
        let record = pool
            .users
            .remove(&user_id.to_ascii_lowercase())
            .ok_or(AdminError::UnknownUser)?;
        pool.unindex(&record.user);
        self.revoke_user_sessions(&record.user.id);
        Ok(())
    }

    /// Makes `secret` the pool's signing secret at `now`; tokens signed with an earlier one
    /// stay valid until they expire (see [`PoolKeys::rotate`](crate::tokens::PoolKeys::rotate)).
    /// The pool is looked up first, then the secret's length.
    pub(crate) fn rotate_jwt_secret(
        &self,
        pool_id: &str,
        secret: &Secret,
        now: u64,
    ) -> Result<(), AdminError> {
        let pool = self.pool(pool_id)?;
        if secret.len() < MIN_JWT_SECRET_LEN {
            return Err(AdminError::JwtSecretTooShort);
        }
        pool.shared
            .keys_mut()
            .rotate(secret, now, self.longest_ttl());
        Ok(())
    }

    pub(crate) fn counts(&self, pool_id: &str) -> Result<Counts, AdminError> {
        Ok(self.pool(pool_id)?.shared.counters.snapshot())
    }

    pub(crate) fn reset_counts(&self, pool_id: &str) -> Result<(), AdminError> {
        self.pool(pool_id)?.shared.counters.reset();
        Ok(())
    }

    pub(crate) fn stored_password_hash(
        &self,
        pool_id: &str,
        user_id: &str,
    ) -> Result<String, AdminError> {
        Ok(self.user_record(pool_id, user_id)?.password_hash.clone())
    }

    fn user_record(&self, pool_id: &str, user_id: &str) -> Result<&UserRecord, AdminError> {
        self.pool(pool_id)?
            .users
            .get(&user_id.to_ascii_lowercase())
            .ok_or(AdminError::UnknownUser)
    }
}

// ---- HTTP ------------------------------------------------------------------------------

const POOL: &str = "/api/v0/admin/pools/{pool_id}";

pub(crate) fn admin_api() -> Router<Arc<App>> {
    Router::new()
        .route(
            &format!("{POOL}/policies"),
            post(create_policy).get(list_policies),
        )
        .route(&format!("{POOL}/users"), get(list_users))
        .route(
            &format!("{POOL}/users/{{user_id}}"),
            get(get_user).delete(delete_user),
        )
        .route(
            &format!("{POOL}/users/{{user_id}}/policies/{{policy_id}}"),
            put(attach_policy).delete(detach_policy),
        )
        .route(&format!("{POOL}/users/{{user_id}}/block"), post(block_user))
        .route(
            &format!("{POOL}/users/{{user_id}}/unblock"),
            post(unblock_user),
        )
        .route(&format!("{POOL}/counts"), get(counts).delete(reset_counts))
        .route(&format!("{POOL}/jwt-secret"), put(rotate_jwt_secret))
}

/// The state, locked, once the caller is known to own the pool: a pool of another owner is
/// "not found", exactly like a pool that does not exist.
fn owned_state<'a>(
    app: &'a App,
    caller: &Caller,
    pool_id: &str,
) -> Result<MutexGuard<'a, state::State>, ApiError> {
    let state = app.lock();
    state.owned_pool(&caller.owner_id, pool_id)?;
    Ok(state)
}

type ApiResult = Result<Response, ApiError>;

/// A policy body is read with serde's own messages, each a 422 `invalid policy: ...`: its
/// rules are not flat strings, and these are the answers it has always had.
impl FromObject for NewPolicy {
    fn from_object(object: Map<String, Value>) -> Result<Self, ApiError> {
        serde_json::from_value(Value::Object(object))
            .map_err(|err| AdminError::InvalidPolicy(err.to_string()).into())
    }
}

/// `PUT /jwt-secret`.
#[derive(Deserialize)]
struct JwtSecretBody {
    jwt_secret: String,
}

impl StringFields for JwtSecretBody {}

async fn create_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(pool_id): Path<String>,
    JsonBody(new): JsonBody<NewPolicy>,
) -> ApiResult {
    let policy = owned_state(&app, &caller, &pool_id)?.create_policy(&pool_id, &new)?;
    Ok(json_response(StatusCode::CREATED, &policy))
}

async fn list_policies(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(pool_id): Path<String>,
) -> ApiResult {
    let policies = owned_state(&app, &caller, &pool_id)?.policies(&pool_id)?;
    Ok(json_response(StatusCode::OK, &policies))
}

async fn list_users(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(pool_id): Path<String>,
) -> ApiResult {
    let users = owned_state(&app, &caller, &pool_id)?.users(&pool_id)?;
    Ok(json_response(StatusCode::OK, &users))
}

async fn get_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((pool_id, user_id)): Path<(String, String)>,
) -> ApiResult {
    let user = owned_state(&app, &caller, &pool_id)?.user(&pool_id, &user_id)?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn delete_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((pool_id, user_id)): Path<(String, String)>,
) -> ApiResult {
    owned_state(&app, &caller, &pool_id)?.delete_user(&pool_id, &user_id)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "detail": "user deleted" }),
    ))
}

async fn attach_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((pool_id, user_id, policy_id)): Path<(String, String, String)>,
) -> ApiResult {
    let user =
        owned_state(&app, &caller, &pool_id)?.attach_policy(&pool_id, &user_id, &policy_id)?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn detach_policy(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((pool_id, user_id, policy_id)): Path<(String, String, String)>,
) -> ApiResult {
    let user =
        owned_state(&app, &caller, &pool_id)?.detach_policy(&pool_id, &user_id, &policy_id)?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn block_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((pool_id, user_id)): Path<(String, String)>,
) -> ApiResult {
    let user = owned_state(&app, &caller, &pool_id)?.set_status(
        &pool_id,
        &user_id,
        UserStatus::Blocked,
    )?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn unblock_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((pool_id, user_id)): Path<(String, String)>,
) -> ApiResult {
    let user =
        owned_state(&app, &caller, &pool_id)?.set_status(&pool_id, &user_id, UserStatus::Active)?;
    Ok(json_response(StatusCode::OK, &user))
}

async fn counts(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(pool_id): Path<String>,
) -> ApiResult {
    let counts = owned_state(&app, &caller, &pool_id)?.counts(&pool_id)?;
    Ok(json_response(StatusCode::OK, &counts))
}

async fn reset_counts(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(pool_id): Path<String>,
) -> ApiResult {
    owned_state(&app, &caller, &pool_id)?.reset_counts(&pool_id)?;
    Ok(json_response(StatusCode::OK, &Counts::default()))
}

async fn rotate_jwt_secret(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(pool_id): Path<String>,
    JsonBody(body): JsonBody<JwtSecretBody>,
) -> ApiResult {
    let secret = Secret::new(body.jwt_secret);
    owned_state(&app, &caller, &pool_id)?.rotate_jwt_secret(&pool_id, &secret, app.clock.now())?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "detail": "jwt secret rotated" }),
    ))
}
