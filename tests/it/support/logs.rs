//! What `tracing` writes while a piece of work runs, captured as text.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::Level;

/// Everything the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` on this thread with a subscriber at `level`, and returns its result and every
/// line logged meanwhile: by `tracing`, and by the `log` crate (reqwest's) through the bridge.
pub fn capture<T>(level: Level, work: impl FnOnce() -> T) -> (T, String) {
    // Once per process; a second call finds it installed, which is what is wanted.
    let _ = tracing_log::LogTracer::init();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, work);
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    (out, log)
}
