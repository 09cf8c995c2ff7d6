//! Test fixtures: the workspace's shared ones (`stlock-test-support`: the emulator with users and
//! policies, apps served on loopback, raw servers that misbehave, a proxy, the log capture and a
//! headless browser), and stlock's own: a fixed pool's configuration and tokens made by hand for
//! it (`forge`, which the bench includes too), and the rejections the tests expect.

// A glob, so that a module no test names is no unused import.
pub use stlock_test_support::*;

pub mod emulator;
pub mod forge;

use stlock::{AuthError, TokenSource, TokenSources};

pub use forge::{config_for, OWNER, POOL, SECRET};

/// Where the default layer reads tokens.
pub const HEADER: TokenSource = TokenSource::AuthorizationHeader;

/// The rejection of a request without a token, by a layer that reads only the header.
pub fn missing_header_token() -> AuthError {
    AuthError::MissingToken {
        accepted: TokenSources::new([HEADER]),
    }
}
