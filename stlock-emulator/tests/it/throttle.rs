//! Login throttling on the wire: off by default; when on, a username with too many failed
//! logins gets 429 until its window closes, unknown usernames exactly alike. Windows follow the
//! emulator's clock, so no test waits.

use std::time::Duration;

use reqwest::StatusCode;
use stlock_emulator::Emulator;

use crate::support::{fast_emulator, fast_emulator_with, Answer, Wire};

const WINDOW: Duration = Duration::from_secs(300);
const THROTTLED: &str = "too many failed logins for this username; try again later";

async fn throttled_emulator(max_failures: u32) -> (Emulator, Wire) {
    let emu = fast_emulator_with(Emulator::builder().login_throttle(max_failures, WINDOW)).await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    (emu, wire)
}

/// Asserts a 429 with the fixed detail; returns its `Retry-After`, in seconds.
#[track_caller]
fn assert_throttled(answer: &Answer) -> u64 {
    assert_eq!(
        answer.assert_error(StatusCode::TOO_MANY_REQUESTS),
        THROTTLED
    );
    answer.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds")
}

#[track_caller]
fn assert_wrong(answer: &Answer) {
    assert_eq!(
        answer.assert_error(StatusCode::UNAUTHORIZED),
        "incorrect username or password"
    );
}

/// `times` logins of alice with a wrong password, each answered 401.
async fn fail_logins(wire: &Wire, times: u32) {
    for _ in 0..times {
        assert_wrong(&wire.login("alice", "wrong").await);
    }
}

#[tokio::test]
async fn off_by_default() {
    let emu = fast_emulator().await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    fail_logins(&wire, 20).await;
    wire.tokens("alice", "test").await;
}

#[tokio::test]
async fn after_n_failures_even_the_right_password_gets_429_until_the_window_closes() {
    let (_emu, wire) = throttled_emulator(3).await;
    fail_logins(&wire, 3).await;
    let retry_after = assert_throttled(&wire.login("alice", "wrong").await);
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert_throttled(&wire.login("alice", "test").await);
    // Other usernames are not affected.
    wire.register_named("bob", "79222222222").await;
    wire.tokens("bob", "test").await;
}

#[tokio::test]
async fn the_window_closes_by_the_emulators_clock() {
    let (emu, wire) = throttled_emulator(2).await;
    fail_logins(&wire, 2).await;
    let retry_after = assert_throttled(&wire.login("alice", "test").await);
    emu.advance_clock(Duration::from_secs(retry_after));
    wire.tokens("alice", "test").await;

    // A failure after the window closed opens a new one, with a fresh count.
    fail_logins(&wire, 2).await;
    assert_throttled(&wire.login("alice", "wrong").await);
    emu.advance_clock(WINDOW);
    assert_wrong(&wire.login("alice", "wrong").await);
}

#[tokio::test]
async fn a_successful_login_forgets_the_failures() {
    let (_emu, wire) = throttled_emulator(3).await;
    fail_logins(&wire, 2).await;
    wire.tokens("alice", "test").await;
    fail_logins(&wire, 3).await;
    assert_throttled(&wire.login("alice", "wrong").await);
}

#[tokio::test]
async fn an_unknown_username_is_counted_and_answered_exactly_alike() {
    let (_emu, wire) = throttled_emulator(3).await;
    for attempt in 0..5 {
        let known = wire.login("alice", "wrong").await;
        let unknown = wire.login("ghost", "wrong").await;
        assert_eq!(known.status, unknown.status, "attempt {attempt}");
        assert_eq!(known.body, unknown.body, "attempt {attempt}");
        assert_eq!(known.content_type, unknown.content_type);
        let names = |answer: &Answer| {
            let mut names: Vec<String> = answer
                .headers
                .keys()
                .map(|name| name.to_string())
                .filter(|name| name != "date")
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(&known), names(&unknown), "attempt {attempt}");
        if attempt < 3 {
            assert_wrong(&unknown);
        } else {
            // Both windows opened within the same test, a second apart at most.
            let (known, unknown) = (assert_throttled(&known), assert_throttled(&unknown));
            assert!(known.abs_diff(unknown) <= 1, "{known} vs {unknown}");
        }
    }
}

#[tokio::test]
async fn concurrent_attempts_cannot_slip_past_the_limit() {
    let (_emu, wire) = throttled_emulator(3).await;
    let attempts = (0..12).map(|_| {
        let wire = wire.clone();
        tokio::spawn(async move { wire.login("alice", "wrong").await.status })
    });
    let statuses = crate::support::join_all(attempts).await;
    let checked = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 3, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn a_throttle_that_allows_nothing_is_refused_at_start() {
    for (failures, window) in [(0, WINDOW), (3, Duration::from_millis(999))] {
        let started = Emulator::builder()
            .login_throttle(failures, window)
            .start()
            .await;
        assert!(
            matches!(
                started,
                Err(stlock_emulator::EmulatorError::InvalidLoginThrottle)
            ),
            "{failures} per {window:?}"
        );
    }
}
