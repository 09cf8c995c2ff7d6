//! The report `perf/run` ends with: BENCHMARKS.md and its chart, from criterion's estimates and
//! the load tools' JSON. It states measured facts only.

pub mod chart;
pub mod entries;
pub mod estimates;
pub mod format;
pub mod lockfile;
pub mod machine;
pub mod markdown;
pub mod targets;

use estimates::Estimates;
use machine::Machine;

use crate::results::{EmulatorLoad, HttpLoad};

/// The line after which BENCHMARKS.md is written by hand: the report keeps whatever follows it.
pub const KEEP_MARKER: &str =
    "<!-- Written by hand from here on: perf/run keeps everything below this line. -->";

/// Everything the report is made from.
pub struct Inputs {
    pub estimates: Estimates,
    pub http: Option<HttpLoad>,
    pub emulator: Option<EmulatorLoad>,
    pub machine: Machine,
    /// `(crate, versions)` as the lockfile pins them.
    pub versions: Vec<(&'static str, Vec<String>)>,
    /// The commands the run executed, one a line.
    pub commands: String,
    /// How long each part of the run took, one a line.
    pub timings: String,
    /// The chart's file name, relative to the Markdown file.
    pub chart: String,
    /// Whether the run was a quick one (criterion `--quick`, short loads).
    pub quick: bool,
}

/// The text after [`KEEP_MARKER`] in an earlier report, marker excluded; empty without one.
pub fn kept_part(previous: &str) -> &str {
    previous
        .split_once(KEEP_MARKER)
        .map_or("", |(_, kept)| kept.trim_start_matches('\n'))
}
