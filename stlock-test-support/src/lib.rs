//! The fixtures that the test suites of the stlock workspace share: the emulator with users and
//! policies, apps served on loopback and their answers read whole, raw servers that misbehave, a
//! reverse proxy that answers refreshes itself, what `tracing` logs while a test looks, and a
//! headless browser.
//!
//! Not published: a dev-dependency of the workspace's crates, which changes with their tests.
//! Fixtures that only one suite needs stay in that suite (stlock's fixed pool and hand-made
//! tokens, which its bench shares; stlock-redis's Redis server and replicas).

#![warn(missing_docs)]

pub mod browser;
pub mod emulator;
pub mod http;
pub mod logs;
pub mod proxy;
pub mod raw;
pub mod users;
