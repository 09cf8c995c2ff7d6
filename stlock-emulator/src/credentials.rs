//! What an app needs to talk to one emulated pool.

use serde::{Serialize, Serializer};

use stlock::{Config, ConfigError, Secret};

/// An owner's API key and one of their pools, on a running emulator: everything a
/// [`Config`] needs.
///
/// `Debug` redacts the API key and the secret; `Serialize` writes them out in full, since
/// that is what it is for (the `stlock-emulator` binary prints them as one JSON line).
#[derive(Clone, Debug, Serialize)]
pub struct Credentials {
    /// Base URL of the emulator, `http://127.0.0.1:PORT` (no trailing slash).
    pub endpoint: String,
    /// The owner's id (UUID).
    pub owner_id: String,
    /// The pool's id (UUID).
    pub user_pool_id: String,
    /// The owner's API key, for `x-api-key`.
    #[serde(serialize_with = "expose")]
    pub api_key: Secret,
    /// The pool's HS256 signing secret (64 hex characters), to verify tokens locally.
    #[serde(serialize_with = "expose")]
    pub jwt_secret: Secret,
}

impl Credentials {
    /// A client configuration for this owner and pool, with the default timeout and leeway.
    ///
    /// The emulator's own credentials always make a valid configuration; an error can only come
    /// from fields changed since.
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::builder()
            .endpoint(&self.endpoint)
            .user_pool_id(&self.user_pool_id)
            .owner_id(&self.owner_id)
            .api_key(self.api_key.clone())
            .jwt_secret(self.jwt_secret.clone())
            .build()
    }
}

fn expose<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}
