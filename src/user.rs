//! Users as the service describes them, and what it takes to register one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Secret;

/// A user of a pool, as register and the profile updates return it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id (UUID); the `sub` of their tokens.
    pub id: String,
    /// Login name, unique in the pool.
    pub username: String,
    /// E-mail address, unique in the pool.
    pub email: String,
    /// Phone number, unique in the pool.
    pub phone: String,
    /// The pool the user belongs to.
    pub user_pool_id: String,
    /// The owner of that pool.
    pub owner_id: String,
    /// Grant policies attached to the user.
    #[serde(default)]
    pub policy_ids: Vec<String>,
    /// Whether the user may sign in.
    pub status: UserStatus,
    /// Creation time, seconds since the Unix epoch.
    pub creation_timestamp: u64,
}

/// Whether a user may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum UserStatus {
    /// The user may sign in (`"ACTIVE"`).
    Active,
    /// The pool's owner has blocked the user (`"BLOCKED"`).
    Blocked,
    /// A status this version of stlock does not know yet.
    #[serde(other)]
    Unknown,
}

/// What it takes to register a user. `Debug` hides the password.
///
/// ```
/// let new_user = stlock::Registration::new("alice", "alice@example.com", "79111111111", "s3cret");
/// assert!(!format!("{new_user:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct Registration {
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Phone number.
    pub phone: String,
    /// The password the user chose.
    pub password: Secret,
}

impl Registration {
    /// Collects the four fields the service asks for.
    pub fn new(
        username: impl Into<String>,
        email: impl Into<String>,
        phone: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        Self {
            username: username.into(),
            email: email.into(),
            phone: phone.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("phone", &self.phone)
            .field("password", &self.password)
            .finish()
    }
}
