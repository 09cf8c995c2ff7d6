//! stlock's integration tests, in one binary: the client, the layers in axum and tonic apps
//! served on loopback against the real emulator, and what the layer allocates and logs.
//!
//! The examples' own code is compiled in (`#[path]`), so these tests exercise the very routers
//! and services the examples serve.
//!
//! Modules that need a feature are compiled with it only: `.ci/test` runs them all
//! (`--all-features`), and `.ci/run` runs `grant_features` again without any feature.

// The workspace's shared fixtures (`stlock-test-support`), and stlock's own.
mod support;

#[path = "../../examples/axum_app/app.rs"]
mod app;
#[cfg(feature = "file-store")]
#[allow(dead_code)] // its `main` and argument parsing are the example's alone
#[path = "../../examples/cli.rs"]
mod cli;
#[cfg(feature = "metrics")]
#[path = "../../examples/axum_app/metrics.rs"]
mod example_metrics;
#[cfg(feature = "tonic")]
#[allow(dead_code, clippy::all)] // generated code; the tests use only part of it
#[path = "../../examples/tonic_app/greeter.rs"]
mod greeter;
#[cfg(feature = "tonic")]
#[path = "../../examples/tonic_app/service.rs"]
mod service;

mod adversarial;
mod allocations;
mod browser;
mod client;
mod cross_origin;
mod cross_origin_browser;
mod decoder_agreement;
mod grant;
mod grant_features;
// Its `nest` test holds the `axum` feature's promise (grant_features has both builds').
#[cfg(feature = "axum")]
mod grant_paths;
#[cfg(feature = "tonic")]
mod grpc;
mod layer;
mod leaks;
mod logging;
#[cfg(feature = "metrics")]
mod metrics;
mod misbehaving;
mod modules;
mod outbound;
mod refresh;
mod rotation;
mod routing;
mod serving;
mod session;
#[cfg(feature = "file-store")]
mod session_store;
mod sessions;
mod telemetry;
