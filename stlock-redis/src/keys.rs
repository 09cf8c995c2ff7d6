//! The Redis keys of one refresh token: its SHA-256 in lowercase hex under the prefix, never the
//! token.

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// The lock a replica holds while it calls the service, and where the outcome is kept.
#[derive(Debug)]
pub(crate) struct Keys {
    pub(crate) lock: String,
    pub(crate) outcome: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str, refresh_token: &str) -> Self {
        let digest = hex(&Sha256::digest(refresh_token.as_bytes()));
        Self {
            lock: format!("{prefix}lock:{digest}"),
            outcome: format!("{prefix}outcome:{digest}"),
        }
    }
}

/// Lowercase hex, as in lock owners and key names.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            // Writing to a String cannot fail.
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_the_digest_of_the_token_not_the_token() {
        let keys = Keys::new("p:", "abc");
        // SHA-256("abc"), the FIPS 180-2 test vector.
        let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(keys.lock, format!("p:lock:{digest}"));
        assert_eq!(keys.outcome, format!("p:outcome:{digest}"));
    }
}
