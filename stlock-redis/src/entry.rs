//! An outcome as one replica leaves it in Redis for the others (what the exchange came to, the
//! access token that came with it, and how long it is remembered), and the [`Settled`] another
//! replica makes of it.
//!
//! A replica that reads an entry dates it by the key's own time to live, which Redis counts:
//! the entry knows how long its key was set to live, so its age is that minus what is left. No
//! two machines' clocks are compared, and the grace window ends on every replica when it ends on
//! the one that reached the outcome, instead of starting afresh on each (which would stretch the
//! window to twice the grace and more).

use std::time::{Duration, Instant};

use stlock::refresh::{Binding, RefreshOutcome, Settled};
use stlock::TokenPair;

use crate::settings::Settings;

const REFUSED: u8 = 0;
const REFRESHED: u8 = 1;
const UNBOUND: u8 = 0;
const BOUND: u8 = 1;

/// A settled outcome, as kept in Redis (sealed: see [`crate::seal`]).
#[derive(Debug)]
pub(crate) struct Entry {
    /// [`RefreshOutcome::Refreshed`] or [`RefreshOutcome::Refused`]: an unavailable service is
    /// never kept.
    pub(crate) outcome: RefreshOutcome,
    pub(crate) bound_to: Binding,
    /// How long its key is set to live.
    pub(crate) keep: Duration,
    /// How long after it was stored it is remembered: what was left of the grace window then.
    pub(crate) remember: Duration,
}

impl Entry {
    /// What `settled` leaves in Redis, stored now: `None` for an outcome never kept.
    pub(crate) fn of(settled: &Settled, settings: &Settings) -> Option<Self> {
        if matches!(settled.outcome, RefreshOutcome::Unavailable(_)) {
            return None;
        }
        let remember = settled
            .remember_until
            .saturating_duration_since(Instant::now());
        Some(Self {
            outcome: settled.outcome.clone(),
            bound_to: settled.bound_to,
            keep: settings.keep_outcome(remember),
            remember,
        })
    }

    /// The outcome as this replica hands it out. `looked` is when it asked Redis, before the
    /// answer: the entry is dated no later than it was stored. `ttl` is what was left of the
    /// key's time to live then, `None` if the key had none (someone took it off), which counts
    /// as old as the entry can be. `None` if this machine's monotonic clock cannot date it (the
    /// entry is older than the clock, or remembered past the clock's end).
    pub(crate) fn settled(self, looked: Instant, ttl: Option<Duration>) -> Option<Settled> {
        // Redis counts whole milliseconds: one more, never one less.
        let age = ttl.map_or(self.keep, |ttl| self.keep.saturating_sub(ttl)) + MILLISECOND;
        let stored_at = looked.checked_sub(age)?;
        Some(Settled {
            outcome: self.outcome,
            bound_to: self.bound_to,
            settled_at: stored_at,
            remember_until: stored_at.checked_add(self.remember)?,
        })
    }

    /// How long the key lives (8 bytes, big-endian milliseconds), how long the outcome is
    /// remembered (likewise), `UNBOUND` or `BOUND` and the access token's SHA-256, then
    /// `REFUSED`, or `REFRESHED`, the access token's length (4 bytes, big-endian), the access
    /// token, the refresh token.
    pub(crate) fn encode(&self) -> Option<Vec<u8>> {
        let mut plain = Vec::with_capacity(128);
        plain.extend_from_slice(&whole_millis(self.keep).to_be_bytes());
        plain.extend_from_slice(&whole_millis(self.remember).to_be_bytes());
        match self.bound_to.digest() {
            Some(digest) => {
                plain.push(BOUND);
                plain.extend_from_slice(&digest);
            }
            None => plain.push(UNBOUND),
        }
        match &self.outcome {
            RefreshOutcome::Refused => plain.push(REFUSED),
            RefreshOutcome::Refreshed(pair) => {
                let access = pair.access_token.as_bytes();
                plain.push(REFRESHED);
                plain.extend_from_slice(&u32::try_from(access.len()).ok()?.to_be_bytes());
                plain.extend_from_slice(access);
                plain.extend_from_slice(pair.refresh_token.as_bytes());
            }
            _ => return None,
        }
        Some(plain)
    }

    pub(crate) fn decode(plain: &[u8]) -> Option<Self> {
        let (keep, rest) = plain.split_first_chunk::<8>()?;
        let (remember, rest) = rest.split_first_chunk::<8>()?;
        let (bound_to, rest) = match rest.split_first()? {
            (&UNBOUND, rest) => (Binding::none(), rest),
            (&BOUND, rest) => {
                let (digest, rest) = rest.split_first_chunk::<32>()?;
                (Binding::from_digest(Some(*digest)), rest)
            }
            _ => return None,
        };
        let outcome = match rest.split_first()? {
            (&REFUSED, []) => RefreshOutcome::Refused,
            (&REFRESHED, rest) => {
                let (length, rest) = rest.split_first_chunk::<4>()?;
                let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
                let (access, refresh) = rest.split_at_checked(length)?;
                RefreshOutcome::Refreshed(TokenPair {
                    access_token: String::from_utf8(access.to_vec()).ok()?,
                    refresh_token: String::from_utf8(refresh.to_vec()).ok()?,
                })
            }
            _ => return None,
        };
        Some(Self {
            outcome,
            bound_to,
            keep: Duration::from_millis(u64::from_be_bytes(*keep)),
            remember: Duration::from_millis(u64::from_be_bytes(*remember)),
        })
    }
}

const MILLISECOND: Duration = Duration::from_millis(1);

/// A duration in whole milliseconds, as Redis counts it.
fn whole_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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

    fn entry(outcome: RefreshOutcome, bound_to: Binding) -> Entry {
        Entry {
            outcome,
            bound_to,
            keep: Duration::from_secs(10),
            remember: Duration::from_secs(8),
        }
    }

    #[test]
    fn an_entry_reads_back_with_its_binding_and_timing() {
        let bound = Binding::of(Some("access"));
        for (outcome, bound_to) in [
            (RefreshOutcome::Refreshed(pair()), bound),
            (RefreshOutcome::Refused, Binding::none()),
        ] {
            let plain = entry(outcome, bound_to).encode().expect("encodes");
            let read = Entry::decode(&plain).expect("decodes");
            assert_eq!(read.bound_to, bound_to);
            assert_eq!(read.keep, Duration::from_secs(10));
            assert_eq!(read.remember, Duration::from_secs(8));
            match read.outcome {
                RefreshOutcome::Refreshed(p) => assert_eq!(p, pair()),
                RefreshOutcome::Refused => assert_eq!(bound_to, Binding::none()),
                other => panic!("{other:?}"),
            }
        }
        let plain = entry(RefreshOutcome::Refused, bound)
            .encode()
            .expect("encodes");
        for length in 0..plain.len() {
            assert!(Entry::decode(&plain[..length]).is_none(), "cut at {length}");
        }
        let mut trailing = plain;
        trailing.push(0);
        assert!(Entry::decode(&trailing).is_none());
    }

    #[test]
    fn an_entry_is_dated_by_what_is_left_of_its_time_to_live() {
        let looked = Instant::now();
        let e = entry(RefreshOutcome::Refused, Binding::none());
        // Stored 3 s ago: 7 s of its 10 left.
        let settled = e
            .settled(looked, Some(Duration::from_secs(7)))
            .expect("dated");
        let age = looked - settled.settled_at;
        assert!(age >= Duration::from_secs(3) && age <= Duration::from_millis(3_001));
        assert_eq!(
            settled.remember_until - settled.settled_at,
            Duration::from_secs(8),
            "the grace left when it was stored, from when it was stored"
        );
        // A key whose time to live was taken off is as old as it can be.
        let e = entry(RefreshOutcome::Refused, Binding::none());
        let settled = e.settled(looked, None).expect("dated");
        assert!(looked - settled.settled_at > Duration::from_secs(10));
    }

    #[test]
    fn unavailable_is_never_kept() {
        let down = RefreshOutcome::Unavailable(std::sync::Arc::new(std::fmt::Error));
        let settled = Settled::now(down, Binding::none(), Duration::from_secs(10));
        assert!(Entry::of(&settled, &Settings::default()).is_none());
    }
}
