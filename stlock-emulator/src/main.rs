//! `stlock-emulator`: the STLock emulator as a process, for apps and tools in any language.
//!
//! Once it accepts connections it prints exactly one line of JSON to stdout,
//! `{"endpoint": ..., "owner_id": ..., "user_pool_id": ..., "api_key": ..., "jwt_secret": ...}`,
//! then serves until SIGINT or SIGTERM and exits 0 after a graceful shutdown. Bad arguments
//! exit 2; a failure to start exits 1; `--help` prints the usage on stderr and exits 0. Nothing
//! secret is ever written to stderr.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use stlock_emulator::{Emulator, EmulatorBuilder, HashCost};

const USAGE: &str = "\
Usage: stlock-emulator [OPTIONS]

Serves an in-memory STLock (v0 user API and admin API) and prints its credentials as one
line of JSON on stdout: endpoint, owner_id, user_pool_id, api_key, jwt_secret.
Stops gracefully on SIGINT (Ctrl-C) or SIGTERM.

Options:
  --listen ADDR          address to listen on [default: 127.0.0.1:0, a free port]
  --access-ttl SECS      access token lifetime in seconds [default: 600]
  --refresh-ttl SECS     refresh token lifetime in seconds [default: 3600]
  --hash-cost COST       password hashing: `default` (Argon2id m=19456 KiB, t=2, p=1)
                         or `fast` (cheap, for tests only) [default: default]
  --login-throttle N/SECS
                         after N failed logins for a username within SECS seconds, answer
                         its logins 429 until the window closes, e.g. 5/300 [default: off]
  -h, --help             print this help (on stderr) and exit
";

/// Exit code for a command line that cannot be used, as is usual for Unix tools.
const USAGE_ERROR: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let builder = match parse_args(std::env::args_os().skip(1)) {
        Ok(Some(builder)) => builder,
        Ok(None) => {
            // stdout carries the credentials line and nothing else, ever.
            eprint!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("stlock-emulator: {message}\nTry `stlock-emulator --help`.");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let emulator = match builder.start().await {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!("stlock-emulator: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = announce(&emulator) {
        eprintln!("stlock-emulator: could not write the credentials to stdout: {err}");
        emulator.shutdown().await;
        return ExitCode::FAILURE;
    }
    let waited = stop_requested().await;
    eprintln!("stlock-emulator: stopping");
    emulator.shutdown().await;
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stlock-emulator: could not listen for signals: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The credentials line on stdout (flushed: whoever started us is waiting for it), and a
/// banner without secrets on stderr.
fn announce(emulator: &Emulator) -> std::io::Result<()> {
    let line = serde_json::to_string(emulator.credentials())?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    let credentials = emulator.credentials();
    eprintln!(
        "stlock-emulator: serving STLock v0 at {} (owner {}, pool {}); SIGINT or SIGTERM stops it",
        credentials.endpoint, credentials.owner_id, credentials.user_pool_id
    );
    Ok(())
}

async fn stop_requested() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// The builder the arguments describe, or `None` for `--help`. Flags take their value as the
/// next argument or after `=` (lexopt reads both).
fn parse_args(
    args: impl IntoIterator<Item = impl Into<OsString>>,
) -> Result<Option<EmulatorBuilder>, String> {
    use lexopt::prelude::*;

    let mut builder = Emulator::builder();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(message)? {
        builder = match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("listen") => {
                let raw = value(&mut parser)?;
                let addr = raw.parse::<SocketAddr>().map_err(|_| {
                    format!("--listen: `{raw}` is not an address like 127.0.0.1:8080")
                })?;
                builder.listen(addr)
            }
            Long("access-ttl") => {
                builder.access_ttl(seconds("--access-ttl", &value(&mut parser)?)?)
            }
            Long("refresh-ttl") => {
                builder.refresh_ttl(seconds("--refresh-ttl", &value(&mut parser)?)?)
            }
            Long("login-throttle") => {
                let raw = value(&mut parser)?;
                let (max_failures, window) = login_throttle(&raw)
                    .ok_or_else(|| format!("--login-throttle: `{raw}` is not like 5/300 (failures/seconds, both above zero)"))?;
                builder.login_throttle(max_failures, window)
            }
            Long("hash-cost") => match value(&mut parser)?.as_str() {
                "default" => builder.hash_cost(HashCost::Default),
                "fast" => builder.hash_cost(HashCost::Fast),
                other => {
                    return Err(format!(
                        "--hash-cost: `{other}` is neither `default` nor `fast`"
                    ))
                }
            },
            other => return Err(message(other.unexpected())),
        };
    }
    Ok(Some(builder))
}

/// The value of the flag just read, as text.
fn value(parser: &mut lexopt::Parser) -> Result<String, String> {
    use lexopt::ValueExt as _;

    parser
        .value()
        .and_then(|value| value.string())
        .map_err(message)
}

/// lexopt's error, in the words this binary has always used.
fn message(error: lexopt::Error) -> String {
    match error {
        lexopt::Error::MissingValue {
            option: Some(option),
        } => format!("{option} needs a value"),
        lexopt::Error::UnexpectedOption(option) => format!("unknown argument `{option}`"),
        lexopt::Error::UnexpectedArgument(argument) => {
            format!("unknown argument `{}`", argument.to_string_lossy())
        }
        lexopt::Error::NonUnicodeValue(value) => {
            format!("`{}` is not valid UTF-8", value.to_string_lossy())
        }
        other => other.to_string(),
    }
}

/// `N/SECS`: at most N failed logins per username within SECS seconds, both above zero.
fn login_throttle(raw: &str) -> Option<(u32, Duration)> {
    let (failures, secs) = raw.split_once('/')?;
    let failures = failures.parse::<u32>().ok().filter(|n| *n > 0)?;
    let secs = secs.parse::<u64>().ok().filter(|s| *s > 0)?;
    Some((failures, Duration::from_secs(secs)))
}

fn seconds(flag: &str, raw: &str) -> Result<Duration, String> {
    match raw.parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        _ => Err(format!(
            "{flag}: `{raw}` is not a whole number of seconds above zero"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(args: &[&str]) -> String {
        match parse_args(args.iter().copied()) {
            Err(message) => message,
            Ok(parsed) => panic!("{args:?} parsed: {parsed:?}"),
        }
    }

    #[test]
    fn values_come_after_a_space_or_an_equals_sign() {
        let parsed = parse_args([
            "--listen=127.0.0.1:0",
            "--access-ttl",
            "30",
            "--hash-cost=fast",
        ])
        .unwrap()
        .unwrap();
        let expected = Emulator::builder()
            .listen("127.0.0.1:0".parse().unwrap())
            .access_ttl(Duration::from_secs(30))
            .hash_cost(HashCost::Fast);
        assert_eq!(format!("{parsed:?}"), format!("{expected:?}"));
    }

    #[test]
    fn help_wins_wherever_it_is() {
        for args in [&["--help"][..], &["-h"], &["--hash-cost", "fast", "--help"]] {
            assert!(
                parse_args(args.iter().copied()).unwrap().is_none(),
                "{args:?}"
            );
        }
    }

    #[test]
    fn errors_name_the_flag_and_the_value() {
        for (args, expected) in [
            (&["--bogus"][..], "unknown argument `--bogus`"),
            (&["extra"], "unknown argument `extra`"),
            (&["--listen"], "--listen needs a value"),
            (
                &["--listen", "localhost"],
                "--listen: `localhost` is not an address like 127.0.0.1:8080",
            ),
            (
                &["--access-ttl", "0"],
                "--access-ttl: `0` is not a whole number of seconds above zero",
            ),
            (
                &["--refresh-ttl=soon"],
                "--refresh-ttl: `soon` is not a whole number of seconds above zero",
            ),
            (
                &["--hash-cost", "slow"],
                "--hash-cost: `slow` is neither `default` nor `fast`",
            ),
            (
                &["--login-throttle", "5"],
                "--login-throttle: `5` is not like 5/300 (failures/seconds, both above zero)",
            ),
        ] {
            assert_eq!(error(args), expected, "{args:?}");
        }
    }
}
