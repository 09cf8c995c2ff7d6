//! `GET /metrics`: what stlock counts (and anything else the app records through the `metrics`
//! facade), in Prometheus's text format, from `metrics-exporter-prometheus`'s recorder.
//!
//! The route is public here, beside the app's: the figures name no user and no token, but a
//! production app would rather serve them on an address only its scraper reaches.

use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// Bounds of the duration histograms' buckets, in seconds: a call to STLock on the same network
/// takes milliseconds, one that hits the client's deadline (10 s by default) takes that long.
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How often the recorder drains what histograms gathered, so that an app nobody scrapes does
/// not keep every sample.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The Prometheus recorder, with real histograms (not summaries) for stlock's durations.
pub fn recorder() -> Result<PrometheusRecorder, BuildError> {
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".to_owned()),
            &DURATION_BUCKETS,
        )?
        .build_recorder())
}

/// `GET /metrics`, rendering what `handle`'s recorder holds; and, for as long as the Tokio
/// runtime runs, the recorder's upkeep.
pub fn routes(handle: PrometheusHandle) -> Router {
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Router::new().route(
        "/metrics",
        get(move || {
            let text = handle.render();
            async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
        }),
    )
}
