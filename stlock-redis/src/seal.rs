//! Outcomes as they are kept in Redis: sealed with XChaCha20-Poly1305 under a key derived from
//! the old refresh token, with the Redis key as associated data.
//!
//! Only a request that presents the old refresh token can open the outcome, which is exactly
//! who is entitled to it; whoever reads Redis sees random bytes. Binding the value to its key
//! means a value copied to another token's key (or another prefix's) does not open there, and a
//! value altered in any way does not open at all: either is taken for no outcome.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::{OsRng, RngCore};
use sha2::Sha256;
use stlock::refresh::RefreshOutcome;
use stlock::TokenPair;

use crate::error::Failure;

/// The HKDF `info`: keys for this purpose only, and a version to change the format by.
const INFO: &[u8] = b"stlock-redis refresh outcome v1";
const NONCE_LEN: usize = 24;
const REFUSED: u8 = 0;
const REFRESHED: u8 = 1;

/// The sealed value of `outcome` for the key `aad`, or `None` for an outcome never kept
/// ([`RefreshOutcome::Unavailable`]).
pub(crate) fn seal(
    refresh_token: &str,
    aad: &str,
    outcome: &RefreshOutcome,
) -> Result<Option<Vec<u8>>, Failure> {
    let Some(plain) = encode(outcome) else {
        return Ok(None);
    };
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
    Ok(Some(value))
}

/// The outcome sealed in `value` for the key `aad`, or `None` if it does not open: sealed for
/// another token or key, altered, or not ours at all.
pub(crate) fn open(refresh_token: &str, aad: &str, value: &[u8]) -> Option<RefreshOutcome> {
    let (nonce, sealed) = value.split_at_checked(NONCE_LEN)?;
    let payload = Payload {
        msg: sealed,
        aad: aad.as_bytes(),
    };
    let plain = cipher(refresh_token)
        .ok()?
        .decrypt(XNonce::from_slice(nonce), payload)
        .ok()?;
    decode(&plain)
}

fn cipher(refresh_token: &str) -> Result<XChaCha20Poly1305, Failure> {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, refresh_token.as_bytes())
        .expand(INFO, &mut key)
        .map_err(|_| Failure::Sealing)?;
    XChaCha20Poly1305::new_from_slice(&key).map_err(|_| Failure::Sealing)
}

/// `REFUSED`, or `REFRESHED`, the access token's length (4 bytes, big-endian), the access
/// token, the refresh token.
fn encode(outcome: &RefreshOutcome) -> Option<Vec<u8>> {
    match outcome {
        RefreshOutcome::Refused => Some(vec![REFUSED]),
        RefreshOutcome::Refreshed(pair) => {
            let access = pair.access_token.as_bytes();
            let length = u32::try_from(access.len()).ok()?;
            let mut plain = Vec::with_capacity(5 + access.len() + pair.refresh_token.len());
            plain.push(REFRESHED);
            plain.extend_from_slice(&length.to_be_bytes());
            plain.extend_from_slice(access);
            plain.extend_from_slice(pair.refresh_token.as_bytes());
            Some(plain)
        }
        _ => None,
    }
}

fn decode(plain: &[u8]) -> Option<RefreshOutcome> {
    match plain.split_first()? {
        (&REFUSED, []) => Some(RefreshOutcome::Refused),
        (&REFRESHED, rest) => {
            let (length, rest) = rest.split_first_chunk::<4>()?;
            let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
            let (access, refresh) = rest.split_at_checked(length)?;
            Some(RefreshOutcome::Refreshed(TokenPair {
                access_token: String::from_utf8(access.to_vec()).ok()?,
                refresh_token: String::from_utf8(refresh.to_vec()).ok()?,
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> TokenPair {
        TokenPair {
            access_token: "eyJaccess.token".to_owned(),
            refresh_token: "eyJrefresh.token".to_owned(),
        }
    }

    fn sealed(outcome: &RefreshOutcome) -> Vec<u8> {
        seal("old", "p:outcome:1", outcome)
            .expect("sealing works")
            .expect("kept")
    }

    #[test]
    fn an_outcome_opens_with_the_old_token_under_its_own_key_only() {
        let value = sealed(&RefreshOutcome::Refreshed(pair()));
        assert!(matches!(
            open("old", "p:outcome:1", &value),
            Some(RefreshOutcome::Refreshed(p)) if p == pair()
        ));
        assert!(open("old", "p:outcome:2", &value).is_none(), "another key");
        assert!(
            open("other", "p:outcome:1", &value).is_none(),
            "another token"
        );
        let refused = sealed(&RefreshOutcome::Refused);
        assert!(matches!(
            open("old", "p:outcome:1", &refused),
            Some(RefreshOutcome::Refused)
        ));
    }

    #[test]
    fn any_altered_byte_or_a_cut_value_makes_it_no_outcome() {
        let value = sealed(&RefreshOutcome::Refreshed(pair()));
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
        let first = sealed(&RefreshOutcome::Refreshed(pair()));
        let second = sealed(&RefreshOutcome::Refreshed(pair()));
        assert_ne!(first, second, "a fresh nonce each time");
        for needle in [&b"eyJ"[..], b"access", b"refresh"] {
            assert!(!first.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn unavailable_is_never_kept() {
        let down = RefreshOutcome::Unavailable(std::sync::Arc::new(std::fmt::Error));
        assert!(seal("old", "k", &down).expect("no failure").is_none());
    }
}
