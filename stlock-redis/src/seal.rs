//! Entries as they are kept in Redis: sealed with XChaCha20-Poly1305 under a key derived from
//! the old refresh token, with the Redis key as associated data.
//!
//! Only a request that presents the old refresh token can open the entry, which is exactly who
//! is entitled to it; whoever reads Redis sees random bytes. Binding the value to its key means
//! a value copied to another token's key (or another prefix's) does not open there, and a value
//! altered in any way (its binding or timing included) does not open at all.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

use crate::entry::Entry;
use crate::error::Failure;

/// The HKDF `info`: keys for this purpose only, and the format's version. Version 2 carries
/// the binding and the timing; a value of another version does not open.
const INFO: &[u8] = b"stlock-redis refresh outcome v2";
const NONCE_LEN: usize = 24;

/// The sealed value of `entry` for the key `aad`.
pub(crate) fn seal(refresh_token: &str, aad: &str, entry: &Entry) -> Result<Vec<u8>, Failure> {
    let plain = entry.encode().ok_or(Failure::Sealing)?;
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.try_fill_bytes(&mut nonce)?;
    let payload = Payload {
        msg: &plain,
        aad: aad.as_bytes(),
    };
    let sealed = cipher(refresh_token)?
        .encrypt(XNonce::from_slice(&nonce), payload)
        .map_err(|_| Failure::Sealing)?;
    let mut value = Vec::with_capacity(NONCE_LEN + sealed.len());
    value.extend_from_slice(&nonce);
    value.extend_from_slice(&sealed);
    Ok(value)
}

/// The entry sealed in `value` for the key `aad`, or `None` if it does not open: sealed for
/// another token or key, by another version, altered, or not ours at all.
pub(crate) fn open(refresh_token: &str, aad: &str, value: &[u8]) -> Option<Entry> {
    let (nonce, sealed) = value.split_at_checked(NONCE_LEN)?;
    let payload = Payload {
        msg: sealed,
        aad: aad.as_bytes(),
    };
    let plain = cipher(refresh_token)
        .ok()?
        .decrypt(XNonce::from_slice(nonce), payload)
        .ok()?;
    Entry::decode(&plain)
}

fn cipher(refresh_token: &str) -> Result<XChaCha20Poly1305, Failure> {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, refresh_token.as_bytes())
        .expand(INFO, &mut key)
        .map_err(|_| Failure::Sealing)?;
    XChaCha20Poly1305::new_from_slice(&key).map_err(|_| Failure::Sealing)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stlock::refresh::{Binding, RefreshOutcome};
    use stlock::TokenPair;

    use super::*;

    fn pair() -> TokenPair {
        TokenPair {
            access_token: "eyJaccess.token".to_owned(),
            refresh_token: "eyJrefresh.token".to_owned(),
        }
    }

    fn entry(outcome: RefreshOutcome) -> Entry {
        Entry {
            outcome,
            bound_to: Binding::of(Some("eyJold.access")),
            keep: Duration::from_secs(10),
            remember: Duration::from_secs(10),
        }
    }

    fn sealed(outcome: RefreshOutcome) -> Vec<u8> {
        seal("old", "p:outcome:1", &entry(outcome)).expect("sealing works")
    }

    #[test]
    fn an_entry_opens_with_the_old_token_under_its_own_key_only() {
        let value = sealed(RefreshOutcome::Refreshed(pair()));
        let opened = open("old", "p:outcome:1", &value).expect("opens");
        assert!(matches!(opened.outcome, RefreshOutcome::Refreshed(p) if p == pair()));
        assert_eq!(opened.bound_to, Binding::of(Some("eyJold.access")));
        assert!(open("old", "p:outcome:2", &value).is_none(), "another key");
        assert!(
            open("other", "p:outcome:1", &value).is_none(),
            "another token"
        );
        let refused = sealed(RefreshOutcome::Refused);
        assert!(matches!(
            open("old", "p:outcome:1", &refused).map(|e| e.outcome),
            Some(RefreshOutcome::Refused)
        ));
    }

    #[test]
    fn a_value_of_the_first_version_does_not_open() {
        let plain = entry(RefreshOutcome::Refused).encode().expect("encodes");
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, b"old")
            .expand(b"stlock-redis refresh outcome v1", &mut key)
            .expect("a valid length");
        let nonce = [7u8; NONCE_LEN];
        let payload = Payload {
            msg: &plain,
            aad: b"p:outcome:1",
        };
        let mut value = nonce.to_vec();
        value.extend(
            XChaCha20Poly1305::new_from_slice(&key)
                .expect("a 32-byte key")
                .encrypt(XNonce::from_slice(&nonce), payload)
                .expect("encrypts"),
        );
        assert!(open("old", "p:outcome:1", &value).is_none());
    }

    #[test]
    fn any_altered_byte_or_a_cut_value_makes_it_no_outcome() {
        let value = sealed(RefreshOutcome::Refreshed(pair()));
        for at in 0..value.len() {
            let mut altered = value.clone();
            altered[at] ^= 0x01;
            assert!(open("old", "p:outcome:1", &altered).is_none(), "byte {at}");
        }
        for length in 0..value.len() {
            assert!(open("old", "p:outcome:1", &value[..length]).is_none());
        }
    }

    #[test]
    fn the_sealed_value_holds_no_token_and_differs_each_time() {
        let first = sealed(RefreshOutcome::Refreshed(pair()));
        let second = sealed(RefreshOutcome::Refreshed(pair()));
        assert_ne!(first, second, "a fresh nonce each time");
        for needle in [&b"eyJ"[..], b"access", b"refresh"] {
            assert!(!first.windows(needle.len()).any(|w| w == needle));
        }
    }
}
