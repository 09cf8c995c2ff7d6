//! A command-line program that stays signed in between its runs, as `gh` or `gcloud` do: it
//! signs in through the axum example's own `POST /login`, keeps the session in a file
//! (`stlock::session::FileStore`, readable by the user alone), refreshes it through
//! `POST /refresh` when it is due (saving the new pair for the next run), and signs out through
//! `POST /logout`. It holds no API key and no secret of the pool: the app does, and verifies
//! every token.
//!
//! In one terminal, the app (on 127.0.0.1:3000, with an in-process STLock emulator):
//!
//! ```sh
//! cargo run --example axum_app --features metrics
//! ```
//!
//! In another, register a user with the app, then use the CLI:
//!
//! ```sh
//! curl -i http://127.0.0.1:3000/register -H 'content-type: application/json' \
//!   -d '{"username":"alice","email":"alice@example.com","phone":"79111111111","password":"change-me"}'
//!
//! cargo run --example cli --features file-store -- login --username alice  # asks for the password
//! cargo run --example cli --features file-store -- whoami   # the app's GET /user, as alice
//! cargo run --example cli --features file-store -- logout   # revoked at the service, file removed
//! cargo run --example cli --features file-store -- whoami   # "not signed in", exit code 1
//! ```
//!
//! Options, before or after the command:
//! - `--app URL`: the app (default `http://127.0.0.1:3000`, the axum example's address);
//! - `--session FILE`: where the session is kept (default
//!   `$XDG_CONFIG_HOME/stlock-cli/session.json`, else `$HOME/.config/stlock-cli/session.json`);
//! - `--username NAME` (`login` only): else it is asked for.
//!
//! The password is read from `STLOCK_PASSWORD` if it is set, else from a line of standard input
//! (`printf '%s\n' "$PASSWORD" | … login --username alice` works too); it is shown as it is
//! typed, the example having no crate to turn the terminal's echo off. No password and no token
//! is ever printed; every error is one line, with a non-zero exit code (2 for bad arguments).
//!
//! The tests include this file (`#[path]`) and run `login`, `whoami` and `logout` below against
//! the emulator and the axum example's app.

use std::fmt;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use stlock::session::{
    AccessToken, AppEndpoints, FileStore, Issuer, IssuerError, Session, SessionError, SessionStore,
};

const DEFAULT_APP: &str = "http://127.0.0.1:3000";

const USAGE: &str =
    "usage: cli [--app URL] [--session FILE] login [--username NAME] | whoami | logout
  login    sign in (password from STLOCK_PASSWORD, else a line of standard input)
  whoami   the app's GET /user with the session's token
  logout   revoke the session and remove its file";

/// Time allowed for a call to the app.
const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("cli: {failure}");
            failure.exit_code()
        }
    }
}

async fn run() -> Result<(), Failure> {
    let Some(args) = parse(lexopt::Parser::from_env())? else {
        println!("{USAGE}");
        return Ok(());
    };
    match args.command {
        Command::Login { username } => {
            let username = match username {
                Some(username) => username,
                None => ask("username: ")?,
            };
            let password = password()?;
            login(&args.app, &args.session, &username, &password).await?;
            println!(
                "signed in as {username}; the session is kept in {}",
                args.session.display()
            );
        }
        Command::Whoami => {
            let claims = whoami(&args.app, &args.session).await?;
            let user_id = claims["sub"].as_str().unwrap_or("(none)");
            let claims = serde_json::to_string_pretty(&claims).unwrap_or_default();
            println!("signed in as user {user_id}\n{claims}");
        }
        Command::Logout => {
            if logout(&args.app, &args.session).await? {
                println!("signed out");
            } else {
                println!("not signed in: nothing to sign out");
            }
        }
    }
    Ok(())
}

/// Signs in to the app at `app` and keeps the session in `file`. A session the file held before
/// is revoked at the app, so that no live refresh token is left behind, unseen.
pub async fn login(app: &str, file: &Path, username: &str, password: &str) -> Result<(), Failure> {
    let endpoints = endpoints(app)?;
    let store = FileStore::new(file);
    // A file that is no session is simply replaced.
    let previous = store.load().await.ok().flatten();
    Session::builder(endpoints.clone())
        .store(store)
        .sign_in(username, password)
        .await
        .map_err(|error| match error {
            SessionError::SignIn(IssuerError::Refused(_)) => {
                Failure::Failed("the app refused the username or the password".to_owned())
            }
            SessionError::SignIn(IssuerError::Unavailable(cause)) => {
                Failure::Failed(format!("signing in failed: {cause}"))
            }
            error => session_failure(error),
        })?;
    if let Some(previous) = previous {
        // Best effort: a refresh token already spent or expired is refused, which is as good.
        if let Err(IssuerError::Unavailable(cause)) =
            endpoints.sign_out(&previous.pair.refresh_token).await
        {
            eprintln!("cli: the session signed in before could not be revoked: {cause}");
        }
    }
    Ok(())
}

/// The claims of the session kept in `file`, as the app's `GET /user` answers them: the token
/// is refreshed first if it is due (and the new pair saved), and once more should the app refuse
/// it.
pub async fn whoami(app: &str, file: &Path) -> Result<Value, Failure> {
    let session = load(app, file).await?;
    let url = endpoint_url(app, "user")?;
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|error| Failure::Failed(format!("no HTTP client: {error}")))?;
    let get_user = |token: AccessToken| {
        let request = http.get(url.clone());
        async move {
            let bearer = token.bearer().ok_or_else(|| {
                Failure::Failed("the session's token cannot be sent in a header".to_owned())
            })?;
            request
                .header(reqwest::header::AUTHORIZATION, bearer)
                .send()
                .await
                .map_err(|error| {
                    let error = error.without_url();
                    Failure::Failed(format!("the app could not be asked: {}", causes(&error)))
                })
        }
    };

    let token = session.access_token().await.map_err(session_failure)?;
    let mut response = get_user(token.clone()).await?;
    if response.status() == StatusCode::UNAUTHORIZED {
        // Refused although not due (the app's key changed, the clock is off): one refresh, and
        // one more try.
        let token = session
            .refresh_rejected(&token)
            .await
            .map_err(session_failure)?;
        response = get_user(token).await?;
    }
    let status = response.status();
    let body: Option<Value> = response.json().await.ok();
    match body {
        Some(claims) if status.is_success() && claims.is_object() => Ok(claims),
        _ if status.is_success() => Err(Failure::Failed(
            "the app answered GET /user with something else than claims".to_owned(),
        )),
        body => {
            // The app's errors are `{"detail": "…"}`, which says why (never with the token).
            let detail = body
                .as_ref()
                .and_then(|body| body["detail"].as_str())
                .unwrap_or("no detail");
            Err(Failure::Failed(format!(
                "the app answered GET /user with {status}: {detail}"
            )))
        }
    }
}

/// Signs out the session kept in `file` (revoked at the app, the file removed); `false` when
/// there was none.
pub async fn logout(app: &str, file: &Path) -> Result<bool, Failure> {
    let session = match load(app, file).await {
        Ok(session) => session,
        Err(Failure::NotSignedIn) => return Ok(false),
        Err(failure) => return Err(failure),
    };
    session.logout().await.map_err(|error| match error {
        SessionError::Unavailable(cause) => Failure::Failed(format!(
            "signing out failed, the session is kept (try again): {cause}"
        )),
        error => session_failure(error),
    })?;
    Ok(true)
}

/// The session kept in `file`, with the app's endpoints to refresh it.
async fn load(app: &str, file: &Path) -> Result<Session, Failure> {
    Session::builder(endpoints(app)?)
        .store(FileStore::new(file))
        .load()
        .await
        .map_err(session_failure)?
        .ok_or(Failure::NotSignedIn)
}

fn endpoints(app: &str) -> Result<AppEndpoints, Failure> {
    AppEndpoints::new(app).map_err(|error| Failure::Usage(format!("--app `{app}`: {error}")))
}

/// `path` under the app's base URL (which may have a path of its own).
fn endpoint_url(app: &str, path: &str) -> Result<reqwest::Url, Failure> {
    let invalid = || Failure::Usage(format!("--app `{app}` is not an http or https URL"));
    let mut base = reqwest::Url::parse(app).map_err(|_| invalid())?;
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.join(path).map_err(|_| invalid())
}

fn session_failure(error: SessionError) -> Failure {
    match error {
        SessionError::Ended(_) => {
            Failure::Failed("the session has ended: sign in again with `cli login`".to_owned())
        }
        SessionError::Store(error) => Failure::Failed(format!(
            "the session file cannot be used ({error}): `cli login` replaces it"
        )),
        // Each says what failed and why, and none holds a token.
        error => Failure::Failed(error.to_string()),
    }
}

/// `error` and its causes, on one line: reqwest's own message ("error sending request") says
/// what failed, its causes why ("Connection refused").
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their cause in their own message.
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Why the CLI stopped, worded for its user.
#[derive(Debug)]
pub enum Failure {
    /// No session is kept: sign in first.
    NotSignedIn,
    /// The arguments are not understood.
    Usage(String),
    /// Anything else.
    Failed(String),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::NotSignedIn | Failure::Failed(_) => ExitCode::FAILURE,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotSignedIn => f.write_str("not signed in: run `cli login` first"),
            Failure::Usage(message) => write!(f, "{message} (see `cli --help`)"),
            Failure::Failed(message) => f.write_str(message),
        }
    }
}

enum Command {
    Login { username: Option<String> },
    Whoami,
    Logout,
}

struct Args {
    command: Command,
    app: String,
    session: PathBuf,
}

/// The arguments; `None` for `-h` or `--help`.
fn parse(mut parser: lexopt::Parser) -> Result<Option<Args>, Failure> {
    use lexopt::prelude::*;

    let usage = |message: String| Failure::Usage(message);
    let text = |value: std::ffi::OsString, option: &str| {
        value
            .into_string()
            .map_err(|_| usage(format!("{option} must be valid UTF-8")))
    };
    let (mut command, mut app, mut session, mut username) = (None, None, None, None);
    while let Some(arg) = parser.next().map_err(|error| usage(error.to_string()))? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("app") => {
                let value = parser
                    .value()
                    .map_err(|_| usage("--app needs a URL".to_owned()))?;
                app = Some(text(value, "--app")?);
            }
            Long("session") => {
                let value = parser
                    .value()
                    .map_err(|_| usage("--session needs a file".to_owned()))?;
                session = Some(PathBuf::from(value));
            }
            Long("username") => {
                let value = parser
                    .value()
                    .map_err(|_| usage("--username needs a name".to_owned()))?;
                username = Some(text(value, "--username")?);
            }
            Value(value) if command.is_none() => {
                command = Some(match value.to_str() {
                    Some("login") => "login",
                    Some("whoami") => "whoami",
                    Some("logout") => "logout",
                    _ => {
                        let value = value.to_string_lossy();
                        return Err(usage(format!("unknown command `{value}`")));
                    }
                });
            }
            other => {
                let unknown = match other {
                    Short(flag) => format!("-{flag}"),
                    Long(flag) => format!("--{flag}"),
                    Value(value) => value.to_string_lossy().into_owned(),
                };
                return Err(usage(format!("unknown argument `{unknown}`")));
            }
        }
    }
    let command = match (command, username) {
        (Some("login"), username) => Command::Login { username },
        (Some(_), Some(_)) => return Err(usage("--username is for `login`".to_owned())),
        (Some("whoami"), None) => Command::Whoami,
        (Some(_), None) => Command::Logout,
        (None, _) => return Err(usage("no command given".to_owned())),
    };
    let session = match session {
        Some(session) => session,
        None => default_session_file()?,
    };
    Ok(Some(Args {
        command,
        app: app.unwrap_or_else(|| DEFAULT_APP.to_owned()),
        session,
    }))
}

/// `$XDG_CONFIG_HOME/stlock-cli/session.json`, else `$HOME/.config/stlock-cli/session.json`.
fn default_session_file() -> Result<PathBuf, Failure> {
    // The XDG specification has a relative XDG_CONFIG_HOME ignored.
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })
        .ok_or_else(|| {
            Failure::Usage(
                "neither XDG_CONFIG_HOME nor HOME is set: give the file with --session".to_owned(),
            )
        })?;
    Ok(config.join("stlock-cli").join("session.json"))
}

/// `STLOCK_PASSWORD`, else a line of standard input.
fn password() -> Result<String, Failure> {
    match std::env::var("STLOCK_PASSWORD") {
        Ok(password) => Ok(password),
        Err(std::env::VarError::NotPresent) => ask("password (shown as you type it): "),
        Err(std::env::VarError::NotUnicode(_)) => Err(Failure::Usage(
            "STLOCK_PASSWORD must be valid UTF-8".to_owned(),
        )),
    }
}

/// A line of standard input, after `prompt` on standard error (standard output is for answers).
fn ask(prompt: &str) -> Result<String, Failure> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| Failure::Failed(format!("standard input could not be read: {error}")))?;
    let line = line.trim_end_matches(['\n', '\r']);
    if line.is_empty() {
        let what = prompt.split([' ', ':']).next().unwrap_or("answer");
        return Err(Failure::Failed(format!("no {what} given")));
    }
    Ok(line.to_owned())
}
