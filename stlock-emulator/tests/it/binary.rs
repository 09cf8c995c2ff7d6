//! The `stlock-emulator` binary's contract: one JSON line on stdout, a real server, a graceful
//! exit 0 on SIGTERM or SIGINT, exit 2 on bad flags, usage on stderr for `--help`.

use std::process::Stdio;
use std::time::Duration;

use crate::support::Wire;
use reqwest::StatusCode;
use serde_json::Value;
use stlock_emulator::Credentials;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

/// Bound on every wait, so that a broken binary fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

fn emulator(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stlock-emulator"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Starts the binary with `args` and reads its one line of credentials.
async fn spawn_running(args: &[&str]) -> (Child, BufReader<ChildStdout>, Credentials) {
    let mut child = emulator(args).spawn().expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    timeout(PATIENCE, stdout.read_line(&mut line))
        .await
        .expect("the credentials line comes")
        .expect("stdout is readable");
    let json: Value = serde_json::from_str(&line).expect("the line is JSON");
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "api_key",
            "endpoint",
            "jwt_secret",
            "owner_id",
            "user_pool_id"
        ]
    );
    let field = |name: &str| json[name].as_str().expect("a string").to_owned();
    let credentials = Credentials {
        endpoint: field("endpoint"),
        owner_id: field("owner_id"),
        user_pool_id: field("user_pool_id"),
        api_key: field("api_key").into(),
        jwt_secret: field("jwt_secret").into(),
    };
    (child, stdout, credentials)
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for the exit; returns whether it was 0, the rest of stdout, and stderr.
async fn finish(mut child: Child, mut stdout: BufReader<ChildStdout>) -> (bool, String, String) {
    let status = timeout(PATIENCE, child.wait())
        .await
        .expect("it exits")
        .expect("wait works");
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .await
        .expect("stdout is readable");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .await
        .expect("stderr is readable");
    (status.success(), rest, stderr)
}

#[tokio::test]
async fn prints_credentials_serves_and_stops_cleanly_on_sigterm() {
    let (child, stdout, credentials) =
        spawn_running(&["--listen", "127.0.0.1:0", "--hash-cost", "fast"]).await;
    assert!(credentials.endpoint.starts_with("http://127.0.0.1:"));
    assert_eq!(credentials.jwt_secret.len(), 64);

    let wire = Wire::new(&credentials);
    wire.register_named("alice", "79111111111").await;
    let (access, _) = wire.tokens("alice", "test").await;
    let claims = stlock::TokenDecoder::new(&credentials.config().unwrap())
        .decode_access(&access)
        .unwrap();
    assert_eq!(claims.user_pool_sub, credentials.user_pool_id);

    signal(&child, "TERM");
    let (success, rest, stderr) = finish(child, stdout).await;
    assert!(success, "exit 0 after SIGTERM; stderr: {stderr}");
    assert_eq!(rest, "", "nothing more on stdout");
    assert!(
        !stderr.contains(credentials.api_key.expose()),
        "no API key on stderr"
    );
    assert!(
        !stderr.contains(credentials.jwt_secret.expose()),
        "no secret on stderr"
    );
    let after = wire
        .http
        .get(wire.url("/api/v0/users/refresh"))
        .send()
        .await;
    assert!(after.is_err(), "nothing listens any more");
}

#[tokio::test]
async fn stops_cleanly_on_sigint() {
    let (child, stdout, credentials) =
        spawn_running(&["--listen", "127.0.0.1:0", "--hash-cost", "fast"]).await;
    let wire = Wire::new(&credentials);
    wire.login("nobody", "x")
        .await
        .assert_error(StatusCode::UNAUTHORIZED);
    signal(&child, "INT");
    let (success, rest, _) = finish(child, stdout).await;
    assert!(success);
    assert_eq!(rest, "");
}

#[tokio::test]
async fn bad_flags_exit_2_with_a_message_on_stderr() {
    for args in [
        &["--bogus"][..],
        &["--listen"],
        &["--listen", "localhost"],
        &["--access-ttl", "0"],
        &["--refresh-ttl", "soon"],
        &["--hash-cost", "slow"],
        &["--login-throttle", "0/300"],
        &["--login-throttle", "5/0"],
        &["--login-throttle", "5"],
        &["--login-throttle=five/300"],
        &["extra"],
    ] {
        let output = timeout(PATIENCE, emulator(args).output())
            .await
            .expect("it exits")
            .expect("it runs");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
}

#[tokio::test]
async fn help_goes_to_stderr_with_exit_0_and_stdout_stays_empty() {
    for flag in ["--help", "-h"] {
        let output = timeout(PATIENCE, emulator(&[flag]).output())
            .await
            .expect("it exits")
            .expect("it runs");
        assert!(output.status.success(), "{flag}");
        assert!(
            output.stdout.is_empty(),
            "{flag}: stdout is for the credentials only"
        );
        let help = String::from_utf8(output.stderr).unwrap();
        assert!(help.starts_with("Usage: stlock-emulator"), "{help}");
        for option in [
            "--listen",
            "--access-ttl",
            "--refresh-ttl",
            "--hash-cost",
            "--login-throttle",
            "--help",
        ] {
            assert!(help.contains(option), "{flag}: {option}");
        }
    }
}

#[tokio::test]
async fn flags_set_the_listen_address_and_lifetimes() {
    let (child, stdout, credentials) = spawn_running(&[
        "--listen=127.0.0.1:0",
        "--access-ttl=30",
        "--refresh-ttl",
        "90",
        "--hash-cost=fast",
    ])
    .await;
    let wire = Wire::new(&credentials);
    wire.register_named("alice", "79111111111").await;
    let (access, refresh) = wire.tokens("alice", "test").await;
    let decoder = stlock::TokenDecoder::new(&credentials.config().unwrap());
    let access = decoder.decode_access(&access).unwrap();
    let refresh = decoder.decode_refresh(&refresh).unwrap();
    assert_eq!(
        (access.exp - access.iat, refresh.exp - refresh.iat),
        (30, 90)
    );
    signal(&child, "TERM");
    assert!(finish(child, stdout).await.0);
}

#[tokio::test]
async fn login_throttle_flag_turns_throttling_on() {
    let (child, stdout, credentials) =
        spawn_running(&["--hash-cost", "fast", "--login-throttle", "2/300"]).await;
    let wire = Wire::new(&credentials);
    wire.register_named("alice", "79111111111").await;
    for _ in 0..2 {
        wire.login("alice", "wrong")
            .await
            .assert_error(StatusCode::UNAUTHORIZED);
    }
    let throttled = wire.login("alice", "test").await;
    throttled.assert_error(StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers.contains_key("retry-after"));
    signal(&child, "TERM");
    assert!(finish(child, stdout).await.0);
}
