//! A package file server on loopback HTTP, for tests of update downloads:
//! it serves one file with single-range support (`Range: bytes=a-b|a-`,
//! `206` + `Content-Range`, `416` when unsatisfiable), and can misbehave
//! for real — close the connection after some body bytes (a cut
//! connection, the announced `Content-Length` unmet), ignore ranges (`200`
//! with the whole file), or answer a chosen status. Every request is
//! recorded with its `Range` header and the body bytes sent.
//!
//! Written on a raw socket so that a cut is a real closed connection.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with the next requests.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// For the first `cuts.len()` requests, the connection is closed after
    /// this many body bytes (one entry per request, in order).
    pub cuts: Vec<usize>,
    /// Answer every request with the whole file and `200`, ignoring
    /// `Range`.
    pub ignore_range: bool,
    /// Answer every request with this status and an empty body.
    pub status: Option<u16>,
    /// Announce a `Content-Length` of the body or not (close-delimited
    /// body).
    pub hide_length: bool,
}

/// One request the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The request target.
    pub path: String,
    /// Its `Range` header.
    pub range: Option<String>,
    /// Status answered.
    pub status: u16,
    /// Body bytes the connection took.
    pub body_bytes: usize,
}

#[derive(Debug, Default)]
struct Shared {
    behaviour: Behaviour,
    served: Vec<Served>,
}

/// A running file server (stops when dropped).
#[derive(Debug)]
pub struct FileServer {
    url: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileServer {
    /// Serves `content` at every path of `http://127.0.0.1:<port>/`.
    pub async fn start(content: Vec<u8>, behaviour: Behaviour) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/package.bin",
            listener.local_addr().expect("local address")
        );
        let shared = Arc::new(Mutex::new(Shared {
            behaviour,
            served: Vec::new(),
        }));
        let content = Arc::new(content);
        let task = tokio::spawn({
            let shared = shared.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(stream, content.clone(), shared.clone()));
                }
            }
        });
        FileServer { url, shared, task }
    }

    /// The URL of the file.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The requests served so far.
    pub fn served(&self) -> Vec<Served> {
        self.shared.lock().expect("lock").served.clone()
    }

    /// Body bytes sent in all.
    pub fn body_bytes(&self) -> usize {
        self.served().iter().map(|s| s.body_bytes).sum()
    }

    /// Changes the behaviour for the next requests.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.lock().expect("lock").behaviour = behaviour;
    }
}

async fn serve(mut stream: TcpStream, content: Arc<Vec<u8>>, shared: Arc<Mutex<Shared>>) {
    loop {
        let Some((path, range)) = read_head(&mut stream).await else {
            return;
        };
        let (behaviour, cut) = {
            let mut shared = shared.lock().expect("lock");
            let behaviour = shared.behaviour.clone();
            let cut = (!shared.behaviour.cuts.is_empty()).then(|| shared.behaviour.cuts.remove(0));
            (behaviour, cut)
        };
        let total = content.len();
        let (status, body, content_range) = if let Some(status) = behaviour.status {
            (status, &content[..0], None)
        } else {
            match range.as_deref().filter(|_| !behaviour.ignore_range) {
                None => (200, &content[..], None),
                Some(range) => match parse_range(range, total) {
                    Some((first, last)) => (
                        206,
                        &content[first..=last],
                        Some(format!("bytes {first}-{last}/{total}")),
                    ),
                    None => (416, &content[..0], Some(format!("bytes */{total}"))),
                },
            }
        };
        let mut head = format!("HTTP/1.1 {status} X\r\nAccept-Ranges: bytes\r\n");
        if behaviour.hide_length {
            head.push_str("Connection: close\r\n");
        } else {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        if let Some(content_range) = content_range {
            let _ = write!(head, "Content-Range: {content_range}\r\n");
        }
        head.push_str("\r\n");
        let sent = cut.map_or(body.len(), |cut| cut.min(body.len()));
        let index = {
            let mut shared = shared.lock().expect("lock");
            shared.served.push(Served {
                path,
                range,
                status,
                body_bytes: 0,
            });
            shared.served.len() - 1
        };
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        // In chunks, counting what the connection took.
        for chunk in body[..sent].chunks(16 * 1024) {
            if stream.write_all(chunk).await.is_err() {
                return;
            }
            shared.lock().expect("lock").served[index].body_bytes += chunk.len();
        }
        let _ = stream.flush().await;
        if cut.is_some() || behaviour.hide_length {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// Reads a request head: its target and `Range` header (`None` when the
/// connection closed or the head is unreadable).
async fn read_head(stream: &mut TcpStream) -> Option<(String, Option<String>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let range = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("range"))
        .map(|(_, value)| value.trim().to_owned());
    Some((path, range))
}

/// `bytes=a-b` or `bytes=a-` within `total` bytes: the first and last
/// byte served.
fn parse_range(range: &str, total: usize) -> Option<(usize, usize)> {
    let (first, last) = range.strip_prefix("bytes=")?.split_once('-')?;
    let first: usize = first.trim().parse().ok()?;
    let last = if last.trim().is_empty() {
        total.checked_sub(1)?
    } else {
        last.trim()
            .parse::<usize>()
            .ok()?
            .min(total.checked_sub(1)?)
    };
    (first <= last).then_some((first, last))
}
