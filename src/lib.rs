#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod cross_origin;
pub mod extract;
pub mod grant;
pub mod layer;
pub mod refresh;
pub mod rejection;
mod secret;
pub mod token;
pub mod user;

pub use client::{Client, Error};
pub use config::{Config, ConfigError};
pub use extract::StlockUser;
pub use grant::{GrantDecision, GrantLayer};
pub use layer::{StlockLayer, TokenSource, TokenSources};
pub use rejection::AuthError;
pub use secret::Secret;
pub use token::{Claims, DecodeError, TokenDecoder, TokenPair, TokenType};
pub use user::{Registration, User, UserStatus};
