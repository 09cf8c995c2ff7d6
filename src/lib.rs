#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod client;
mod config;
mod error;
mod extract;
mod grant;
mod layer;
mod rejection;
mod secret;
mod source;
mod token;
mod user;

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

pub use client::Client;
pub use config::{
    env, Config, ConfigBuilder, ConfigError, DEFAULT_LEEWAY, DEFAULT_TIMEOUT, MAX_LEEWAY,
    MIN_JWT_SECRET_LEN,
};
pub use error::{Error, ServiceError};
pub use extract::StlockUser;
pub use grant::{
    GrantDecision, GrantFuture, GrantLayer, GrantService, DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL,
};
pub use jsonwebtoken::Algorithm;
pub use layer::{ResponseFuture, StlockLayer, StlockService};
pub use rejection::{AuthError, DefaultRejection, RejectionBody, RejectionHandler};
pub use secret::Secret;
pub use source::TokenSource;
pub use token::{Claims, DecodeError, TokenDecoder, TokenPair, TokenType, AUDIENCE, MAX_TOKEN_LEN};
pub use user::{Registration, User, UserStatus};
