//! Loads the load server with wrk: without authentication, with stlock's layer and a token per
//! request in turn from a large set (so that the verified-token cache misses), and with the
//! layer and one token repeated (so that it hits). Writes what wrk measured as JSON.
//!
//! ```sh
//! http_load --out target/perf/http_load.json [--work-dir target/perf] [--duration 10] \
//!     [--warmup 2] [--threads 1] [--connections 64] [--tokens 100000] [--rounds 3]
//! ```
//!
//! The cases take turns, `--rounds` times, and each case's median run is kept: a shared
//! machine's speed drifts by tens of percent over a minute, and taking turns spreads the drift
//! over every case alike.
//!
//! Each case starts its own server process (the `load_server` beside this binary), waits for
//! the line saying it listens, warms it up with a short wrk run, measures with a bounded one,
//! and stops it by closing its standard input. The token files are written under `--work-dir`
//! (never into the repository) and are the only place tokens are written to.

use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use stlock_perf::args::Args;
use stlock_perf::fixture::{self, Minter};
use stlock_perf::results::{self, HttpLoad, WrkRun};

/// Longest wait for a server to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(10);

struct Settings {
    work_dir: PathBuf,
    out: PathBuf,
    duration: u64,
    warmup: u64,
    threads: u32,
    connections: u32,
    tokens: u64,
    rounds: u32,
}

fn main() {
    let settings = settings().unwrap_or_else(|message| {
        eprintln!("http_load: {message}");
        std::process::exit(2);
    });
    let wrk_version = wrk_version();
    std::fs::create_dir_all(&settings.work_dir).expect("the work folder");

    // Distinct tokens, and the fixed one as many times: the wrk script then holds as many
    // requests in both cases, so the client's work is the same.
    let fresh = settings.work_dir.join("tokens-fresh.txt");
    let repeat = settings.work_dir.join("tokens-repeat.txt");
    let mut minter = Minter::new();
    write_tokens(&fresh, (0..settings.tokens).map(|_| minter.fresh()));
    let fixed = fixture::fixed_token();
    write_tokens(&repeat, (0..settings.tokens).map(|_| fixed.clone()));

    let cases = [
        ("no_auth", "none", &fresh),
        ("stlock_fresh", "stlock", &fresh),
        ("stlock_repeat", "stlock", &repeat),
    ];
    let mut by_case: Vec<Vec<WrkRun>> = vec![Vec::new(); cases.len()];
    for round in 1..=settings.rounds {
        for ((case, auth, tokens), runs) in cases.iter().zip(&mut by_case) {
            let run = run_case(&settings, case, auth, tokens);
            eprintln!(
                "http_load: round {round}: {case}: {:.0} requests/s, p99 {} µs, {} errors",
                run.requests_per_sec(),
                run.latency_us.p99,
                run.errors
            );
            runs.push(run);
        }
    }
    let runs = by_case.into_iter().filter_map(median_run).collect();
    let load = HttpLoad {
        wrk_version,
        threads: settings.threads,
        connections: settings.connections,
        duration_secs: settings.duration,
        rounds: settings.rounds,
        distinct_tokens: settings.tokens,
        runs,
    };
    results::write(&settings.out, &load).expect("the results file");
}

/// The run of median throughput (the lower of the two middle ones for an even count).
fn median_run(mut runs: Vec<WrkRun>) -> Option<WrkRun> {
    runs.sort_by(|a, b| a.requests_per_sec().total_cmp(&b.requests_per_sec()));
    let middle = runs.len().checked_sub(1)? / 2;
    Some(runs.swap_remove(middle))
}

fn settings() -> Result<Settings, String> {
    let args = Args::from_env(&[
        "out",
        "work-dir",
        "duration",
        "warmup",
        "threads",
        "connections",
        "tokens",
        "rounds",
    ])?;
    let out = PathBuf::from(args.required("out")?);
    let work_dir = match args.get("work-dir") {
        Some(dir) => PathBuf::from(dir),
        None => out
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    Ok(Settings {
        work_dir,
        out,
        duration: args.parsed_or("duration", 10)?,
        warmup: args.parsed_or("warmup", 2)?,
        threads: args.parsed_or("threads", 1)?,
        connections: args.parsed_or("connections", 64)?,
        tokens: args.parsed_or("tokens", 100_000)?,
        rounds: args.parsed_or::<u32>("rounds", 3)?.max(1),
    })
}

fn wrk_version() -> String {
    // `wrk -v` prints `wrk VERSION [engine] Copyright ...` and exits 1.
    let output = Command::new("wrk")
        .arg("-v")
        .output()
        .expect("wrk is installed (perf/run installs Debian's)");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(|line| {
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|version| !version.is_empty())
        .unwrap_or_else(|| "wrk".to_owned())
}

fn write_tokens(path: &Path, tokens: impl Iterator<Item = String>) {
    let file = std::fs::File::create(path).expect("the token file");
    let mut out = BufWriter::new(file);
    for token in tokens {
        writeln!(out, "{token}").expect("writing the token file");
    }
    out.flush().expect("writing the token file");
}

/// The core the load server runs on, with one worker thread.
const SERVER_CORE: &str = "0";
/// The core wrk runs on.
const WRK_CORE: &str = "1";

fn run_case(settings: &Settings, case: &str, auth: &str, tokens: &Path) -> WrkRun {
    let server = Server::start(auth);
    let url = format!("{}{}", server.url, stlock_perf::apps::PATH);
    let result = settings.work_dir.join(format!("wrk-{case}.json"));
    if settings.warmup > 0 {
        wrk(settings, &url, tokens, settings.warmup, &result);
    }
    let mut run = wrk(settings, &url, tokens, settings.duration, &result);
    run.case = case.to_owned();
    server.stop();
    run
}

/// One wrk run of `seconds`; wrk's own timeout ends it, and the script writes the result.
fn wrk(settings: &Settings, url: &str, tokens: &Path, seconds: u64, result: &Path) -> WrkRun {
    let _ = std::fs::remove_file(result);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("wrk/tokens.lua");
    // Pinned apart from the server: on a 2-core machine, wrk and a server sharing both cores
    // make the figures measure the scheduler's choices more than the server's work.
    let status = Command::new("taskset")
        .args(["--cpu-list", WRK_CORE, "wrk"])
        .arg(format!("-t{}", settings.threads))
        .arg(format!("-c{}", settings.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("-s")
        .arg(&script)
        .arg(url)
        .env("PERF_TOKENS", tokens)
        .env("PERF_THREADS", settings.threads.to_string())
        .env("PERF_RESULT", result)
        // wrk's text summary repeats what the JSON holds.
        .stdout(Stdio::null())
        .status()
        .expect("wrk runs");
    assert!(status.success(), "wrk failed: {status}");
    let json = std::fs::read(result).expect("wrk's script wrote its result");
    let mut run: WrkRun = serde_json::from_slice(&json).expect("the script's JSON");
    run.case = String::new();
    run
}

/// A load server process.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
}

impl Server {
    /// Starts `load_server AUTH` and waits for its "listening on" line.
    fn start(auth: &str) -> Self {
        let binary = std::env::current_exe()
            .expect("this binary's path")
            .with_file_name("load_server");
        // The server on the first core, wrk on the second (see `wrk`).
        let mut child = Command::new("taskset")
            .args(["--cpu-list", SERVER_CORE])
            .arg(&binary)
            .arg(auth)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", binary.display()));
        let stdout = child.stdout.take().expect("the server's stdout");
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = line_tx.send(line);
        });
        let line = line_rx
            .recv_timeout(START_TIMEOUT)
            .expect("the load server said where it listens");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the load server: {line:?}"))
            .to_owned();
        let stdin = child.stdin.take();
        Self { child, stdin, url }
    }

    /// Closes its input, which stops it (within its own grace period), and waits for it.
    fn stop(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("waiting for the load server");
        assert!(status.success(), "the load server failed: {status}");
    }
}
