//! A client that speaks bytes on a real socket, for what an HTTP client library would not do:
//! stop halfway through a head or a body, wait for `100 Continue`, or just sit there.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// A request head without its final blank line: the raw client adds it where wanted.
pub fn head(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: emulator\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr)
        .await
        .expect("the emulator listens")
}

pub async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .await
        .expect("the socket is writable");
}

/// One answer read off a socket.
#[derive(Debug)]
pub struct RawAnswer {
    /// The status line and headers, as sent.
    pub head: String,
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {self:?}"))
    }

    /// A header's value; names compared without case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Reads one answer (head and `Content-Length` body, which every answer of the emulator has),
/// failing the test if it has not all come within `bound`.
pub async fn read_answer(stream: &mut (impl AsyncRead + Unpin), bound: Duration) -> RawAnswer {
    let deadline = Instant::now() + bound;
    let mut bytes = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&bytes, b"\r\n\r\n") {
            break end + 4;
        }
        read_some(stream, &mut bytes, deadline, "an answer's head").await;
    };
    let head = String::from_utf8(bytes[..head_end].to_vec()).expect("an ASCII head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let mut answer = RawAnswer {
        head,
        status,
        body: Vec::new(),
    };
    let length: usize = answer
        .header("content-length")
        .map_or(0, |value| value.parse().expect("a number"));
    while bytes.len() < head_end + length {
        read_some(stream, &mut bytes, deadline, "an answer's body").await;
    }
    answer.body = bytes[head_end..head_end + length].to_vec();
    answer
}

/// Reads until the server closes the connection, failing the test if it is still open after
/// `bound`; returns what was read and how long that took.
pub async fn read_until_closed(
    stream: &mut (impl AsyncRead + Unpin),
    bound: Duration,
) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let deadline = started + bound;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (bytes, started.elapsed()),
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the connection is still open after {bound:?}; read {:?}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }
}

/// Whether anything arrives within `bound` (the connection staying silent is `false`).
pub async fn answers_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 1];
    tokio::time::timeout(bound, stream.peek(&mut buf))
        .await
        .is_ok()
}

async fn read_some(
    stream: &mut (impl AsyncRead + Unpin),
    bytes: &mut Vec<u8>,
    deadline: Instant,
    what: &str,
) {
    let mut buf = [0u8; 4096];
    match timeout_at(deadline, stream.read(&mut buf)).await {
        Ok(Ok(0)) => panic!(
            "closed before {what} was complete: {:?}",
            String::from_utf8_lossy(bytes)
        ),
        Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
        Ok(Err(err)) => panic!("reading {what}: {err}"),
        Err(_) => panic!(
            "{what} did not come in time: {:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
