//! criterion's estimates: the median of each benchmark and its 95% confidence interval, read
//! from `target/criterion/GROUP/FUNCTION/new/estimates.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// Every benchmark of `benches/auth.rs`, as `GROUP/FUNCTION`.
pub const ALL: [&str; 17] = [
    DECODE_STLOCK,
    DECODE_RAW,
    NO_AUTH,
    NO_AUTH_ROUTE_LAYER,
    STLOCK_LAYER,
    STLOCK_CACHED,
    JWT_AUTHORIZER,
    JWT_AUTHORIZER_NO_AUTH,
    AXUM_JWT_AUTH,
    AXUM_JWT_AUTH_NO_AUTH,
    AXUM_JWT,
    AXUM_JWT_LAYER,
    AXUM_JWT_NO_AUTH,
    REJECT_MISSING,
    REJECT_GARBAGE,
    REJECT_BAD_SIGNATURE,
    REFRESH_NOT_DUE,
];

pub const DECODE_STLOCK: &str = "decode/stlock";
pub const DECODE_RAW: &str = "decode/jsonwebtoken_raw";
pub const NO_AUTH: &str = "request/no_auth";
pub const NO_AUTH_ROUTE_LAYER: &str = "request/no_auth_route_layer";
pub const STLOCK_LAYER: &str = "request/stlock_layer";
pub const STLOCK_CACHED: &str = "request/stlock_layer_cached";
pub const JWT_AUTHORIZER: &str = "request/jwt_authorizer";
pub const JWT_AUTHORIZER_NO_AUTH: &str = "request/jwt_authorizer_no_auth";
pub const AXUM_JWT_AUTH: &str = "request/axum_jwt_auth";
pub const AXUM_JWT_AUTH_NO_AUTH: &str = "request/axum_jwt_auth_no_auth";
pub const AXUM_JWT: &str = "request/axum_jwt";
pub const AXUM_JWT_LAYER: &str = "request/axum_jwt_layer";
pub const AXUM_JWT_NO_AUTH: &str = "request/axum_jwt_no_auth";
pub const REJECT_MISSING: &str = "reject/missing";
pub const REJECT_GARBAGE: &str = "reject/garbage";
pub const REJECT_BAD_SIGNATURE: &str = "reject/bad_signature";
pub const REFRESH_NOT_DUE: &str = "refresh/not_due";

/// A time in nanoseconds with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub ns: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Estimate {
    /// `self - other`, its interval the widest the two intervals allow.
    pub fn minus(self, other: Estimate) -> Estimate {
        Estimate {
            ns: self.ns - other.ns,
            lo: self.lo - other.hi,
            hi: self.hi - other.lo,
        }
    }

    /// `self / other`, its interval the widest the two intervals allow.
    pub fn ratio(self, other: Estimate) -> Ratio {
        let divide = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        Ratio {
            value: divide(self.ns, other.ns),
            lo: divide(self.lo, other.hi),
            hi: divide(self.hi, other.lo),
        }
    }
}

/// A ratio of two estimates, with its interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ratio {
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The estimates found, by `GROUP/FUNCTION`.
#[derive(Clone, Debug, Default)]
pub struct Estimates {
    by_id: BTreeMap<&'static str, Estimate>,
}

#[derive(Deserialize)]
struct File {
    median: Statistic,
}

#[derive(Deserialize)]
struct Statistic {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

impl Estimates {
    /// Reads every benchmark of [`ALL`] found under `criterion_dir`; one that is absent (not
    /// run) is left out, one that cannot be read is an error.
    pub fn load(criterion_dir: &Path) -> Result<Self, String> {
        let mut by_id = BTreeMap::new();
        for id in ALL {
            let path = criterion_dir.join(id).join("new/estimates.json");
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(format!("{}: {err}", path.display())),
            };
            let file: File = serde_json::from_slice(&bytes)
                .map_err(|err| format!("{}: {err}", path.display()))?;
            let median = file.median;
            by_id.insert(
                id,
                Estimate {
                    ns: median.point_estimate,
                    lo: median.confidence_interval.lower_bound,
                    hi: median.confidence_interval.upper_bound,
                },
            );
        }
        Ok(Self { by_id })
    }

    /// The estimate of `GROUP/FUNCTION`, if it was measured.
    pub fn get(&self, id: &str) -> Option<Estimate> {
        self.by_id.get(id).copied()
    }

    /// Builds estimates by hand, for tests.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (&'static str, Estimate)>) -> Self {
        Self {
            by_id: pairs.into_iter().collect(),
        }
    }

    /// Which of [`ALL`] are missing.
    pub fn missing(&self) -> Vec<&'static str> {
        ALL.into_iter()
            .filter(|id| !self.by_id.contains_key(id))
            .collect()
    }
}
