//! stlock-redis's integration tests, in one binary: replicas of an axum app on loopback sharing a
//! real `redis-server` (Debian's package, started per test on a free port) or a real Redis
//! Cluster of three (made with Debian's `redis-cli`), and a real emulator.

mod support;

mod cluster;
#[cfg(feature = "metrics")]
mod metrics;
mod outage;
mod replicas;
mod secrecy;
mod stall;
