//! Login throttling: after too many failed logins for one username of a pool, further logins
//! for it are refused (429) until its window closes.
//!
//! A username's window opens at its first counted failure and lasts `window` seconds by the
//! emulator's clock; `max_failures` failures within it lock the username until it closes.
//! Each attempt is counted as a failure *before* its password is checked, and forgiven when the
//! password turns out right: so concurrent attempts cannot slip past the limit while their
//! hashes run. Unknown usernames are counted exactly like known ones, so the answers say
//! nothing about which exist.
//!
//! Counters are keyed by a BLAKE2b digest of pool and username, so a counter's size does not
//! depend on what a client sends, and no username is kept. At most `capacity` are kept: when
//! full, closed windows are forgotten first, then the one opened longest ago.

use std::collections::HashMap;

use blake2::{Blake2b, Digest};

/// Default number of (pool, username) counters kept.
pub(crate) const DEFAULT_CAPACITY: usize = 10_000;

type Key = [u8; 32];

pub(crate) struct LoginThrottle {
    max_failures: u32,
    window_secs: u64,
    capacity: usize,
    counters: HashMap<Key, Counter>,
}

#[derive(Clone, Copy, Debug)]
struct Counter {
    /// When the window opened, in the emulator's seconds.
    opened: u64,
    failures: u32,
}

/// The username is locked; it may try again after this many seconds (at least 1).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Locked {
    pub(crate) retry_after_secs: u64,
}

impl LoginThrottle {
    pub(crate) fn new(max_failures: u32, window_secs: u64, capacity: usize) -> Self {
        Self {
            max_failures,
            window_secs,
            capacity: capacity.max(1),
            counters: HashMap::new(),
        }
    }

    /// An attempt to log in as `username` at `now`: refused while the username is locked,
    /// otherwise counted as a failure until [`forgive`](Self::forgive) says otherwise.
    pub(crate) fn attempt(
        &mut self,
        pool_id: &str,
        username: &str,
        now: u64,
    ) -> Result<(), Locked> {
        let key = key(pool_id, username);
        let window_secs = self.window_secs;
        if let Some(counter) = self.counters.get_mut(&key) {
            let closes = counter.opened.saturating_add(window_secs);
            if now >= closes {
                *counter = Counter {
                    opened: now,
                    failures: 1,
                };
            } else if counter.failures >= self.max_failures {
                return Err(Locked {
                    retry_after_secs: closes - now,
                });
            } else {
                counter.failures += 1;
            }
            return Ok(());
        }
        self.make_room(now);
        self.counters.insert(
            key,
            Counter {
                opened: now,
                failures: 1,
            },
        );
        Ok(())
    }

    /// The password was right: the username's failures are forgotten.
    pub(crate) fn forgive(&mut self, pool_id: &str, username: &str) {
        self.counters.remove(&key(pool_id, username));
    }

    fn make_room(&mut self, now: u64) {
        if self.counters.len() < self.capacity {
            return;
        }
        let window_secs = self.window_secs;
        self.counters
            .retain(|_, counter| now < counter.opened.saturating_add(window_secs));
        while self.counters.len() >= self.capacity {
            let oldest = self
                .counters
                .iter()
                .min_by_key(|(_, counter)| counter.opened)
                .map(|(key, _)| *key);
            match oldest {
                Some(key) => self.counters.remove(&key),
                None => break,
            };
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.counters.len()
    }
}

/// Pool ids are matched regardless of case, usernames exactly; the length prefix keeps
/// `("ab", "c")` and `("a", "bc")` apart.
fn key(pool_id: &str, username: &str) -> Key {
    let pool_id = pool_id.to_ascii_lowercase();
    Blake2b::<blake2::digest::consts::U32>::new()
        .chain_update((pool_id.len() as u64).to_le_bytes())
        .chain_update(pool_id.as_bytes())
        .chain_update(username.as_bytes())
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: &str = "6f1c4a1e-0000-4000-8000-000000000000";

    #[test]
    fn locks_after_max_failures_until_the_window_closes() {
        let mut throttle = LoginThrottle::new(3, 60, 100);
        for _ in 0..3 {
            assert_eq!(throttle.attempt(POOL, "alice", 1000), Ok(()));
        }
        assert_eq!(
            throttle.attempt(POOL, "alice", 1010),
            Err(Locked {
                retry_after_secs: 50
            })
        );
        assert_eq!(
            throttle.attempt(POOL, "alice", 1059),
            Err(Locked {
                retry_after_secs: 1
            })
        );
        assert_eq!(
            throttle.attempt(POOL, "alice", 1060),
            Ok(()),
            "a new window"
        );
        // Other usernames, and the same username in another pool, have their own counters.
        assert_eq!(throttle.attempt(POOL, "bob", 1010), Ok(()));
        assert_eq!(
            throttle.attempt(&POOL.replace('6', "7"), "alice", 1010),
            Ok(())
        );
    }

    #[test]
    fn pool_ids_match_regardless_of_case_usernames_exactly() {
        let mut throttle = LoginThrottle::new(1, 60, 100);
        assert_eq!(throttle.attempt("ABC", "alice", 0), Ok(()));
        assert!(throttle.attempt("abc", "alice", 0).is_err());
        assert_eq!(throttle.attempt("abc", "Alice", 0), Ok(()));
    }

    #[test]
    fn forgiving_forgets_the_failures() {
        let mut throttle = LoginThrottle::new(2, 60, 100);
        assert_eq!(throttle.attempt(POOL, "alice", 0), Ok(()));
        assert_eq!(throttle.attempt(POOL, "alice", 0), Ok(()));
        throttle.forgive(POOL, "alice");
        assert_eq!(throttle.len(), 0);
        assert_eq!(throttle.attempt(POOL, "alice", 0), Ok(()));
        assert_eq!(throttle.attempt(POOL, "alice", 0), Ok(()));
        assert!(throttle.attempt(POOL, "alice", 0).is_err());
    }

    #[test]
    fn memory_is_bounded_closed_windows_go_first_then_the_oldest() {
        let mut throttle = LoginThrottle::new(1, 60, 3);
        for (name, now) in [("a", 0), ("b", 10), ("c", 20)] {
            assert_eq!(throttle.attempt(POOL, name, now), Ok(()));
        }
        // Full, none closed: the oldest window ("a") goes.
        assert_eq!(throttle.attempt(POOL, "d", 30), Ok(()));
        assert_eq!(throttle.len(), 3);
        assert_eq!(throttle.attempt(POOL, "a", 30), Ok(()), "a was forgotten");
        assert!(
            throttle.attempt(POOL, "c", 30).is_err(),
            "c is still locked"
        );
        // Full again ("b", the oldest, made room for "a"): at 85 the window of "c" (opened 20)
        // has closed, so "c" goes and the open ones stay.
        assert_eq!(throttle.attempt(POOL, "e", 85), Ok(()));
        assert_eq!(throttle.len(), 3);
        assert!(
            throttle.attempt(POOL, "d", 85).is_err(),
            "d is still locked"
        );
        assert!(
            throttle.attempt(POOL, "a", 85).is_err(),
            "a is still locked"
        );
        // Thousands of names later, still at most the capacity.
        for i in 0..5000 {
            let _ = throttle.attempt(POOL, &format!("user{i}"), 100);
        }
        assert_eq!(throttle.len(), 3);
    }

    #[test]
    fn a_long_username_costs_no_more_memory() {
        assert_eq!(key(POOL, &"x".repeat(60_000)).len(), 32);
        assert_ne!(key("ab", "c"), key("a", "bc"));
    }
}
