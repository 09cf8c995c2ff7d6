//! stlock's integration tests, in one binary: the client, the layers in axum and tonic apps
//! served on loopback against the real emulator, and what the layer allocates and logs.
//!
//! The examples' own code is compiled in (`#[path]`), so these tests exercise the very routers
//! and services the examples serve.

mod support;

#[path = "../../examples/axum_app/app.rs"]
mod app;
#[allow(dead_code, clippy::all)] // generated code; the tests use only part of it
#[path = "../../examples/tonic_app/greeter.rs"]
mod greeter;
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
mod grant_paths;
mod grpc;
mod layer;
mod leaks;
mod logging;
mod misbehaving;
mod refresh;
mod routing;
mod sessions;
