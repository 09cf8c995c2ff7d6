//! The emulator on the wire, as one test binary (one link, one process, tests in parallel).
//! `tests/env.rs` is a binary of its own: it changes the process's environment.

mod admin;
#[cfg(unix)]
mod binary;
mod connections;
mod counts;
mod grants;
mod http;
mod raw;
mod rotation;
mod scale;
mod support;
mod throttle;
mod tokens;
