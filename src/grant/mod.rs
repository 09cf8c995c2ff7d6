//! Grant checks: may this user call this method on this path?

mod cache;
mod layer;

use serde::{Deserialize, Serialize};

pub use layer::{GrantFuture, GrantLayer, GrantService, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL};

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
}
