//! Entry points for the fuzz targets in the repository's `fuzz/` folder. Compiled only with
//! `--cfg fuzzing`, which `cargo fuzz` sets: no build of the emulator has them otherwise.

use crate::{extract, policy, routes, NewPolicy};

/// Reads `bytes` as a request body of every operation, as the HTTP API would.
pub fn request_body(bytes: &[u8]) {
    if let Ok(object) = extract::object_of(bytes) {
        routes::read_every_body(object);
    }
}

/// Compiles a policy given as JSON and decides `method` on `path` by it, as a grant check would;
/// `None` when the policy or the call is refused.
pub fn policy_decision(policy_json: &[u8], method: &str, path: &str) -> Option<bool> {
    let new: NewPolicy = serde_json::from_slice(policy_json).ok()?;
    let (_, compiled) = policy::compile(&new).ok()?;
    let call = policy::Call::parse(method, path).ok()?;
    Some(policy::decide(&compiled, &call))
}
