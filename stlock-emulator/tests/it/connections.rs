//! The server's limits on real sockets: every stage of a connection has a deadline, the number
//! of connections a cap, and shutdown a bound. Deadlines are set short through the public
//! `Limits`; each test asserts the server acts after the deadline (not before) and within a
//! bound a little above it.

use std::time::Duration;

use serde_json::json;
use stlock_emulator::{Emulator, Limits};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::raw::{answers_within, connect, head, read_answer, read_until_closed, send};
use crate::support::fast_emulator_with;

/// The deadline most tests configure.
const SHORT: Duration = Duration::from_millis(800);
/// How far past a deadline the server may act before the test calls it stuck: generous, for a
/// debug build on a busy two-core machine.
const SLACK: Duration = Duration::from_secs(3);
/// How much earlier than its deadline an action may be seen: the server's clock starts a
/// moment before the test's.
const EARLY: Duration = Duration::from_millis(250);

async fn emulator(limits: Limits) -> Emulator {
    fast_emulator_with(Emulator::builder().limits(limits)).await
}

fn api_key(emu: &Emulator) -> String {
    emu.credentials().api_key.expose().to_owned()
}

/// A login of an unknown user: a complete request the emulator answers 401.
fn login_request(emu: &Emulator) -> Vec<u8> {
    let creds = emu.credentials();
    let body = json!({"user_pool_id": creds.user_pool_id, "owner_id": creds.owner_id,
        "username": "nobody", "password": "x"})
    .to_string();
    let length = body.len().to_string();
    let head = head(
        "POST",
        "/api/v0/users/login",
        &[("x-api-key", &api_key(emu)), ("content-length", &length)],
    );
    format!("{head}\r\n{body}").into_bytes()
}

/// Asserts the server closes the connection, without a word, after `deadline` and within the
/// slack.
async fn assert_closed_silently_at(stream: &mut TcpStream, deadline: Duration) {
    let (bytes, elapsed) = read_until_closed(stream, deadline + SLACK).await;
    assert_eq!(
        bytes,
        b"",
        "closed without an answer: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    assert_acted_after(elapsed, deadline);
}

#[track_caller]
fn assert_acted_after(elapsed: Duration, deadline: Duration) {
    assert!(
        elapsed + EARLY >= deadline,
        "acted after {elapsed:?}, before the {deadline:?} deadline"
    );
}

#[tokio::test]
async fn a_normal_request_is_answered_and_the_connection_kept() {
    let emu = emulator(Limits::default()).await;
    let mut stream = connect(emu.local_addr()).await;
    for _ in 0..2 {
        send(&mut stream, &login_request(&emu)).await;
        let answer = read_answer(&mut stream, SLACK).await;
        assert_eq!(answer.status, 401, "{answer:?}");
        assert_eq!(
            answer.json(),
            json!({"detail": "incorrect username or password"})
        );
        assert_eq!(answer.header("connection"), None, "kept alive: {answer:?}");
    }
}

#[tokio::test]
async fn a_half_sent_head_is_closed_at_the_head_deadline() {
    let emu = emulator(Limits::default().header_read_timeout(SHORT)).await;
    let mut stream = connect(emu.local_addr()).await;
    // No blank line: the head never ends.
    send(
        &mut stream,
        head("GET", "/api/v0/users/refresh", &[]).as_bytes(),
    )
    .await;
    assert_closed_silently_at(&mut stream, SHORT).await;
}

#[tokio::test]
async fn a_head_under_way_has_the_head_deadline_not_the_idle_one() {
    let (idle, head_deadline) = (Duration::from_millis(400), Duration::from_millis(1600));
    let limits = Limits::default()
        .idle_timeout(idle)
        .header_read_timeout(head_deadline);
    let emu = emulator(limits).await;
    let mut stream = connect(emu.local_addr()).await;
    send(&mut stream, b"GET /api/v0/users/refresh HTTP/1.1\r\n").await;
    assert_closed_silently_at(&mut stream, head_deadline).await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_idle_deadline() {
    // Before its first bytes the protocol is unknown and hyper has no deadline of its own.
    let emu = emulator(Limits::default().idle_timeout(SHORT)).await;
    let mut stream = connect(emu.local_addr()).await;
    assert_closed_silently_at(&mut stream, SHORT).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_deadline() {
    let emu = emulator(Limits::default().idle_timeout(SHORT)).await;
    let mut stream = connect(emu.local_addr()).await;
    send(&mut stream, &login_request(&emu)).await;
    let answer = read_answer(&mut stream, SLACK).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("connection"), None, "kept alive: {answer:?}");
    assert_closed_silently_at(&mut stream, SHORT).await;
}

#[tokio::test]
async fn an_idle_http2_connection_gets_goaway_and_is_closed() {
    // The client's own frames (the preface, SETTINGS) are no request under way: with nothing in
    // flight the idle deadline holds, however far off the head deadline is.
    let limits = Limits::default()
        .idle_timeout(SHORT)
        .header_read_timeout(Duration::from_secs(30))
        .shutdown_timeout(SHORT);
    let emu = emulator(limits).await;
    let mut stream = connect(emu.local_addr()).await;
    // The HTTP/2 preface and an empty SETTINGS frame: h2c by prior knowledge, as gRPC does.
    send(&mut stream, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    send(&mut stream, &[0, 0, 0, 0x4, 0, 0, 0, 0, 0]).await;
    let (bytes, elapsed) = read_until_closed(&mut stream, 2 * SHORT + SLACK).await;
    assert_acted_after(elapsed, SHORT);
    const GOAWAY: u8 = 0x7;
    assert!(
        frame_types(&bytes).contains(&GOAWAY),
        "{:?}",
        frame_types(&bytes)
    );
}

/// The types of the HTTP/2 frames in `bytes`.
fn frame_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 9 {
        let length = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        types.push(rest[3]);
        rest = &rest[(9 + length).min(rest.len())..];
    }
    types
}

/// A register request announcing `length` bytes of body, whose head is sent whole.
fn register_head(emu: &Emulator, length: &str, extra: &[(&str, &str)]) -> String {
    let key = api_key(emu);
    let mut headers = vec![("x-api-key", key.as_str()), ("content-length", length)];
    headers.extend_from_slice(extra);
    format!("{}\r\n", head("POST", "/api/v0/users/register", &headers))
}

#[tokio::test]
async fn a_half_sent_body_gets_408_and_the_connection_is_closed() {
    let emu = emulator(Limits::default().body_read_timeout(SHORT)).await;
    let mut stream = connect(emu.local_addr()).await;
    send(&mut stream, register_head(&emu, "100", &[]).as_bytes()).await;
    send(&mut stream, b"{\"username\"").await;
    let started = Instant::now();
    let answer = read_answer(&mut stream, SHORT + SLACK).await;
    assert_acted_after(started.elapsed(), SHORT);
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(
        answer.json(),
        json!({"detail": "the request body did not arrive in time"})
    );
    read_until_closed(&mut stream, SLACK).await;
}

#[tokio::test]
async fn a_body_dripping_in_has_one_deadline_for_the_whole_of_it() {
    let deadline = Duration::from_secs(1);
    let emu = emulator(Limits::default().body_read_timeout(deadline)).await;
    let stream = connect(emu.local_addr()).await;
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(register_head(&emu, "100", &[]).as_bytes())
        .await
        .unwrap();
    // The client under test: a byte every 200 ms, each gap far shorter than the deadline, so
    // a timer restarted by every chunk would never fire; the whole body would take 20 s.
    let drip = tokio::spawn(async move {
        let mut pace = tokio::time::interval(Duration::from_millis(200));
        for _ in 0..100 {
            pace.tick().await;
            if writer.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let answer = read_answer(&mut reader, deadline + SLACK).await;
    assert_acted_after(started.elapsed(), deadline);
    assert_eq!(answer.status, 408, "{answer:?}");
    drip.abort();
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let limits = Limits::default()
        .max_connections(1)
        .idle_timeout(Duration::from_secs(30))
        .header_read_timeout(Duration::from_secs(30));
    let emu = emulator(limits).await;
    let mut first = connect(emu.local_addr()).await;
    send(&mut first, &login_request(&emu)).await;
    assert_eq!(read_answer(&mut first, SLACK).await.status, 401);

    // The kernel completes the handshake, but the server takes it on only when a permit frees.
    let mut second = connect(emu.local_addr()).await;
    send(&mut second, &login_request(&emu)).await;
    assert!(
        !answers_within(&mut second, Duration::from_millis(600)).await,
        "served alongside the first connection"
    );
    drop(first);
    assert_eq!(read_answer(&mut second, SLACK).await.status, 401);
}

#[tokio::test]
async fn an_announced_oversized_body_gets_413_at_once_without_100_continue() {
    let emu = emulator(Limits::default()).await;
    for expect in [&[("expect", "100-continue")][..], &[]] {
        let mut stream = connect(emu.local_addr()).await;
        send(
            &mut stream,
            register_head(&emu, "10000000000", expect).as_bytes(),
        )
        .await;
        // The first thing back is the 413: no `100 Continue` before it.
        let answer = read_answer(&mut stream, SLACK).await;
        assert!(answer.head.starts_with("HTTP/1.1 413 "), "{answer:?}");
        assert_eq!(
            answer.json(),
            json!({"detail": "the request body is larger than 65536 bytes"})
        );
        assert_eq!(answer.header("content-type"), Some("application/json"));
        read_until_closed(&mut stream, SLACK).await;
    }
}

#[tokio::test]
async fn a_streamed_body_past_64_kib_is_413() {
    let emu = emulator(Limits::default()).await;
    let mut stream = connect(emu.local_addr()).await;
    let key = api_key(&emu);
    let head = head(
        "POST",
        "/api/v0/users/register",
        &[("x-api-key", &key), ("transfer-encoding", "chunked")],
    );
    send(&mut stream, format!("{head}\r\n").as_bytes()).await;
    let chunk = format!("2000\r\n{}\r\n", " ".repeat(0x2000));
    for _ in 0..9 {
        // The server may answer and stop reading before all of it is sent.
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let answer = read_answer(&mut stream, SLACK).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(
        answer.json(),
        json!({"detail": "the request body is larger than 65536 bytes"})
    );
}

/// Sends a register head with `Expect: 100-continue` and waits for the `100 Continue`: from
/// then on the request is in flight, its handler reading the body.
async fn register_in_flight(emu: &Emulator, body: &str) -> TcpStream {
    let mut stream = connect(emu.local_addr()).await;
    let length = body.len().to_string();
    let head = register_head(emu, &length, &[("expect", "100-continue")]);
    send(&mut stream, head.as_bytes()).await;
    let interim = read_answer(&mut stream, SLACK).await;
    assert_eq!(interim.status, 100, "{interim:?}");
    stream
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish_and_accepts_nothing_new() {
    let emu = emulator(Limits::default()).await;
    let creds = emu.credentials().clone();
    let addr = emu.local_addr();
    let body = json!({"user_pool_id": creds.user_pool_id, "owner_id": creds.owner_id,
        "username": "alice", "email": "alice@example.com", "phone": "79111111111", "password": "test"})
    .to_string();
    let mut in_flight = register_in_flight(&emu, &body).await;

    let stopping = tokio::spawn(emu.shutdown());
    let deadline = Instant::now() + SLACK;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections");
        tokio::task::yield_now().await;
    }

    send(&mut in_flight, body.as_bytes()).await;
    let answer = read_answer(&mut in_flight, SLACK).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.json()["username"], "alice");
    tokio::time::timeout(SLACK, stopping)
        .await
        .expect("shutdown ends once the request is done")
        .unwrap();
    read_until_closed(&mut in_flight, SLACK).await;
}

#[tokio::test]
async fn shutdown_drops_what_still_runs_after_the_shutdown_timeout() {
    let emu = emulator(Limits::default().shutdown_timeout(SHORT)).await;
    // Its body never comes, and its own deadline (30 s) is far off.
    let mut stuck = register_in_flight(&emu, "{}").await;
    let started = Instant::now();
    tokio::time::timeout(SHORT + SLACK, emu.shutdown())
        .await
        .expect("shutdown is bounded");
    assert_acted_after(started.elapsed(), SHORT);
    read_until_closed(&mut stuck, SLACK).await;
}
