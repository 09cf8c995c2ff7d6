//! The Redis keys of one refresh token: its SHA-256 in lowercase hex under the prefix, never the
//! token.
//!
//! The digest stands between braces, Redis's hash tag: Redis Cluster places a key by the part
//! between the first `{` and the first `}` after it, so both keys of a token live on one slot
//! and one script can use them together (a cluster refuses a script whose keys are on two slots,
//! with `CROSSSLOT`). On a single server the braces are only characters of the name.

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
            lock: format!("{prefix}lock:{{{digest}}}"),
            outcome: format!("{prefix}outcome:{{{digest}}}"),
        }
    }
}

/// Whether the keys under `prefix` keep a token's two keys on one cluster slot. A prefix can
/// break that: with a `{` of its own that no `}` of its own closes (with something between),
/// Redis would take the tag from the prefix's `{` to the digest's `}`, which differs between
/// `lock:` and `outcome:`; a prefix whose own braces close leaves the tag in the prefix, the same
/// for both keys (and for every token: one slot for the whole app, its own choice).
pub(crate) fn prefix_keeps_keys_together(prefix: &str) -> bool {
    let keys = Keys::new(prefix, "");
    hashed_part(&keys.lock) == hashed_part(&keys.outcome)
}

/// The part of `key` Redis Cluster hashes to place it: what lies between the first `{` and the
/// first `}` after it, if that is not empty, else the whole key.
pub(crate) fn hashed_part(key: &str) -> &str {
    key.find('{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.find('}').map(|close| &rest[..close])
        })
        .filter(|tag| !tag.is_empty())
        .unwrap_or(key)
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

    /// SHA-256("abc"), the FIPS 180-2 test vector.
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn keys_hold_the_digest_of_the_token_not_the_token() {
        let keys = Keys::new("p:", "abc");
        assert_eq!(keys.lock, format!("p:lock:{{{ABC}}}"));
        assert_eq!(keys.outcome, format!("p:outcome:{{{ABC}}}"));
    }

    /// Redis Cluster's slot of a key: CRC16 (XMODEM: polynomial 0x1021, initial value 0) of its
    /// hashed part, modulo 16384. Written out here, apart from the code under test, as the
    /// cluster specification gives it.
    fn slot(key: &str) -> u16 {
        let mut hashed = key.as_bytes();
        if let Some(open) = hashed.iter().position(|&b| b == b'{') {
            if let Some(close) = hashed[open + 1..].iter().position(|&b| b == b'}') {
                if close > 0 {
                    hashed = &hashed[open + 1..open + 1 + close];
                }
            }
        }
        let mut crc: u16 = 0;
        for &byte in hashed {
            crc ^= u16::from(byte) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
            }
        }
        crc % 16384
    }

    #[test]
    fn the_slot_function_agrees_with_the_cluster_specification() {
        // The specification's own example: CRC16("123456789") is 0x31C3 (below 16384).
        assert_eq!(slot("123456789"), 0x31c3);
        // Its examples of hash tags.
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_ne!(
            slot("foo{}{bar}"),
            slot("bar"),
            "an empty tag hashes the whole key"
        );
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("foo{bar}{zap}"), slot("bar"));
    }

    #[test]
    fn both_keys_of_a_token_hash_to_one_cluster_slot() {
        for prefix in ["", "p:", "stlock:refresh:", "{app}:", "a}b:", "{x}{"] {
            for token in ["abc", "", "eyJrefresh.token", "{", "}"] {
                let keys = Keys::new(prefix, token);
                assert_eq!(
                    slot(&keys.lock),
                    slot(&keys.outcome),
                    "{prefix:?} {token:?}"
                );
                assert!(prefix_keeps_keys_together(prefix), "{prefix:?}");
            }
        }
        // Tokens spread over the slots: the tag is the digest, not the prefix.
        let slots: std::collections::HashSet<u16> = (0..64)
            .map(|n| slot(&Keys::new("p:", &format!("token{n}")).lock))
            .collect();
        assert!(slots.len() > 32, "{slots:?}");
        // Without the braces, the two keys of a token would almost never share one.
        let untagged = |kind: &str| format!("p:{kind}:{ABC}");
        assert_ne!(slot(&untagged("lock")), slot(&untagged("outcome")));
    }

    #[test]
    fn a_prefix_that_would_split_the_keys_is_told_apart() {
        for prefix in ["a{", "a{b:", "x{}", "{}", "a{}b{"] {
            let keys = Keys::new(prefix, "abc");
            assert_ne!(slot(&keys.lock), slot(&keys.outcome), "{prefix:?}");
            assert!(!prefix_keeps_keys_together(prefix), "{prefix:?}");
        }
    }

    #[test]
    fn the_hashed_part_is_the_one_the_slot_function_hashes() {
        for key in [
            "plain",
            "{tag}rest",
            "a{}b",
            "a{b",
            "a}b{c}",
            "{{x}}",
            "x{y}{z}",
        ] {
            assert_eq!(slot(hashed_part(key)), slot(key), "{key:?}");
        }
    }
}
