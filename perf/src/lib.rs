//! What the benchmarks, the load tools and the report share: one fixed pool and the tokens made
//! for it, the apps under test (stlock's and each peer crate's, each with its own baseline), and
//! the shape of the results the tools write for the report.

pub mod apps;
pub mod args;
pub mod claims;
pub mod fixture;
pub mod report;
pub mod results;
