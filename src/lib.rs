#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

// Each module imports a name from the module that defines it, never through the re-exports
// below (they are for users), and no two modules import each other, directly or not
// (tests/it/modules.rs). From the bottom up: metrics, telemetry, secret, config, token, user, client, credentials,
// path, rejection, extract, cross_origin, refresh, layer, grant, session.
pub mod client;
pub mod config;
pub mod credentials;
pub mod cross_origin;
pub mod extract;
pub mod grant;
pub mod layer;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod path;
pub mod refresh;
pub mod rejection;
mod secret;
pub mod session;
mod telemetry;
pub mod token;
pub mod user;
mod wording;

pub use client::{Client, Error, GrantDecision};
pub use config::{Config, ConfigError};
pub use credentials::{TokenSource, TokenSources};
pub use extract::StlockUser;
pub use grant::GrantLayer;
pub use layer::StlockLayer;
pub use rejection::AuthError;
pub use secret::Secret;
pub use token::{Claims, DecodeError, TokenDecoder, TokenPair, TokenType};
pub use user::{Registration, User, UserStatus};
