//! Test fixtures: a fixed pool's configuration, hand-made tokens, the emulator with users and
//! policies, apps served on loopback, raw servers that misbehave, and a headless browser.

pub mod browser;
pub mod emulator;
pub mod forge;
pub mod http;
pub mod logs;
pub mod proxy;
pub mod raw;
pub mod users;

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
