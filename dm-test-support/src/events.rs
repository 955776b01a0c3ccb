//! The event stream and webhooks from the outside: [`EventStream`] reads
//! `GET /admin/events` over HTTP and parses its Server-Sent Events;
//! [`WebhookReceiver`] is a real loopback HTTP server that records the
//! deliveries it gets and answers them with the statuses it is told.

#![allow(
    clippy::missing_panics_doc,
    reason = "test helpers panic, as a test does, when the server misbehaves"
)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};

use crate::server::ADMIN_TOKEN;

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// Its `id:` line, if any.
    pub id: Option<u64>,
    /// Its `event:` line.
    pub event: String,
    /// Its `data:` line, as JSON.
    pub data: serde_json::Value,
}

/// A subscriber of `GET /admin/events`.
pub struct EventStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    events: VecDeque<SseEvent>,
    /// The keep-alive comments seen so far.
    pub comments: usize,
}

impl EventStream {
    /// Subscribes at `base` (`http://ADDRESS`) with `query` (without `?`)
    /// and, when given, a `Last-Event-ID`; asserts a 200 `text/event-stream`.
    pub async fn open(base: &str, query: &str, last_event_id: Option<u64>) -> EventStream {
        let (status, stream) = EventStream::try_open(base, query, last_event_id).await;
        assert_eq!(status, 200, "GET /admin/events?{query}");
        stream.expect("a stream")
    }

    /// Subscribes; the status, and the stream when it is 200.
    pub async fn try_open(
        base: &str,
        query: &str,
        last_event_id: Option<u64>,
    ) -> (u16, Option<EventStream>) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("HTTP client");
        let mut request = client
            .get(format!("{base}/admin/events?{query}"))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        let stream = EventStream {
            response,
            buffer: Vec::new(),
            events: VecDeque::new(),
            comments: 0,
        };
        (status, Some(stream))
    }

    /// The next event, waiting at most `wait`; `None` when none came (or
    /// the stream ended).
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.extend_from_slice(&chunk);
            self.parse();
        }
    }

    /// The next event of `kind` (others are skipped), waiting at most 10 s.
    pub async fn next_of(&mut self, kind: &str) -> SseEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self
                .next(left)
                .await
                .unwrap_or_else(|| panic!("no {kind} event within 10 s"));
            if event.event == kind {
                return event;
            }
        }
    }

    fn parse(&mut self) {
        while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let text = String::from_utf8(block).expect("UTF-8 frames");
            let mut event = SseEvent {
                id: None,
                event: "message".into(),
                data: serde_json::Value::Null,
            };
            let mut comment = true;
            for line in text.lines() {
                if let Some(id) = line.strip_prefix("id: ") {
                    event.id = Some(id.parse().expect("a numeric id"));
                    comment = false;
                } else if let Some(name) = line.strip_prefix("event: ") {
                    name.clone_into(&mut event.event);
                    comment = false;
                } else if let Some(data) = line.strip_prefix("data: ") {
                    event.data = serde_json::from_str(data).expect("one line of JSON");
                    comment = false;
                }
            }
            if comment {
                self.comments += 1;
            } else {
                self.events.push_back(event);
            }
        }
    }
}

/// A delivery a [`WebhookReceiver`] got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-DM-Signature`.
    pub signature: String,
    /// `X-DM-Event-Id`.
    pub event_id: String,
    /// The body.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Delivery {
    /// Whether its signature is the HMAC-SHA256 of `<t>.<body>` under
    /// `secret` (computed here, independently of the server).
    pub fn signed_with(&self, secret: &[u8]) -> bool {
        let Some((t, mac)) = self
            .signature
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
        else {
            return false;
        };
        let mut message = format!("{t}.").into_bytes();
        message.extend_from_slice(&self.body);
        let expected = dm_codec::hex::encode(&hmac(secret, &message));
        expected == mac
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// A loopback HTTP server receiving webhook deliveries: it answers the
/// first ones with the statuses queued ([`WebhookReceiver::answer_next`]),
/// then 200.
pub struct WebhookReceiver {
    /// `http://ADDRESS/hook`.
    pub url: String,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts one.
    pub async fn start() -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("address");
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let answers: Arc<Mutex<VecDeque<u16>>> = Arc::default();
        let (kept, queued) = (deliveries.clone(), answers.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (kept, queued) = (kept.clone(), queued.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let (kept, queued) = (kept.clone(), queued.clone());
                        async move {
                            let header = |name: &str| {
                                request
                                    .headers()
                                    .get(name)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("")
                                    .to_owned()
                            };
                            let (signature, event_id) =
                                (header("x-dm-signature"), header("x-dm-event-id"));
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes().to_vec())
                                .unwrap_or_default();
                            let status = queued.lock().expect("lock").pop_front().unwrap_or(200);
                            kept.lock().expect("lock").push(Delivery {
                                signature,
                                event_id,
                                body,
                                status,
                            });
                            let mut response = Response::new(Full::new(Bytes::new()));
                            *response.status_mut() =
                                hyper::StatusCode::from_u16(status).expect("a status");
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        WebhookReceiver {
            url: format!("http://{address}/hook"),
            deliveries,
            answers,
            task,
        }
    }

    /// Answers the next delivery with `status`.
    pub fn answer_next(&self, status: u16) {
        self.answers.lock().expect("lock").push_back(status);
    }

    /// Every delivery so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().expect("lock").clone()
    }

    /// Waits (at most 10 s) until `n` deliveries were answered 2xx; returns
    /// every delivery.
    pub async fn wait_accepted(&self, n: usize) -> Vec<Delivery> {
        for _ in 0..200 {
            let deliveries = self.deliveries();
            if deliveries.iter().filter(|d| d.status < 300).count() >= n {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "fewer than {n} deliveries accepted: {:?}",
            self.deliveries()
        );
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
