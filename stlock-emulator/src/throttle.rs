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
//! depend on what a client sends, and no username is kept. At most `capacity` are kept, and a
//! counter whose window is open is never forgotten to make room: were it, failing logins for
//! many other usernames would unlock a username under attack. So once every kept counter has
//! an open window, a username without one is refused like a locked one, until the oldest
//! window closes. That turns a flood of usernames into a delay for usernames not yet counted,
//! never into more guesses for one that is.
//!
//! Every window lasts as long, so windows close in the order they opened: a queue in that
//! order finds the closed ones, and the oldest open one, at its front, in amortised O(1).

use std::collections::{HashMap, VecDeque};

use blake2::{Blake2b, Digest};

/// Default number of (pool, username) counters kept.
pub(crate) const DEFAULT_CAPACITY: usize = 10_000;

type Key = [u8; 32];

pub(crate) struct LoginThrottle {
    max_failures: u32,
    window_secs: u64,
    capacity: usize,
    counters: HashMap<Key, Counter>,
    /// Every window opened and not yet found closed, oldest first, as (opened, key). An entry
    /// whose key has since been forgiven or has opened a newer window is stale, and skipped.
    opened: VecDeque<(u64, Key)>,
    /// The latest time seen. The system clock may step back; the throttle's time does not, so
    /// that `opened` stays in order.
    latest: u64,
}

#[derive(Clone, Copy, Debug)]
struct Counter {
    /// When the window opened, in the emulator's seconds.
    opened: u64,
    failures: u32,
}

/// The username is locked, or no counter is free for it; it may try again after this many
/// seconds (at least 1).
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
            opened: VecDeque::new(),
            latest: 0,
        }
    }

    /// An attempt to log in as `username` at `now`: refused while the username is locked, or
    /// while it has no counter and none can be made; otherwise counted as a failure until
    /// [`forgive`](Self::forgive) says otherwise.
    pub(crate) fn attempt(
        &mut self,
        pool_id: &str,
        username: &str,
        now: u64,
    ) -> Result<(), Locked> {
        self.latest = self.latest.max(now);
        let now = self.latest;
        let key = key(pool_id, username);
        if let Some(counter) = self.counters.get_mut(&key) {
            let closes = counter.opened.saturating_add(self.window_secs);
            if now < closes {
                if counter.failures >= self.max_failures {
                    return Err(Locked {
                        retry_after_secs: closes - now,
                    });
                }
                counter.failures += 1;
                return Ok(());
            }
            // Its window has closed: the attempt opens a new one, in the counter it has.
            *counter = Counter {
                opened: now,
                failures: 1,
            };
        } else {
            self.make_room(now)?;
            self.counters.insert(
                key,
                Counter {
                    opened: now,
                    failures: 1,
                },
            );
        }
        self.record_opening(now, key);
        Ok(())
    }

    /// The password was right: the username's failures are forgotten.
    pub(crate) fn forgive(&mut self, pool_id: &str, username: &str) {
        // Its entry in `opened` goes stale, and is dropped when met.
        self.counters.remove(&key(pool_id, username));
    }

    /// Forgets closed windows, oldest first, until a counter is free; refuses when the oldest
    /// window left is open, with the time until it closes.
    fn make_room(&mut self, now: u64) -> Result<(), Locked> {
        while self.counters.len() >= self.capacity {
            // Every counter has its entry in `opened`, so there is a front while there are
            // counters.
            let Some(&(opened, key)) = self.opened.front() else {
                break;
            };
            let live = self
                .counters
                .get(&key)
                .is_some_and(|counter| counter.opened == opened);
            let closes = opened.saturating_add(self.window_secs);
            if live && now < closes {
                return Err(Locked {
                    retry_after_secs: closes - now,
                });
            }
            if live {
                self.counters.remove(&key);
            }
            self.opened.pop_front();
        }
        Ok(())
    }

    fn record_opening(&mut self, now: u64, key: Key) {
        // Forgiven and reopened windows leave stale entries behind. Once they are as many as
        // the live ones could be, sweep them: O(capacity) once per `capacity` openings.
        if self.opened.len() >= self.capacity.saturating_mul(2) {
            let counters = &self.counters;
            self.opened.retain(|(opened, key)| {
                counters
                    .get(key)
                    .is_some_and(|counter| counter.opened == *opened)
            });
        }
        self.opened.push_back((now, key));
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
    fn a_full_table_refuses_newcomers_until_its_oldest_window_closes() {
        let mut throttle = LoginThrottle::new(1, 60, 3);
        for (name, now) in [("a", 0), ("b", 10), ("c", 20)] {
            assert_eq!(throttle.attempt(POOL, name, now), Ok(()));
        }
        // Full of open windows: the newcomer waits for the oldest ("a", closing at 60).
        assert_eq!(
            throttle.attempt(POOL, "d", 30),
            Err(Locked {
                retry_after_secs: 30
            })
        );
        assert_eq!(throttle.len(), 3);
        for name in ["a", "b", "c"] {
            assert!(
                throttle.attempt(POOL, name, 30).is_err(),
                "{name} stays locked"
            );
        }
        // At 60 the window of "a" has closed: its counter makes room for "d".
        assert_eq!(throttle.attempt(POOL, "d", 60), Ok(()));
        assert_eq!(
            throttle.attempt(POOL, "a", 60),
            Err(Locked {
                retry_after_secs: 10
            }),
            "a newcomer again, waiting for b"
        );
        assert_eq!(throttle.len(), 3);
    }

    #[test]
    fn a_flood_of_usernames_neither_unlocks_nor_resets_another() {
        let mut throttle = LoginThrottle::new(3, 60, 4);
        for _ in 0..3 {
            assert_eq!(throttle.attempt(POOL, "victim", 0), Ok(()));
        }
        assert_eq!(throttle.attempt(POOL, "counting", 5), Ok(()));
        assert_eq!(throttle.attempt(POOL, "counting", 5), Ok(()));
        let admitted = (0..5000)
            .filter(|i| throttle.attempt(POOL, &format!("user{i}"), 10).is_ok())
            .count();
        assert_eq!(admitted, 2, "only the free counters were handed out");
        assert_eq!(throttle.len(), 4);
        assert_eq!(
            throttle.attempt(POOL, "victim", 10),
            Err(Locked {
                retry_after_secs: 50
            })
        );
        // The counting username kept its failures: one more, then locked.
        assert_eq!(throttle.attempt(POOL, "counting", 10), Ok(()));
        assert!(throttle.attempt(POOL, "counting", 10).is_err());
    }

    #[test]
    fn forgiven_and_reopened_windows_leave_a_bounded_queue() {
        let mut throttle = LoginThrottle::new(2, 60, 3);
        for round in 0..1000 {
            assert_eq!(throttle.attempt(POOL, "alice", round), Ok(()));
            throttle.forgive(POOL, "alice");
            // "bob" reopens a window every 60 s, in his own counter.
            assert_eq!(throttle.attempt(POOL, "bob", round * 60), Ok(()));
            assert!(throttle.opened.len() <= 2 * 3, "{}", throttle.opened.len());
        }
        assert_eq!(throttle.len(), 1, "only bob's counter is left");
    }

    #[test]
    fn time_never_steps_back() {
        let mut throttle = LoginThrottle::new(1, 60, 1);
        assert_eq!(throttle.attempt(POOL, "a", 100), Ok(()));
        // The system clock went back 50 s: the window still closes at 160, not later.
        assert_eq!(
            throttle.attempt(POOL, "a", 50),
            Err(Locked {
                retry_after_secs: 60
            })
        );
        assert_eq!(throttle.attempt(POOL, "b", 160), Ok(()));
    }

    #[test]
    fn a_long_username_costs_no_more_memory() {
        assert_eq!(key(POOL, &"x".repeat(60_000)).len(), 32);
        assert_ne!(key("ab", "c"), key("a", "bc"));
    }
}
