//! Raw loopback servers and unreachable endpoints, for the failures a well-behaved STLock never
//! produces.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// An endpoint on which nothing listens: bind a port, then let it go.
pub fn closed_port_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/base")
}

/// A one-connection HTTP server on loopback that answers with fixed bytes.
pub struct RawServer {
    addr: SocketAddr,
    received: oneshot::Receiver<String>,
}

enum Behaviour {
    Answer(String),
    Silent,
    EndlessBody,
    Truncated,
    Reset,
}

impl RawServer {
    /// Reads one request, answers `response` verbatim.
    pub async fn answering(response: impl Into<String>) -> Self {
        Self::start(Behaviour::Answer(response.into())).await
    }

    /// Reads one request, answers `status` with this JSON body.
    pub async fn json(status: &str, body: &str) -> Self {
        Self::answering(format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        ))
        .await
    }

    /// Announces a 100-byte JSON body, sends 10 bytes of it and hangs up.
    pub async fn truncated() -> Self {
        Self::start(Behaviour::Truncated).await
    }

    /// Reads one request and resets the connection without a word.
    pub async fn reset() -> Self {
        Self::start(Behaviour::Reset).await
    }

    /// Accepts and reads, but never answers.
    pub async fn silent() -> Self {
        Self::start(Behaviour::Silent).await
    }

    /// Answers 200 with a body that never ends.
    pub async fn endless_body() -> Self {
        Self::start(Behaviour::EndlessBody).await
    }

    /// The endpoint to configure a client with: this server, under `/base`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/base", self.addr)
    }

    /// The request as received: head and body.
    pub async fn received(self) -> String {
        self.received.await.expect("the server saw a request")
    }

    /// The request, if one has been read already. A client that has its answer was answered
    /// after its request was read, so once a call returns this says whether it came here.
    pub fn try_received(&mut self) -> Option<String> {
        self.received.try_recv().ok()
    }

    async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, received) = oneshot::channel();
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut socket).await;
            let _ = tx.send(request);
            match behaviour {
                Behaviour::Answer(response) => {
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
                Behaviour::Silent => {
                    // Hold the connection open until the client gives up.
                    let mut sink = [0u8; 64];
                    let _ = socket.read(&mut sink).await;
                }
                Behaviour::Truncated => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(br#"{"allowed""#).await;
                }
                Behaviour::Reset => {
                    // Linger zero: closing sends RST, not FIN. (Deprecated because a non-zero
                    // linger blocks the thread on drop; a zero one never does.)
                    #[allow(deprecated)]
                    let _ = socket.set_linger(Some(std::time::Duration::ZERO));
                }
                Behaviour::EndlessBody => {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                        .await;
                    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
                    while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                }
            }
        });
        Self { addr, received }
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = socket.read(&mut chunk).await {
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}
