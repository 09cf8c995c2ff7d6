//! The middleware entries of the `request` group, each with the baseline its overhead is
//! measured against.

use super::estimates::{self as ids, Estimate, Estimates};

/// One authenticated entry of the `request` group.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// How the report names it.
    pub label: &'static str,
    /// The crate it measures, as named in Cargo.lock.
    pub krate: &'static str,
    /// What form of the crate (layer, extractor) and what token.
    pub form: &'static str,
    pub id: &'static str,
    pub baseline: &'static str,
    /// stlock's own entries, as opposed to a peer's.
    pub ours: bool,
}

pub const STLOCK_FRESH: Entry = Entry {
    label: "stlock, fresh token",
    krate: "stlock",
    form: "`StlockLayer`, a token never seen before",
    id: ids::STLOCK_LAYER,
    baseline: ids::NO_AUTH,
    ours: true,
};

pub const STLOCK_CACHED: Entry = Entry {
    label: "stlock, repeat token",
    krate: "stlock",
    form: "`StlockLayer`, the same token each time (verified-token cache)",
    id: ids::STLOCK_CACHED,
    baseline: ids::NO_AUTH,
    ours: true,
};

pub const REFRESH_NOT_DUE: Entry = Entry {
    label: "stlock + auto-refresh",
    krate: "stlock",
    form: "`StlockLayer` with `AutoRefresh::cookies()`, a fresh token not due",
    id: ids::REFRESH_NOT_DUE,
    baseline: ids::NO_AUTH,
    ours: true,
};

/// The peers, in the order the report lists them.
pub const PEERS: [Entry; 4] = [
    Entry {
        label: "jwt-authorizer",
        krate: "jwt-authorizer",
        form: "layer (`Authorizer::into_layer`) + `JwtClaims` extractor, axum 0.7",
        id: ids::JWT_AUTHORIZER,
        baseline: ids::JWT_AUTHORIZER_NO_AUTH,
        ours: false,
    },
    Entry {
        label: "axum-jwt-auth",
        krate: "axum-jwt-auth",
        form: "extractor (`Claims<T>`, `LocalDecoder` in state), jsonwebtoken 10",
        id: ids::AXUM_JWT_AUTH,
        baseline: ids::AXUM_JWT_AUTH_NO_AUTH,
        ours: false,
    },
    Entry {
        label: "axum-jwt (extractor)",
        krate: "axum-jwt",
        form: "extractor (`Claims<T>`, `Decoder` in state)",
        id: ids::AXUM_JWT,
        baseline: ids::AXUM_JWT_NO_AUTH,
        ours: false,
    },
    Entry {
        label: "axum-jwt (layer)",
        krate: "axum-jwt",
        form: "layer (`axum_jwt::layer`, token stored in the extensions)",
        id: ids::AXUM_JWT_LAYER,
        baseline: ids::AXUM_JWT_NO_AUTH,
        ours: false,
    },
];

impl Entry {
    /// The entry's time over its baseline's, when both were measured.
    pub fn overhead(&self, estimates: &Estimates) -> Option<Estimate> {
        Some(estimates.get(self.id)?.minus(estimates.get(self.baseline)?))
    }
}
