//! A hostile HTTP server on a raw loopback socket: it writes whatever bytes
//! the test wants (lying lengths, bodies that never end) and can stall for
//! ever. Every request is recorded like the well-behaved test server does.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::device::{Seen, TestServer};

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Conduct {
    /// Writes these bytes, then closes the connection.
    Answer(Vec<u8>),
    /// Writes these bytes, then keeps the connection open and silent.
    AnswerThenStall(Vec<u8>),
    /// Never answers; keeps the connection open.
    Stall,
}

/// A complete response with `Content-Length` and `Connection: close`.
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    [head.as_bytes(), body].concat()
}

/// A response head (no `Content-Length` added), for bodies that lie.
pub fn response_head(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Serves plain HTTP on a free loopback port, one request per connection.
pub async fn serve_raw(conduct: impl Fn(&Seen) -> Conduct + Send + Sync + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let conduct = Arc::new(conduct);
    let task = tokio::spawn(async move {
        let mut stalled = Vec::new();
        for number in 0.. {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let Some(request) = read_request(&mut stream, number).await else {
                continue;
            };
            log.lock().expect("lock").push(request.clone());
            match conduct(&request) {
                Conduct::Answer(bytes) => {
                    let _ = stream.write_all(&bytes).await;
                    let _ = stream.shutdown().await;
                }
                Conduct::AnswerThenStall(bytes) => {
                    let _ = stream.write_all(&bytes).await;
                    stalled.push(stream);
                }
                Conduct::Stall => stalled.push(stream),
            }
        }
    });
    TestServer {
        address,
        base: format!("http://{address}"),
        seen,
        task,
    }
}

/// Reads one request (head and `Content-Length` body, at most 1 MiB).
async fn read_request(stream: &mut TcpStream, connection: usize) -> Option<Seen> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    let end = loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 || bytes.len() > 1 << 20 {
            return None;
        }
        bytes.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = bytes[end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buffer[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body,
        client_certificate: None,
        connection,
    })
}
