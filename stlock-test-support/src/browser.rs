//! Debian's headless Chromium, driven through ChromeDriver (WebDriver): for the tests of what a
//! real browser does with the app, with its own cookie jar and its own concurrent requests.
//!
//! Nothing here waits for a guessed time: ChromeDriver is ready when it prints so, and every
//! wait is bounded.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::wd::Capabilities;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::time::{timeout, timeout_at, Instant};

/// What ChromeDriver prints once it listens, followed by the port and a full stop.
const READY: &str = "ChromeDriver was started successfully on port ";

/// How long closing the browser's session may take, after the test's own budget.
const CLOSE_BUDGET: Duration = Duration::from_secs(10);

/// The flags of a headless Chromium that works offline, without a GPU, as root.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// Runs `test` with a fresh headless Chromium, and closes the browser's session afterwards,
/// whether `test` passed, failed, or was still running at the end of `budget` (which starting
/// the browser counts towards). A failure of `test` is then its own panic, unchanged.
pub async fn with_browser<F, Fut>(budget: Duration, test: F)
where
    F: FnOnce(fantoccini::Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let deadline = Instant::now() + budget;
    let browser = timeout_at(deadline, Browser::start())
        .await
        .unwrap_or_else(|_| panic!("Chromium did not start within {budget:?}"));
    // A task of its own, so that its panic is caught and the session closed all the same.
    let mut run = tokio::spawn(test(browser.client.clone()));
    let outcome = timeout_at(deadline, &mut run).await;
    if outcome.is_err() {
        run.abort();
    }
    browser.close().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(failed)) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
        Ok(Err(failed)) => panic!("the browser test was cancelled: {failed}"),
        Err(_) => panic!("the browser test did not finish within {budget:?}"),
    }
}

/// A headless Chromium with a profile of its own, and the ChromeDriver that drives it.
struct Browser {
    client: fantoccini::Client,
    driver: ChromeDriver,
    profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let chromium = installed("chromium");
        let driver = ChromeDriver::start().await;
        let profile = tempfile::tempdir().expect("a temporary profile folder");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|&arg| arg.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            // WebDriver's own bounds on a page load and on a script's promise.
            "timeouts": { "pageLoad": 20_000, "script": 20_000 },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = connect(&driver.url, capabilities)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "ChromeDriver could not start Chromium ({chromium:?}): {error}\n{}",
                    driver.output()
                )
            });
        Self {
            client,
            driver,
            profile,
        }
    }

    /// Ends the WebDriver session, which quits Chromium, then ChromeDriver, then removes the
    /// profile. A session that does not close in time is reported, and ChromeDriver is killed.
    async fn close(self) {
        match timeout(CLOSE_BUDGET, self.client.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("closing the browser session failed: {error}"),
            Err(_) => eprintln!("the browser session did not close within {CLOSE_BUDGET:?}"),
        }
        drop(self.driver);
        drop(self.profile);
    }
}

/// A WebDriver session over plain HTTP: ChromeDriver listens on loopback only.
async fn connect(
    url: &str,
    capabilities: Capabilities,
) -> Result<fantoccini::Client, fantoccini::error::NewSessionError> {
    let http = hyper_util::client::legacy::connect::HttpConnector::new();
    fantoccini::ClientBuilder::new(http)
        .capabilities(capabilities)
        .connect(url)
        .await
}

/// A ChromeDriver process on a port of its choosing, killed when dropped.
struct ChromeDriver {
    url: String,
    output: Output,
    _process: Child,
}

impl ChromeDriver {
    /// Starts ChromeDriver and returns once it says it listens (`--port=0`: it picks a free
    /// port and tells which in that line, so no port is guessed and none can be taken first).
    async fn start() -> Self {
        let binary = installed("chromedriver");
        let mut process = Command::new(&binary)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("{} does not start: {error}", binary.display()));
        let output = Output::default();
        let (ready, port) = oneshot::channel();
        // Both streams are read to their end, so that a full pipe never blocks ChromeDriver.
        let stdout = process.stdout.take().expect("piped");
        let stderr = process.stderr.take().expect("piped");
        tokio::spawn(output.clone().collect(stdout, Some(ready)));
        tokio::spawn(output.clone().collect(stderr, None));
        // The caller bounds the whole start; this bound names the step that hung.
        let port = match timeout(Duration::from_secs(20), port).await {
            Ok(Ok(port)) => port,
            Ok(Err(_)) => panic!("ChromeDriver ended before it was ready:\n{}", output.text()),
            Err(_) => panic!("ChromeDriver was not ready within 20 s:\n{}", output.text()),
        };
        Self {
            url: format!("http://127.0.0.1:{port}"),
            output,
            _process: process,
        }
    }

    /// What ChromeDriver printed so far, for a failure's message.
    fn output(&self) -> String {
        self.output.text()
    }
}

/// The lines a process printed.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    /// Keeps every line of `stream`, and sends the port of the readiness line to `ready`.
    async fn collect(
        self,
        stream: impl AsyncRead + Unpin,
        mut ready: Option<oneshot::Sender<u16>>,
    ) {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let port = line
                .strip_prefix(READY)
                .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok());
            if let Some(port) = port {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(port);
                }
            }
            self.0.lock().unwrap().push(line);
        }
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

/// The path of `program`: on `PATH`, else where Debian installs it. Missing, the test fails:
/// a browser test that passes without a browser would prove nothing.
fn installed(program: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(program));
    let debian = Path::new("/usr/bin").join(program);
    on_path
        .chain([debian])
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` is not installed: the browser test needs Debian's `chromium` and \
                 `chromium-driver` (`apt-get install -y chromium chromium-driver`), or run \
                 `bash .ci/test`, which installs them"
            )
        })
}
