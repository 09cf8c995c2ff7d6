//! What `tracing` writes on this thread while a test looks, captured as text: its events, and,
//! for a capture that asks, a line for each span that closes, with the fields recorded on it.
//!
//! One subscriber, installed once for the whole process, routes each event to the capture of
//! the thread it happens on, if any. Not a subscriber per test (`with_default`): with tests on
//! parallel threads each making and dropping its own, `tracing`'s cache of which call sites are
//! enabled is rebuilt concurrently, and a test can then find its own event never delivered.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Mutex, Once, PoisonError};

use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::format::{self, FmtSpan};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt as _};
use tracing_subscriber::Layer as _;

thread_local! {
    /// The capture running on this thread: the most verbose level it keeps, whether it keeps
    /// closed spans, and its text.
    static CURRENT: RefCell<Option<(Level, bool, Buffer)>> = const { RefCell::new(None) };
}

/// Everything logged on a thread while its capture runs.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The writer of the process's subscriber: this thread's capture, else nowhere.
struct ToCurrent;

impl Write for ToCurrent {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CURRENT.with_borrow(|current| {
            if let Some((_, _, buffer)) = current {
                buffer
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lets through what this thread's capture wants: events and spans at its level, or, for the
/// layer that writes a line as each span closes, spans only, when the capture keeps them. Asked
/// about every call: a call site's answer differs from thread to thread and from one moment to
/// the next, so none is ever cached.
struct CurrentLevel {
    spans_only: bool,
}

impl<S> Filter<S> for CurrentLevel {
    fn enabled(&self, metadata: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        CURRENT.with_borrow(|current| {
            current.as_ref().is_some_and(|(level, spans, _)| {
                metadata.level() <= level && (!self.spans_only || (*spans && metadata.is_span()))
            })
        })
    }

    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // `log` records (reqwest's) reach the subscriber through the bridge.
        let _ = tracing_log::LogTracer::init();
        let events = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| ToCurrent)
            .with_filter(CurrentLevel { spans_only: false });
        // Fields formatted by a type of their own: layers formatting with the same type share
        // the span's formatted fields, and each would append every recorded field to them.
        let span_fields = format::debug_fn(|writer, field, value| match field.name() {
            "message" => write!(writer, "{value:?}"),
            name => write!(writer, "{name}={value:?}"),
        })
        .delimited(" ");
        let closed_spans = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .fmt_fields(span_fields)
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(|| ToCurrent)
            .with_filter(CurrentLevel { spans_only: true });
        let subscriber = tracing_subscriber::registry()
            .with(events)
            .with(closed_spans);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// What is logged at `level` and above on this thread, from now until it is dropped: all a
/// `#[tokio::test]` runs, on its one thread, included.
pub struct Capture {
    buffer: Buffer,
}

impl Capture {
    /// Starts capturing what is logged at `level` and above on this thread.
    pub fn start(level: Level) -> Self {
        Self::starting(level, false)
    }

    /// Starts capturing what is logged at `level` and above on this thread, and a line for each
    /// span at that level that closes (`… span{field=value …}: target: "close" time.busy=…`).
    pub fn with_spans(level: Level) -> Self {
        Self::starting(level, true)
    }

    fn starting(level: Level, spans: bool) -> Self {
        install();
        let buffer = Buffer::default();
        CURRENT.set(Some((level, spans, buffer.clone())));
        Self { buffer }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        self.buffer.text()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CURRENT.set(None);
    }
}

/// Runs `work` on this thread, and returns its result and every line logged meanwhile at
/// `level` and above: by `tracing`, and by the `log` crate through the bridge.
pub fn capture<T>(level: Level, work: impl FnOnce() -> T) -> (T, String) {
    let capture = Capture::start(level);
    let out = work();
    let log = capture.text();
    (out, log)
}
