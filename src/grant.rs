//! Grant checks: may this user call this method on this path?

use serde::{Deserialize, Serialize};

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
