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

#[tokio::test]
async fn a_flood_of_other_usernames_neither_unlocks_nor_resets_a_username() {
    const CAPACITY: usize = 4;
    let builder = Emulator::builder()
        .login_throttle(3, WINDOW)
        .login_throttle_capacity(CAPACITY);
    let emu = fast_emulator_with(builder).await;
    let wire = Wire::new(emu.credentials());
    wire.register_named("alice", "79111111111").await;
    wire.register_named("bob", "79222222222").await;
    fail_logins(&wire, 3).await;
    let locked_for = assert_throttled(&wire.login("alice", "test").await);
    // Bob has one failure counted: his window is open too.
    assert_wrong(&wire.login("bob", "wrong").await);

    // Ten times as many other usernames as there are counters: those that found a free counter
    // get the usual 401, the rest 429 until the oldest window (alice's) closes.
    let mut wrong = 0;
    for i in 0..10 * CAPACITY {
        let answer = wire.login(&format!("flood{i}"), "wrong").await;
        if answer.status == StatusCode::UNAUTHORIZED {
            assert_wrong(&answer);
            wrong += 1;
        } else {
            let retry_after = assert_throttled(&answer);
            assert!(
                (1..=locked_for).contains(&retry_after),
                "{retry_after} vs {locked_for}"
            );
        }
    }
    assert_eq!(
        wrong,
        CAPACITY - 2,
        "only the free counters were handed out"
    );

    // Alice is still locked, the right password included; bob's failure still counts.
    assert_throttled(&wire.login("alice", "test").await);
    assert_wrong(&wire.login("bob", "wrong").await);
    assert_wrong(&wire.login("bob", "wrong").await);
    assert_throttled(&wire.login("bob", "test").await);

    // Once the windows close, everyone is served again.
    emu.advance_clock(WINDOW);
    wire.tokens("alice", "test").await;
    wire.tokens("bob", "test").await;
    assert_wrong(&wire.login("flood0", "wrong").await);
}
