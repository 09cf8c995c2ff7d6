//! Writes BENCHMARKS.md and benchmarks.png from criterion's estimates and the load tools' JSON.
//!
//! ```sh
//! report --criterion target/criterion --http-load target/perf/http_load.json \
//!     --emulator-load target/perf/emulator_load.json --commands target/perf/commands.txt \
//!     --timings target/perf/timings.txt --rustc "$(rustc --version)" --lockfile perf/Cargo.lock \
//!     --font /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
//!     --markdown BENCHMARKS.md --chart benchmarks.png
//! ```
//!
//! `--quick true` says in the report that the run was a quick one. A part that was not run (its file is absent) is reported as not measured. The text after
//! the hand-written marker of an existing BENCHMARKS.md is kept.

use std::path::{Path, PathBuf};

use stlock_perf::args::Args;
use stlock_perf::report::estimates::Estimates;
use stlock_perf::report::machine::Machine;
use stlock_perf::report::{chart, kept_part, lockfile, markdown, Inputs};
use stlock_perf::results;

/// The crates whose versions the report names.
const CRATES: [&str; 8] = [
    "criterion",
    "axum",
    "jsonwebtoken",
    "jwt-authorizer",
    "axum-jwt-auth",
    "axum-jwt",
    "tokio",
    "hyper",
];

fn main() {
    if let Err(message) = run() {
        eprintln!("report: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = Args::from_env(&[
        "criterion",
        "http-load",
        "emulator-load",
        "commands",
        "timings",
        "rustc",
        "lockfile",
        "font",
        "markdown",
        "chart",
        "quick",
    ])?;
    let read_text = |name: &str| -> Result<String, String> {
        match args.get(name) {
            None => Ok(String::new()),
            Some(path) => std::fs::read_to_string(path).map_err(|err| format!("{path}: {err}")),
        }
    };
    let estimates = Estimates::load(Path::new(args.required("criterion")?))?;
    let http = match args.get("http-load") {
        Some(path) => results::read(Path::new(path))?,
        None => None,
    };
    let emulator = match args.get("emulator-load") {
        Some(path) => results::read(Path::new(path))?,
        None => None,
    };
    let lock = read_text("lockfile")?;
    let markdown_path = PathBuf::from(args.required("markdown")?);
    let chart_path = PathBuf::from(args.required("chart")?);
    let chart_name = relative(&chart_path, &markdown_path);

    let inputs = Inputs {
        estimates,
        http,
        emulator,
        machine: Machine::detect(args.get("rustc").unwrap_or("unknown")),
        versions: CRATES
            .into_iter()
            .map(|krate| (krate, lockfile::versions(&lock, krate)))
            .collect(),
        commands: read_text("commands")?,
        timings: read_text("timings")?,
        chart: chart_name,
        quick: args.parsed_or("quick", false)?,
    };

    chart::use_font(Path::new(args.required("font")?))?;
    chart::draw(&inputs.estimates, &chart_path)?;

    let previous = match std::fs::read_to_string(&markdown_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(format!("{}: {err}", markdown_path.display())),
    };
    let text = markdown::render(&inputs, kept_part(&previous));
    std::fs::write(&markdown_path, text)
        .map_err(|err| format!("{}: {err}", markdown_path.display()))?;
    eprintln!(
        "report: wrote {} and {}",
        markdown_path.display(),
        chart_path.display()
    );
    Ok(())
}

/// How the Markdown file refers to the chart: its file name when they share a folder.
fn relative(chart: &Path, markdown: &Path) -> String {
    let same_folder = chart.parent().map(Path::canonicalize).and_then(Result::ok)
        == markdown
            .parent()
            .map(Path::canonicalize)
            .and_then(Result::ok);
    match chart.file_name() {
        Some(name) if same_folder => name.to_string_lossy().into_owned(),
        _ => chart.display().to_string(),
    }
}
