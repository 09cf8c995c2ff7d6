//! What the load tools measure, as the JSON files they write and the report reads.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The wrk runs against the load server (`http_load`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HttpLoad {
    /// `wrk`'s own version line.
    pub wrk_version: String,
    pub threads: u32,
    pub connections: u32,
    pub duration_secs: u64,
    /// How many times each case ran, the cases taking turns; `runs` holds each case's median
    /// run by requests per second.
    #[serde(default = "one_round")]
    pub rounds: u32,
    /// How many distinct tokens the fresh-token runs cycle through.
    pub distinct_tokens: u64,
    pub runs: Vec<WrkRun>,
}

fn one_round() -> u32 {
    1
}

/// One wrk run: a server setup and the tokens it was sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WrkRun {
    /// `no_auth`, `stlock_fresh` or `stlock_repeat` (set by `http_load`: wrk's script does not
    /// know it).
    #[serde(default)]
    pub case: String,
    pub requests: u64,
    pub duration_us: u64,
    /// Socket errors and answers other than 2xx/3xx, all counted together.
    pub errors: u64,
    pub latency_us: Latency,
}

impl WrkRun {
    /// Requests answered per second over the run.
    pub fn requests_per_sec(&self) -> f64 {
        if self.duration_us == 0 {
            return 0.0;
        }
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }
}

/// Latency over a run, in microseconds, as wrk records it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Latency {
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// The emulator's capacity (`emulator_load`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmulatorLoad {
    /// Cores the emulator (and the load generator) ran on.
    pub cores: u32,
    /// Median time of one Argon2id verification at the emulator's default cost, in ms.
    pub argon2_verify_ms: f64,
    /// How many verifications ran to find that median.
    pub argon2_samples: u32,
    /// Verifications per second with every core verifying at once, no emulator around them:
    /// what the machine really hashes when its cores share caches and memory.
    pub argon2_all_cores_per_sec: f64,
    /// Logins measured.
    pub logins: Rate,
    /// Refreshes measured.
    pub refreshes: Rate,
}

impl EmulatorLoad {
    /// Verifications per second the machine can do at most: every core hashing all the time.
    pub fn argon2_limit_per_sec(&self) -> f64 {
        if self.argon2_verify_ms <= 0.0 {
            return 0.0;
        }
        f64::from(self.cores) * 1000.0 / self.argon2_verify_ms
    }
}

/// Calls of one kind made as fast as they are answered, by `concurrency` workers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rate {
    pub concurrency: u32,
    pub succeeded: u64,
    pub failed: u64,
    pub elapsed_ms: u64,
}

impl Rate {
    /// Successful calls per second.
    pub fn per_sec(&self) -> f64 {
        if self.elapsed_ms == 0 {
            return 0.0;
        }
        self.succeeded as f64 / (self.elapsed_ms as f64 / 1000.0)
    }
}

/// Reads one of these files; `None` when it is absent (that part was not run).
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| format!("{}: {err}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("{}: {err}", path.display())),
    }
}

/// Writes one of these files, creating its folder.
pub fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    }
    let json = serde_json::to_vec_pretty(value).map_err(|err| err.to_string())?;
    std::fs::write(path, json).map_err(|err| format!("{}: {err}", path.display()))
}
