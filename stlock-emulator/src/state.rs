//! Everything the emulator remembers, and the user-API operations on it.
//!
//! One `State` sits behind one `std::sync::Mutex`; every operation here is synchronous and
//! short, so the lock is never held across an `.await`. Slow work (password hashing) happens
//! between two lock sections, and the second section re-checks what the first one saw.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use subtle::ConstantTimeEq;

use crate::counts::{Counters, Op};
use crate::error::{AdminError, ApiError, Taken};
use crate::policy::{CompiledRule, Policy};
use crate::sessions::Sessions;
use crate::tokens::PoolKeys;
use stlock::{Claims, Secret, TokenPair, TokenType, User, UserStatus};

/// Token lifetimes, in whole seconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ttl {
    pub(crate) access: u64,
    pub(crate) refresh: u64,
}

pub(crate) struct State {
    ttl: Ttl,
    owners: Vec<Owner>,
    pools: HashMap<String, Pool>,
    sessions: Sessions,
    /// Registration order, for stable user listings.
    next_seq: u64,
}

struct Owner {
    id: String,
    api_key: Secret,
}

pub(crate) struct Pool {
    pub(crate) owner_id: String,
    pub(crate) shared: Arc<PoolShared>,
    pub(crate) users: HashMap<String, UserRecord>,
    by_username: HashMap<String, String>,
    by_email: HashMap<String, String>,
    by_phone: HashMap<String, String>,
    pub(crate) policies: Vec<StoredPolicy>,
}

/// What requests take out of the lock: the pool's keys, to verify a token with (no copy of
/// the key is made), and the counters its calls are counted in.
pub(crate) struct PoolShared {
    /// Behind a lock of their own, since a rotation replaces them while requests that took
    /// the pool out of the state's lock may be verifying a token with them.
    keys: RwLock<PoolKeys>,
    pub(crate) counters: Counters,
}

impl PoolShared {
    pub(crate) fn keys(&self) -> RwLockReadGuard<'_, PoolKeys> {
        // Nothing panics while holding it; the keys are whole either way.
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn keys_mut(&self) -> RwLockWriteGuard<'_, PoolKeys> {
        self.keys.write().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct UserRecord {
    pub(crate) user: User,
    pub(crate) password_hash: String,
    pub(crate) seq: u64,
}

pub(crate) struct StoredPolicy {
    pub(crate) policy: Policy,
    /// Shared, so that a grant check takes them out of the lock and matches after releasing it.
    pub(crate) rules: Arc<[CompiledRule]>,
}

/// The contact fields of a new or changed user, as validated.
pub(crate) struct Contact<'a> {
    pub(crate) username: &'a str,
    pub(crate) email: &'a str,
    pub(crate) phone: &'a str,
}

impl State {
    pub(crate) fn new(ttl: Ttl) -> Self {
        Self {
            ttl,
            owners: Vec::new(),
            pools: HashMap::new(),
            sessions: Sessions::new(),
            next_seq: 0,
        }
    }

    // ---- tenants -------------------------------------------------------------------------

    /// A new owner with a fresh API key; returns its id and key.
    pub(crate) fn add_owner(&mut self) -> (String, Secret) {
        let id = uuid::Uuid::new_v4().to_string();
        let api_key = Secret::new(format!("stl_{}", crate::random_hex(24)));
        self.owners.push(Owner {
            id: id.clone(),
            api_key: api_key.clone(),
        });
        (id, api_key)
    }

    /// A new pool of `owner_id` with a fresh 64-hex-character signing secret.
    pub(crate) fn add_pool(&mut self, owner_id: &str) -> (String, Secret) {
        let id = uuid::Uuid::new_v4().to_string();
        let secret = Secret::new(crate::random_hex(32));
        self.pools.insert(
            id.clone(),
            Pool {
                owner_id: owner_id.to_owned(),
                shared: Arc::new(PoolShared {
                    keys: RwLock::new(PoolKeys::new(&secret)),
                    counters: Counters::default(),
                }),
                users: HashMap::new(),
                by_username: HashMap::new(),
                by_email: HashMap::new(),
                by_phone: HashMap::new(),
                policies: Vec::new(),
            },
        );
        (id, secret)
    }

    /// The owner whose API key this is. Every key is compared, each in constant time, so the
    /// time taken says nothing about which key came close.
    pub(crate) fn owner_by_api_key(&self, presented: &[u8]) -> Option<String> {
        let mut found = None;
        for owner in &self.owners {
            if bool::from(owner.api_key.expose().as_bytes().ct_eq(presented)) {
                found = Some(owner.id.clone());
            }
        }
        found
    }

    /// The pool, if it exists and belongs to `owner_id`; any other pool is "not found", so
    /// that one owner cannot probe for another's pools.
    pub(crate) fn owned_pool(&self, owner_id: &str, pool_id: &str) -> Result<&Pool, AdminError> {
        self.pools
            .get(&pool_id.to_ascii_lowercase())
            .filter(|pool| pool.owner_id == owner_id)
            .ok_or(AdminError::UnknownPool)
    }

    /// [`Self::owned_pool`], counting `op` for the pool when it is one: a call that names a
    /// pool in its body counts for it, whatever its answer, once the pool is the caller's.
    pub(crate) fn counted_pool(
        &self,
        owner_id: &str,
        pool_id: &str,
        op: Op,
    ) -> Result<&Pool, AdminError> {
        let pool = self.owned_pool(owner_id, pool_id)?;
        pool.shared.counters.count(op);
        Ok(pool)
    }

    /// The longer of the two token lifetimes: how long a token outlives the key that signed it
    /// at most.
    pub(crate) fn longest_ttl(&self) -> u64 {
        self.ttl.access.max(self.ttl.refresh)
    }

    /// The keys and counters of the pool a token claims to come from.
    pub(crate) fn token_pool(&self, pool_id: &str) -> Option<Arc<PoolShared>> {
        self.pools.get(pool_id).map(|pool| Arc::clone(&pool.shared))
    }

    // ---- registration and profile --------------------------------------------------------

    pub(crate) fn register(
        &mut self,
        pool_id: &str,
        contact: &Contact<'_>,
        password_hash: String,
        now: u64,
    ) -> Result<User, ApiError> {
        let seq = self.next_seq;
        let pool = self
            .pools
            .get_mut(&pool_id.to_ascii_lowercase())
            .ok_or(AdminError::UnknownPool)?;
        pool.check_free(contact, None)?;
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username: contact.username.to_owned(),
            email: contact.email.to_owned(),
            phone: contact.phone.to_owned(),
            user_pool_id: pool_id.to_ascii_lowercase(),
            owner_id: pool.owner_id.clone(),
            policy_ids: Vec::new(),
            status: UserStatus::Active,
            creation_timestamp: now,
        };
        pool.index(&user);
        pool.users.insert(
            user.id.clone(),
            UserRecord {
                user: user.clone(),
                password_hash,
                seq,
            },
        );
        self.next_seq += 1;
        Ok(user)
    }

    pub(crate) fn update_username(
        &mut self,
        claims: &Claims,
        username: &str,
    ) -> Result<User, ApiError> {
        self.update_contact(claims, |user| user.username = username.to_owned())
    }

    pub(crate) fn update_email(&mut self, claims: &Claims, email: &str) -> Result<User, ApiError> {
        self.update_contact(claims, |user| user.email = email.to_owned())
    }

    fn update_contact(
        &mut self,
        claims: &Claims,
        change: impl FnOnce(&mut User),
    ) -> Result<User, ApiError> {
        self.access_user(claims)?;
        let pool = self.pool_mut(&claims.user_pool_sub)?;
        let record = pool.users.get(&claims.sub).ok_or(ApiError::RevokedToken)?;
        let mut changed = record.user.clone();
        change(&mut changed);
        pool.check_free(&Contact::of(&changed), Some(&changed.id))?;
        let old = record.user.clone();
        pool.unindex(&old);
        pool.index(&changed);
        if let Some(record) = pool.users.get_mut(&claims.sub) {
            record.user = changed.clone();
        }
        Ok(changed)
    }

    /// The stored hash of the token's user, to check their old password against.
    pub(crate) fn password_hash(&self, claims: &Claims) -> Result<String, ApiError> {
        Ok(self.access_user(claims)?.password_hash.clone())
    }

    /// Stores `new_hash` if the password is still the one that was verified, and revokes every
    /// session of the user: whoever knew the old password must sign in again.
    pub(crate) fn change_password(
        &mut self,
        claims: &Claims,
        verified_hash: &str,
        new_hash: String,
    ) -> Result<User, ApiError> {
        self.access_user(claims)?;
        let pool = self.pool_mut(&claims.user_pool_sub)?;
        let record = pool
            .users
            .get_mut(&claims.sub)
            .ok_or(ApiError::RevokedToken)?;
        // Another change may have landed while the old password was being verified.
        if record.password_hash != verified_hash {
            return Err(ApiError::WrongOldPassword);
        }
        record.password_hash = new_hash;
        let user = record.user.clone();
        self.revoke_user_sessions(&user.id);
        Ok(user)
    }

    // ---- sign-in ---------------------------------------------------------------------------

    /// The id and password hash of the user a login names, if there is one.
    pub(crate) fn login_candidate(
        &self,
        pool_id: &str,
        username: &str,
    ) -> Option<(String, String)> {
        let pool = self.pools.get(&pool_id.to_ascii_lowercase())?;
        let record = pool.users.get(pool.by_username.get(username)?)?;
        Some((record.user.id.clone(), record.password_hash.clone()))
    }

    /// Completes a login whose password matched `verified_hash`: starts a new session.
    pub(crate) fn finish_login(
        &mut self,
        pool_id: &str,
        user_id: &str,
        verified_hash: &str,
        now: u64,
    ) -> Result<TokenPair, ApiError> {
        let record = self
            .pools
            .get(&pool_id.to_ascii_lowercase())
            .and_then(|pool| pool.users.get(user_id))
            // Deleted, or the password changed, while the hash was being checked.
            .filter(|record| record.password_hash == verified_hash)
            .ok_or(ApiError::BadCredentials)?;
        if record.user.status != UserStatus::Active {
            return Err(ApiError::Blocked);
        }
        let user = record.user.clone();
        self.issue_pair(None, &user, now)
    }

    /// Exchanges the session's newest refresh token for a new pair (see
    /// [`Sessions::use_refresh`] for what happens to an older one).
    pub(crate) fn refresh(&mut self, claims: &Claims, now: u64) -> Result<TokenPair, ApiError> {
        let family = self.sessions.use_refresh(claims)?;
        let user = self.active_user(claims)?.user.clone();
        self.issue_pair(Some(family), &user, now)
    }

    /// Revokes the refresh token's session.
    pub(crate) fn logout(&mut self, claims: &Claims) -> Result<(), ApiError> {
        let family = self.sessions.use_refresh(claims)?;
        self.sessions.revoke(&family);
        Ok(())
    }

    /// The rules of the policies attached to the access token's user, to decide a grant check
    /// by ([`crate::policy::decide`]) once the lock is released: matching takes a while on a
    /// long path, and no other request should wait for it.
    pub(crate) fn grant_rules(
        &self,
        claims: &Claims,
    ) -> Result<Vec<Arc<[CompiledRule]>>, ApiError> {
        let user = &self.access_user(claims)?.user;
        let pool = self.pool(&claims.user_pool_sub)?;
        Ok(pool
            .policies
            .iter()
            .filter(|stored| user.policy_ids.contains(&stored.policy.id))
            .map(|stored| Arc::clone(&stored.rules))
            .collect())
    }

    /// Revokes every session of a user.
    pub(crate) fn revoke_user_sessions(&mut self, user_id: &str) {
        self.sessions.revoke_user(user_id);
    }

    /// The user of a live access token: its session is not revoked, the user exists and is
    /// not blocked.
    fn access_user(&self, claims: &Claims) -> Result<&UserRecord, ApiError> {
        self.sessions.check_access(claims)?;
        self.active_user(claims)
    }

    fn active_user(&self, claims: &Claims) -> Result<&UserRecord, ApiError> {
        let record = self
            .pool(&claims.user_pool_sub)?
            .users
            .get(&claims.sub)
            .ok_or(ApiError::RevokedToken)?;
        if record.user.status != UserStatus::Active {
            return Err(ApiError::Blocked);
        }
        Ok(record)
    }

    fn issue_pair(
        &mut self,
        family: Option<String>,
        user: &User,
        now: u64,
    ) -> Result<TokenPair, ApiError> {
        let keys = self.pool(&user.user_pool_id)?.shared.keys();
        let (access, access_token) = keys.issue(TokenType::Access, user, now, self.ttl.access)?;
        let (refresh, refresh_token) =
            keys.issue(TokenType::Refresh, user, now, self.ttl.refresh)?;
        drop(keys);
        self.sessions
            .record_pair(family, &user.id, &access, &refresh, now);
        Ok(TokenPair {
            access_token,
            refresh_token,
        })
    }

    pub(crate) fn pool(&self, pool_id: &str) -> Result<&Pool, AdminError> {
        self.pools
            .get(&pool_id.to_ascii_lowercase())
            .ok_or(AdminError::UnknownPool)
    }

    pub(crate) fn pool_mut(&mut self, pool_id: &str) -> Result<&mut Pool, AdminError> {
        self.pools
            .get_mut(&pool_id.to_ascii_lowercase())
            .ok_or(AdminError::UnknownPool)
    }
}

impl Pool {
    /// Refuses contact details another user of the pool already has (`except` is the user
    /// being changed, who may keep their own).
    pub(crate) fn check_free(
        &self,
        contact: &Contact<'_>,
        except: Option<&str>,
    ) -> Result<(), ApiError> {
        let taken_by_other = |index: &HashMap<String, String>, key: String| {
            index
                .get(&key)
                .is_some_and(|owner| Some(owner.as_str()) != except)
        };
        if taken_by_other(&self.by_username, contact.username.to_owned()) {
            return Err(ApiError::Conflict(Taken::Username));
        }
        if taken_by_other(&self.by_email, email_key(contact.email)) {
            return Err(ApiError::Conflict(Taken::Email));
        }
        if taken_by_other(&self.by_phone, phone_key(contact.phone)) {
            return Err(ApiError::Conflict(Taken::Phone));
        }
        Ok(())
    }

    fn index(&mut self, user: &User) {
        self.by_username
            .insert(user.username.clone(), user.id.clone());
        self.by_email
            .insert(email_key(&user.email), user.id.clone());
        self.by_phone
            .insert(phone_key(&user.phone), user.id.clone());
    }

    pub(crate) fn unindex(&mut self, user: &User) {
        self.by_username.remove(&user.username);
        self.by_email.remove(&email_key(&user.email));
        self.by_phone.remove(&phone_key(&user.phone));
    }
}

impl<'a> Contact<'a> {
    fn of(user: &'a User) -> Self {
        Self {
            username: &user.username,
            email: &user.email,
            phone: &user.phone,
        }
    }
}

/// E-mail addresses are unique regardless of case: `Alice@Example.com` is `alice@example.com`.
fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// Phone numbers are unique by their digits: `+79111111111` is `79111111111`.
fn phone_key(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}
