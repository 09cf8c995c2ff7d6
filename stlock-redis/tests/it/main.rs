//! stlock-redis's integration tests, in one binary: replicas of an axum app on loopback sharing a
//! real `redis-server` (Debian's package, started per test on a free port) and a real emulator.

mod support;

mod outage;
mod replicas;
mod secrecy;
mod stall;
