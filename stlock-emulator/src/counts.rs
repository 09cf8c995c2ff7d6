//! How many calls of each kind of the user API reached their operation, per pool: what a test
//! asserts when it must know that its app called the service exactly so often (one refresh for
//! many racing requests, no grant check for a cached answer).
//!
//! The counters are atomics in the pool's shared part (`state::PoolShared`), which requests
//! already take out of the state lock to verify tokens: counting is one atomic increment,
//! with no lock of its own.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// How many calls of each kind of the user API reached one pool: from
/// [`Emulator::counts`](crate::Emulator::counts) or `GET /api/v0/admin/pools/{pool_id}/counts`.
///
/// A call counts once it has passed the route, the API key, its token (for calls with one)
/// and its body's shape (for calls with one), **whatever its answer** from then on: a refresh
/// refused as a reused token counts, a login refused as a wrong password or throttled counts.
/// The README's "Counting calls" section says exactly what counts where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Counts {
    /// `POST /api/v0/users/register`.
    pub registrations: u64,
    /// `POST /api/v0/users/login`.
    pub logins: u64,
    /// `GET /api/v0/users/refresh`.
    pub refreshes: u64,
    /// `POST /api/v0/users/logout`.
    pub logouts: u64,
    /// `POST /api/v0/users/grant`.
    pub grant_checks: u64,
    /// `PATCH /api/v0/users/username`.
    pub username_changes: u64,
    /// `PATCH /api/v0/users/email`.
    pub email_changes: u64,
    /// `PATCH /api/v0/users/password`.
    pub password_changes: u64,
}

/// A kind of counted call; its value is its counter's index.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Register,
    Login,
    Refresh,
    Logout,
    Grant,
    Username,
    Email,
    Password,
}

const OPS: usize = Op::Password as usize + 1;

/// The live counters of one pool.
#[derive(Debug, Default)]
pub(crate) struct Counters([AtomicU64; OPS]);

// Relaxed: each counter is a statistic on its own, never used to order other memory. A test
// reads it after its calls were answered, and the answer went out after the increment.
impl Counters {
    pub(crate) fn count(&self, op: Op) {
        self.0[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now; each is read atomically, not all of them at one instant.
    pub(crate) fn snapshot(&self) -> Counts {
        let read = |op: Op| self.0[op as usize].load(Ordering::Relaxed);
        Counts {
            registrations: read(Op::Register),
            logins: read(Op::Login),
            refreshes: read(Op::Refresh),
            logouts: read(Op::Logout),
            grant_checks: read(Op::Grant),
            username_changes: read(Op::Username),
            email_changes: read(Op::Email),
            password_changes: read(Op::Password),
        }
    }

    pub(crate) fn reset(&self) {
        for counter in &self.0 {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_op_is_read_into_its_own_field() {
        let counters = Counters::default();
        let ops = [
            Op::Register,
            Op::Login,
            Op::Refresh,
            Op::Logout,
            Op::Grant,
            Op::Username,
            Op::Email,
            Op::Password,
        ];
        for (times, op) in ops.into_iter().enumerate() {
            for _ in 0..=times {
                counters.count(op);
            }
        }
        let counts = counters.snapshot();
        let json = serde_json::to_value(counts).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "registrations": 1, "logins": 2, "refreshes": 3, "logouts": 4,
                "grant_checks": 5, "username_changes": 6, "email_changes": 7,
                "password_changes": 8,
            })
        );
        counters.reset();
        assert_eq!(counters.snapshot(), Counts::default());
    }
}
