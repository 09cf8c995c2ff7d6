//! The verified-token cache: a client sends the same access token for ten minutes, so most
//! requests repeat a token already verified.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::telemetry::TokenCacheLookup;
use crate::token::{unix_now, Claims, DecodeError};

/// How many verified tokens a layer remembers by default (see
/// [`StlockLayer::token_cache`](crate::layer::StlockLayer::token_cache)).
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 4096;

/// Verified access tokens and their claims, in a fixed table of slots.
///
/// - **Exact**: a hit compares the whole token with the one remembered, never a hash alone.
/// - **Never stale**: an entry is served only before its token's `exp`; after that the token
///   goes through the decoder again (which applies the leeway, or finds it due for a refresh).
/// - **Bounded and lock-free**: `capacity` slots (rounded up to a power of two), each an
///   atomically swapped entry; readers never wait, a new entry replaces whatever its slot held.
/// - **Cheap on a miss**: a token enters the table only when it is seen a second time (the slot
///   remembers the fingerprint of the last token that missed there), so a flood of fresh or
///   one-off tokens costs one atomic store each and never evicts the tokens in use.
///
/// The slot is chosen by the token's last eight bytes: the tail of its HMAC, which only the
/// service can produce, so that nobody can steer genuine tokens into one slot; a crafted token
/// can at most miss.
pub(crate) struct TokenCache {
    slots: Box<[Slot]>,
    mask: usize,
}

struct Slot {
    /// The fingerprint of the last token that missed here: its second miss admits it.
    seen: AtomicU64,
    entry: ArcSwapOption<Entry>,
}

struct Entry {
    token: Box<str>,
    claims: Arc<Claims>,
}

impl TokenCache {
    /// A cache of `capacity` slots; `None` for a capacity of 0 (no caching).
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        let capacity = capacity.checked_next_power_of_two()?;
        let slots = (0..capacity)
            .map(|_| Slot {
                seen: AtomicU64::new(0),
                entry: ArcSwapOption::empty(),
            })
            .collect();
        Some(Self {
            slots,
            mask: capacity - 1,
        })
    }

    /// The claims of `token`, if it was verified and its `exp` is still ahead of `now`.
    ///
    /// Takes bytes: equal to a token once verified, they need no checking of their own.
    pub(crate) fn get(&self, token: &[u8], now: u64) -> Option<Arc<Claims>> {
        let slot = self.slot(fingerprint(token));
        let entry = slot.entry.load();
        match entry.as_deref() {
            Some(entry) if entry.token.as_bytes() == token && now < entry.claims.exp => {
                TokenCacheLookup::Hit.count();
                Some(Arc::clone(&entry.claims))
            }
            _ => {
                TokenCacheLookup::Miss.count();
                None
            }
        }
    }

    /// Records that `token` was just verified, with these claims: remembered if it missed in
    /// its slot before, else only noted.
    pub(crate) fn admit(&self, token: &str, claims: &Arc<Claims>) {
        let fingerprint = fingerprint(token.as_bytes());
        let slot = self.slot(fingerprint);
        if slot.seen.swap(fingerprint, Ordering::Relaxed) == fingerprint {
            slot.entry.store(Some(Arc::new(Entry {
                token: token.into(),
                claims: Arc::clone(claims),
            })));
        }
    }

    fn slot(&self, fingerprint: u64) -> &Slot {
        &self.slots[fingerprint as usize & self.mask]
    }
}

/// What a request's first look at the cache found out, so that the long way (parsing the
/// credentials in full, then verifying) neither reads the clock nor looks the token up again.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Probe {
    /// The clock, if it was read.
    pub(crate) now: Option<u64>,
    /// Whether the token was looked up and missed.
    pub(crate) missed: bool,
}

impl Probe {
    /// The time to judge the token at: the one read at the door, else now.
    pub(crate) fn now(&self) -> u64 {
        self.now.unwrap_or_else(unix_now)
    }

    /// The claims of `token`: from `cache`, unless the token already missed there, else from
    /// `decode`, and then offered to the cache (when still before their `exp`, the only time
    /// the cache would serve them).
    pub(crate) fn claims(
        &self,
        cache: Option<&TokenCache>,
        token: &str,
        now: u64,
        decode: impl FnOnce(&str) -> Result<Claims, DecodeError>,
    ) -> Result<Arc<Claims>, DecodeError> {
        if !self.missed {
            if let Some(claims) = cache.and_then(|cache| cache.get(token.as_bytes(), now)) {
                return Ok(claims);
            }
        }
        let claims = Arc::new(decode(token)?);
        if let Some(cache) = cache.filter(|_| now < claims.exp) {
            cache.admit(token, &claims);
        }
        Ok(claims)
    }
}

/// The token's last eight bytes, as a number (fewer for a shorter token).
fn fingerprint(token: &[u8]) -> u64 {
    let tail = &token[token.len().saturating_sub(8)..];
    tail.iter()
        .fold(0, |value, &byte| value << 8 | u64::from(byte))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{TokenType, AUDIENCE};

    fn claims(exp: u64) -> Arc<Claims> {
        Arc::new(Claims {
            jti: "j".into(),
            exp,
            iat: 0,
            token_type: TokenType::Access,
            aud: AUDIENCE.into(),
            sub: "s".into(),
            owner_sub: "o".into(),
            user_pool_sub: "p".into(),
        })
    }

    #[test]
    fn a_token_is_remembered_from_its_second_sighting_until_its_exp() {
        let cache = TokenCache::new(64).unwrap();
        let token = "header.payload.signature-tail";
        cache.admit(token, &claims(100));
        assert!(
            cache.get(token.as_bytes(), 10).is_none(),
            "seen once: only noted"
        );
        cache.admit(token, &claims(100));
        assert_eq!(cache.get(token.as_bytes(), 10).unwrap().exp, 100);
        assert!(cache.get(token.as_bytes(), 99).is_some());
        assert!(cache.get(token.as_bytes(), 100).is_none(), "never past exp");
    }

    #[test]
    fn a_hit_compares_the_whole_token() {
        let cache = TokenCache::new(1).unwrap();
        let token = "aaaa.bbbb.same-tail";
        cache.admit(token, &claims(100));
        cache.admit(token, &claims(100));
        // Same tail, so same slot and fingerprint: still no hit.
        assert!(cache.get(b"xxxx.bbbb.same-tail", 10).is_none());
        assert!(cache.get(token.as_bytes(), 10).is_some());
    }

    #[test]
    fn one_off_tokens_do_not_evict_the_one_in_use() {
        let cache = TokenCache::new(1).unwrap();
        let token = "in.use.token-zzz";
        cache.admit(token, &claims(100));
        cache.admit(token, &claims(100));
        for n in 0..100 {
            cache.admit(&format!("one.off.token-{n:03}"), &claims(100));
        }
        assert!(cache.get(token.as_bytes(), 10).is_some());
    }

    #[test]
    fn capacity_zero_is_no_cache_and_others_round_up() {
        assert!(TokenCache::new(0).is_none());
        assert_eq!(TokenCache::new(3).unwrap().slots.len(), 4);
    }
}
