//! The examples' servers on real loopback sockets: each bound their modules claim holds. The
//! `axum_app` one (`examples/axum_app/serve.rs`, with the connection cap and silence bound of
//! `examples/common/serve.rs`) with deadlines set short for the test, each test asserting that
//! the server acts after the deadline (not before) and within a bound a little above it; the
//! `tonic_app` one (`examples/tonic_app/service.rs`) as the example runs it.

#[path = "../../examples/axum_app/serve.rs"]
mod serve;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use serde_json::Value;
use stlock::StlockLayer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};

use crate::app::App;
use crate::support::config_for;
use crate::support::raw::closed_port_endpoint;
use serve::Limits;

/// The deadline most tests configure.
const SHORT: Duration = Duration::from_millis(800);
/// How far past a deadline the server may act before the test calls it stuck: generous, for a
/// debug build on a busy two-core machine.
const SLACK: Duration = Duration::from_secs(3);
/// How much earlier than its deadline an action may be seen: the server's clock starts a moment
/// before the test's.
const EARLY: Duration = Duration::from_millis(250);
/// Longer than any test runs: a bound the test does not exercise.
const NEVER: Duration = Duration::from_secs(60);

/// The example's server on a loopback port, serving `app` within `limits` until told to stop.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// The listener is bound before this returns: connections are accepted without waiting.
    async fn start(app: Router, limits: Limits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve::serve(listener, app, limits, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr)
            .await
            .expect("the server listens")
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).expect("the server is running");
        }
    }
}

/// Limits with nothing short: each test shortens the one it is about.
fn patient() -> Limits {
    Limits {
        head_deadline: NEVER,
        request_deadline: NEVER,
        max_connections: 64,
        max_silence: NEVER,
        shutdown_grace: NEVER,
        ..Limits::default()
    }
}

fn hello() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

/// The example's own app, on a service that is never reached: the bounds answer first.
fn example_app() -> Router {
    let auth = StlockLayer::new(config_for(&closed_port_endpoint())).unwrap();
    App::new(auth).router()
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: example\r\n\r\n";

async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .await
        .expect("the socket is writable");
}

/// Reads one answer whose body has a `Content-Length`, within `bound`: its status and body.
async fn read_answer(stream: &mut TcpStream, bound: Duration) -> (u16, String) {
    let deadline = Instant::now() + bound;
    let mut bytes = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().expect("a length"))
                })
                .expect("a Content-Length");
            if body.len() >= length {
                let status = head.split(' ').nth(1).and_then(|code| code.parse().ok());
                return (status.expect("a status line"), body[..length].to_owned());
            }
        }
        let mut buf = [0u8; 4096];
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) => panic!("closed before the answer was complete: {text:?}"),
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Ok(Err(error)) => panic!("reading the answer: {error}"),
            Err(_) => panic!("no complete answer within {bound:?}: {text:?}"),
        }
    }
}

/// Reads until the server closes the connection, failing the test if it is still open `bound`
/// after `since`; returns what was read and how long after `since` it closed.
async fn read_until_closed(
    stream: &mut TcpStream,
    since: Instant,
    bound: Duration,
) -> (Vec<u8>, Duration) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout_at(since + bound, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (bytes, since.elapsed()),
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => panic!("still open after {bound:?}"),
        }
    }
}

/// Asserts the server closed the connection without a word, `deadline` after `since` (not
/// before) and within the slack.
async fn assert_closed_silently_at(stream: &mut TcpStream, since: Instant, deadline: Duration) {
    let (bytes, elapsed) = read_until_closed(stream, since, deadline + SLACK).await;
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

/// Asserts a JSON `{"detail"}` answer with this status.
#[track_caller]
fn assert_json_detail(status: u16, body: &str, expected: u16) -> String {
    assert_eq!(status, expected, "{body}");
    let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    json["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no detail: {body}"))
        .to_owned()
}

/// Half a request head.
const HALF_HEAD: &[u8] = b"GET / HTTP/1.1\r\nhost: example\r\n";
/// Part of the HTTP/2 preface: the server cannot tell the protocol yet.
const HALF_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Makes a connection for each of `openings` and sends it, then asserts that each is closed
/// without a word at `deadline`.
async fn assert_stalled_openings_closed(limits: Limits, deadline: Duration, openings: &[&[u8]]) {
    let server = Server::start(hello(), limits).await;
    // Counted from before the connections are made: the server accepts them a moment later.
    let opened = Instant::now();
    let mut streams = Vec::new();
    for opening in openings {
        let mut stream = server.connect().await;
        send(&mut stream, opening).await;
        streams.push(stream);
    }
    for stream in &mut streams {
        assert_closed_silently_at(stream, opened, deadline).await;
    }
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off_at_the_head_deadline() {
    let limits = Limits {
        head_deadline: SHORT,
        ..patient()
    };
    // Half a head is hyper's own deadline; nothing at all, or half a preface, before hyper-util
    // has told the protocol, the watch's.
    assert_stalled_openings_closed(limits, SHORT, &[HALF_HEAD, b"", HALF_PREFACE]).await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_more_is_closed_at_the_silence_bound() {
    // The head deadline out of the way: the bound tonic's server relies on, on its own.
    let limits = Limits {
        max_silence: SHORT,
        ..patient()
    };
    assert_stalled_openings_closed(limits, SHORT, &[b"", HALF_PREFACE, HALF_HEAD]).await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_at_the_head_deadline_after_its_last_answer() {
    let limits = Limits {
        head_deadline: SHORT,
        ..patient()
    };
    let server = Server::start(hello(), limits).await;

    // HTTP/1 keep-alive: the wait starts over with each answer.
    let mut http1 = server.connect().await;
    for _ in 0..2 {
        send(&mut http1, GET).await;
        assert_eq!(read_answer(&mut http1, SLACK).await, (200, "hello".into()));
    }
    assert_closed_silently_at(&mut http1, Instant::now(), SHORT).await;

    // HTTP/2 by prior knowledge, its settings sent and no stream opened: the peer is free to
    // ping, but only a request keeps the connection.
    let opened = Instant::now();
    let mut http2 = server.connect().await;
    let empty_settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
    send(&mut http2, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    send(&mut http2, &empty_settings).await;
    // Its own settings and their acknowledgement come back first, then the close.
    let (_frames, elapsed) = read_until_closed(&mut http2, opened, SHORT + SLACK).await;
    assert_acted_after(elapsed, SHORT);
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let limits = Limits {
        max_body_bytes: 1024,
        ..patient()
    };
    let server = Server::start(example_app(), limits).await;

    // Announced: refused before a byte of it is read.
    let announced = reqwest::Client::new()
        .post(server.url("/register"))
        .header("content-type", "application/json")
        .body(vec![b' '; 2048])
        .send()
        .await
        .unwrap();
    let status = announced.status().as_u16();
    let detail = assert_json_detail(status, &announced.text().await.unwrap(), 413);
    assert_eq!(detail, "the request body is larger than 1024 bytes");

    // Not announced (chunked): refused once more than the limit has arrived.
    let mut chunked = server.connect().await;
    let head = "POST /register HTTP/1.1\r\nhost: example\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\n\r\n";
    send(&mut chunked, head.as_bytes()).await;
    // In one write: the server reads it all before it answers, and closes with nothing unread.
    let chunk = format!("200\r\n{}\r\n", " ".repeat(0x200));
    send(&mut chunked, chunk.repeat(3).as_bytes()).await;
    let (status, body) = read_answer(&mut chunked, SLACK).await;
    assert_json_detail(status, &body, 413);
}

#[tokio::test]
async fn a_request_over_its_deadline_gets_408_its_body_included() {
    let limits = Limits {
        request_deadline: SHORT,
        ..patient()
    };
    let app = example_app().route("/stalled", get(std::future::pending::<()>));
    let server = Server::start(app, limits).await;

    let mut stalled = server.connect().await;
    send(
        &mut stalled,
        b"GET /stalled HTTP/1.1\r\nhost: example\r\n\r\n",
    )
    .await;
    let started = Instant::now();
    let (status, body) = read_answer(&mut stalled, SHORT + SLACK).await;
    assert_acted_after(started.elapsed(), SHORT);
    let detail = assert_json_detail(status, &body, 408);
    assert_eq!(detail, "the request did not complete in time");

    // A body that never arrives whole: the handler's extractor waits inside the deadline.
    let mut slow_body = server.connect().await;
    let head = "POST /register HTTP/1.1\r\nhost: example\r\ncontent-type: application/json\r\n\
                content-length: 100\r\n\r\n{\"username\":";
    send(&mut slow_body, head.as_bytes()).await;
    let started = Instant::now();
    let (status, body) = read_answer(&mut slow_body, SHORT + SLACK).await;
    assert_acted_after(started.elapsed(), SHORT);
    assert_json_detail(status, &body, 408);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let limits = Limits {
        max_connections: 2,
        ..patient()
    };
    let server = Server::start(hello(), limits).await;
    // Answered, so both hold their permit.
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    for stream in [&mut first, &mut second] {
        send(stream, GET).await;
        assert_eq!(read_answer(stream, SLACK).await, (200, "hello".into()));
    }

    // The kernel completes the handshake, but the server takes it on only when a permit frees.
    let mut third = server.connect().await;
    send(&mut third, GET).await;
    let mut byte = [0u8; 1];
    let early = timeout(Duration::from_millis(600), third.peek(&mut byte)).await;
    assert!(early.is_err(), "served beside the first two connections");

    drop(first);
    assert_eq!(read_answer(&mut third, SLACK).await, (200, "hello".into()));
}

/// A route whose requests wait, once they have told the test they began, until it lets them go.
fn held(began: Arc<Notify>, release: Arc<Notify>) -> Router {
    let slow = move || {
        let (began, release) = (Arc::clone(&began), Arc::clone(&release));
        async move {
            began.notify_one();
            release.notified().await;
            "done"
        }
    };
    Router::new().route("/slow", get(slow))
}

#[tokio::test]
async fn a_stop_lets_requests_in_flight_finish_and_then_refuses_connections() {
    let (began, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let app = held(Arc::clone(&began), Arc::clone(&release));
    let mut server = Server::start(app, patient()).await;
    let in_flight = tokio::spawn(reqwest::get(server.url("/slow")));
    began.notified().await;

    server.stop();
    // The request in flight holds the stop up: nothing can have ended it but the handler.
    assert!(!server.task.is_finished());
    release.notify_one();
    let answer = timeout(SLACK, in_flight).await.unwrap().unwrap().unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "done");
    timeout(SLACK, server.task)
        .await
        .expect("the server returns once the request is answered")
        .unwrap();
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn a_stop_waits_no_longer_than_its_grace() {
    let (began, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let app = held(Arc::clone(&began), release);
    let limits = Limits {
        shutdown_grace: SHORT,
        ..patient()
    };
    let mut server = Server::start(app, limits).await;
    let in_flight = tokio::spawn(reqwest::get(server.url("/slow")));
    began.notified().await;

    server.stop();
    let started = Instant::now();
    timeout(SHORT + SLACK, server.task)
        .await
        .expect("the server returns once the grace is over")
        .unwrap();
    assert_acted_after(started.elapsed(), SHORT);
    // The request was dropped with its connection: no answer.
    let outcome = timeout(SLACK, in_flight).await.unwrap().unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
}

/// The `tonic_app` example's server (`examples/tonic_app/service.rs`, on tonic's `Server`): the
/// bounds it sets hold.
#[cfg(feature = "tonic")]
mod grpc {
    use jsonwebtoken::Algorithm;
    use stlock::{Client, StlockLayer};
    use stlock_emulator::Rule;
    use tonic::transport::Channel;
    use tonic::{Code, Request};

    use super::*;
    use crate::greeter::greeter_client::GreeterClient;
    use crate::greeter::HelloRequest;
    use crate::support::emulator::{emulator, policy, sign_up};
    use crate::support::forge::{access_claims_of, sign};
    use crate::support::raw::RawServer;
    use crate::support::{OWNER, POOL, SECRET};

    /// The example's server behind `auth`, and a client of it.
    async fn greeter(auth: StlockLayer) -> GreeterClient<Channel> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(crate::service::serve(
            listener,
            auth,
            std::future::pending(),
        ));
        GreeterClient::connect(url).await.unwrap()
    }

    fn hello(name: String, token: &str) -> Request<HelloRequest> {
        let mut request = Request::new(HelloRequest { name });
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
        request
    }

    #[tokio::test]
    async fn a_call_ends_at_the_deadline_its_client_sets() {
        // The grant check asks a service that never answers; the token itself verifies.
        let silent = RawServer::silent().await;
        let mut greeter = greeter(StlockLayer::new(config_for(&silent.endpoint())).unwrap()).await;
        let claims = access_claims_of(OWNER, POOL, "5f331151-49d1-4d12-a977-a94a223a948a");
        let mut request = hello("alice".into(), &sign(&claims, SECRET, Algorithm::HS256));
        // Sent as `grpc-timeout`, which tonic's server applies below its own 30 s.
        request.set_timeout(SHORT);

        let started = Instant::now();
        let status = greeter.say_hello(request).await.unwrap_err();
        assert_acted_after(started.elapsed(), SHORT);
        assert!(started.elapsed() < SHORT + SLACK, "{:?}", started.elapsed());
        assert_eq!(status.code(), Code::Cancelled, "{status:?}");
        assert_eq!(status.message(), "Timeout expired");
    }

    #[tokio::test]
    async fn a_message_over_64_kib_is_refused() {
        let emu = emulator().await;
        let client = Client::new(emu.config()).unwrap();
        let mut greeter = greeter(StlockLayer::from_client(client.clone())).await;
        let (user, tokens) = sign_up(&client, "alice").await;
        let id = policy(&emu, Rule::allow(["POST"], ["/greeter.v1.Greeter/*"]));
        emu.attach_policy(&emu.credentials().user_pool_id, &user.id, &id)
            .unwrap();

        let large = hello("a".repeat(64 * 1024), &tokens.access_token);
        let status = greeter.say_hello(large).await.unwrap_err();
        assert_eq!(status.code(), Code::OutOfRange, "{status:?}");

        let small = hello("a".repeat(1024), &tokens.access_token);
        let reply = greeter.say_hello(small).await.unwrap().into_inner();
        assert_eq!(reply.user_id, user.id);
    }
}
