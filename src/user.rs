//! Users as the service describes them ([`User`], [`UserStatus`]), and what it takes to register
//! one ([`Registration`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::Secret;

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

/// Whether a user may sign in, as the service writes it (`"ACTIVE"`, `"BLOCKED"`).
///
/// Displays as its wire value. A status this version of stlock does not know is kept as
/// [`Other`](Self::Other), with the service's own word, rather than refused.
///
/// ```
/// use stlock::UserStatus;
///
/// assert_eq!(UserStatus::Blocked.to_string(), "BLOCKED");
/// let status: UserStatus = serde_json::from_str(r#""SUSPENDED""#)?;
/// assert_eq!(status, UserStatus::Other("SUSPENDED".into()));
/// assert_eq!(status.to_string(), "SUSPENDED");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserStatus {
    /// The user may sign in (`"ACTIVE"`).
    Active,
    /// The pool's owner has blocked the user (`"BLOCKED"`).
    Blocked,
    /// A status this version of stlock does not know, as the service wrote it.
    Other(String),
}

impl UserStatus {
    /// The wire value: `"ACTIVE"`, `"BLOCKED"`, or the unknown status as received.
    pub fn as_str(&self) -> &str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Blocked => "BLOCKED",
            UserStatus::Other(status) => status,
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for UserStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UserStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let status = String::deserialize(deserializer)?;
        Ok(match status.as_str() {
            "ACTIVE" => UserStatus::Active,
            "BLOCKED" => UserStatus::Blocked,
            _ => UserStatus::Other(status),
        })
    }
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
