//! Helpers of the hostile-client tests: requests written to a raw socket
//! (so that a test controls every byte and its timing), answers read with a
//! deadline, and snapshots of everything the server holds about a device.

use std::time::{Duration, Instant};

use base64::Engine as _;
use dm_server::{Admin, AlertRecord, CommandRecord, DeviceRecord, NotificationChannel, Store};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::server::dev;

/// A `Basic` `Authorization` header value.
pub fn basic(user: &str, password: &str) -> String {
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {credentials}")
}

/// `host:port` of a `http://host:port` base URI.
pub fn authority(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// A request head: request line, `Host`, the given headers, blank line.
pub fn head(method: &str, target: &str, host: &str, headers: &[(&str, &str)]) -> String {
    use std::fmt::Write as _;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    head
}

/// What came back on a raw connection before a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A response head with this status.
    Status(u16),
    /// The server closed (or reset) the connection without answering.
    Closed,
    /// Nothing at all before the deadline.
    Nothing,
}

impl Answer {
    /// Whether the server refused with `status` or hung up.
    pub fn is_status_or_closed(&self, status: u16) -> bool {
        *self == Answer::Status(status) || *self == Answer::Closed
    }
}

/// A raw HTTP/1.1 connection to the server.
pub struct Raw {
    /// The connection.
    pub stream: TcpStream,
    /// The response head last read.
    pub last_head: String,
}

impl Raw {
    /// Connects to the server at `base` (`http://HOST:PORT`).
    pub async fn connect(base: &str) -> Raw {
        let stream = TcpStream::connect(authority(base))
            .await
            .expect("connect to the server");
        Raw {
            stream,
            last_head: String::new(),
        }
    }

    /// Writes `bytes`; false when the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok() && self.stream.flush().await.is_ok()
    }

    /// Reads a response head (or the end of the connection) for at most
    /// `within`.
    pub async fn answer(&mut self, within: Duration) -> Answer {
        let deadline = Instant::now() + within;
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.read(&mut buffer)).await {
                Err(_) if head.is_empty() => return Answer::Nothing,
                Ok(Ok(0) | Err(_)) if head.is_empty() => return Answer::Closed,
                Err(_) | Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => head.extend_from_slice(&buffer[..n]),
            }
        }
        self.last_head = String::from_utf8_lossy(&head).into_owned();
        match self
            .last_head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
        {
            Some(status) => Answer::Status(status),
            None => Answer::Closed,
        }
    }

    /// Whether the server closes the connection within `within` (reading
    /// and dropping whatever else it sends).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut buffer = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.read(&mut buffer)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// Everything the server holds about one device: its record (sessions,
/// open session, MO inventory, notification address), its commands and
/// its alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// The device record.
    pub device: DeviceRecord,
    /// Its commands.
    pub commands: Vec<CommandRecord>,
    /// Its alerts.
    pub alerts: Vec<AlertRecord>,
}

/// What the server holds for `dev_id`.
pub async fn held<S: Store, C: NotificationChannel>(admin: &Admin<S, C>, dev_id: &str) -> Held {
    let dev_id = dev(dev_id);
    Held {
        device: admin.device(&dev_id).await.expect("device"),
        commands: admin.commands(&dev_id).await.expect("commands"),
        alerts: admin.alerts(&dev_id).await.expect("alerts"),
    }
}
