//! Memory a device can make the server hold through request bodies: the
//! server-wide body budget, the cap on a device's requests in flight, the
//! repository room checked before a body is read, and shares given back
//! when connections end. The attacks are real: raw sockets on loopback
//! that send bodies in full, or all but their last byte and then hold.

use dm_test_support::hostile_client as support;
use dm_test_support::server as common;

use std::time::{Duration, Instant};

use common::*;
use dm_server::{MemoryStore, Retention, ServerLimits};
use serde_json::json;
use support::{Answer, Raw, authority, basic, head};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;

const PACKAGE_LIMIT: usize = 64 << 10;
const REPOSITORY_LIMIT: usize = 256 << 10;

fn limits() -> ServerLimits {
    ServerLimits::default()
        .with_package_bytes(PACKAGE_LIMIT)
        .with_repository_bytes(REPOSITORY_LIMIT)
}

/// Waits (up to 5 s) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The head of device 1's request with a body of `length` bytes.
fn upload_head(
    base: &str,
    method: &str,
    target: &str,
    content_type: &str,
    length: usize,
) -> String {
    let authorization = basic(USER1, PASS1);
    let length = length.to_string();
    head(
        method,
        target,
        authority(base),
        &[
            ("Authorization", &authorization),
            ("OMADM-DevID", DEV1),
            ("Content-Type", content_type),
            ("Accept", REQUEST),
            ("Content-Length", &length),
        ],
    )
}

/// An upload in flight on a raw connection: its writer keeps the
/// connection open (holding back what it was told to) until released.
struct Upload {
    answer: oneshot::Receiver<Answer>,
    release: Option<oneshot::Sender<bool>>,
}

impl Upload {
    /// Sends `head` and `body` but the last `held_back` bytes, then waits:
    /// released with `true`, sends them; with `false` (or dropped), closes.
    async fn start(base: &str, head: String, body: Vec<u8>, held_back: usize) -> Upload {
        let stream = TcpStream::connect(authority(base)).await.expect("connect");
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let (release, released) = oneshot::channel::<bool>();
        let (answered, answer) = oneshot::channel();
        tokio::spawn(async move {
            let sent = body.len() - held_back;
            let writing = async {
                writer.write_all(head.as_bytes()).await?;
                writer.write_all(&body[..sent]).await?;
                writer.flush().await
            };
            let _ = writing.await;
            if released.await == Ok(true) {
                let _ = writer.write_all(&body[sent..]).await;
                let _ = writer.flush().await;
                linger(writer).await;
            }
        });
        tokio::spawn(async move {
            let mut raw_head = Vec::new();
            let mut buffer = [0u8; 4096];
            let answer = loop {
                if raw_head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let text = String::from_utf8_lossy(&raw_head).into_owned();
                    break text
                        .split(' ')
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .map_or(Answer::Closed, Answer::Status);
                }
                match tokio::time::timeout(Duration::from_secs(8), reader.read(&mut buffer)).await {
                    Err(_) => break Answer::Nothing,
                    Ok(Ok(0) | Err(_)) => break Answer::Closed,
                    Ok(Ok(n)) => raw_head.extend_from_slice(&buffer[..n]),
                }
            };
            let _ = answered.send(answer);
        });
        Upload {
            answer,
            release: Some(release),
        }
    }

    /// Sends the bytes held back.
    fn finish(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(true);
        }
    }

    /// Closes the connection without sending the rest.
    fn abandon(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(false);
        }
    }

    async fn answer(self) -> Answer {
        let mut upload = self;
        let answer = (&mut upload.answer).await.unwrap_or(Answer::Nothing);
        upload.abandon();
        answer
    }
}

/// Keeps a finished writer open a moment so the answer can be read.
async fn linger(writer: OwnedWriteHalf) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(writer);
}

/// A repository upload of `length` bytes (not valid MO data: refused with
/// 400 once read).
async fn slow_put(base: &str, path: &str, length: usize, held_back: usize) -> Upload {
    let head = upload_head(base, "PUT", path, MO_DATA, length);
    Upload::start(base, head, vec![b' '; length], held_back).await
}

/// Device 2 runs a whole session: Package#1, a GET and CONT in the
/// Package#2, the Package#3 that answers them, END.
async fn full_session(server: &TestServer) {
    let admin = server.admin();
    let id = admin.enqueue(&dev(DEV2), get("Man")).await.expect("queued");
    let http = client();
    let response = post_package1(&http, server, DEV2, P1, BASIC2).await;
    assert_eq!(response.status(), 200, "device 2's Package#1");
    let package = commands(&response.bytes().await.expect("body"));
    let uri = cont_uri(&package);
    let response = post_package(&http, &uri, RESPONSE, DEV2, &p3(&[200, 200]), BASIC2).await;
    assert_eq!(response.status(), 200, "device 2's Package#3");
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
    let command = admin.command(&dev(DEV2), id).await.expect("command");
    assert_eq!(command.state.as_str(), "done", "{command:?}");
}

#[tokio::test]
async fn a_hostile_device_holds_at_most_its_share_while_another_device_is_served() {
    const BUDGET: usize = 2 << 20;
    const PER_DEVICE: usize = 4;
    // One device can hold at most its requests in flight, each at most the
    // largest body: well under the budget, which others share.
    const ONE_DEVICE_AT_MOST: usize = PER_DEVICE * REPOSITORY_LIMIT;
    let options = options()
        .limits(
            limits()
                .with_body_budget_bytes(BUDGET)
                .with_requests_per_device(PER_DEVICE)
                .with_body_timeout(Duration::from_secs(3)),
        )
        .build()
        .expect("options");
    let server = TestServer::start(options).await;
    let base = server.base.clone();

    // 100 uploads from device 1 at once: 50 repository uploads of the
    // largest size that hold back their last byte, 25 full Package#1 and
    // 25 full repository uploads of the largest sizes, interleaved.
    let mut uploads = Vec::new();
    for i in 0..25 {
        let head = upload_head(&base, "POST", "/dm", INITIATION, PACKAGE_LIMIT);
        uploads.push(Upload::start(&base, head, vec![b' '; PACKAGE_LIMIT], 0).await);
        let slow = slow_put(&base, &format!("/repo/slow/{i}"), REPOSITORY_LIMIT, 1).await;
        uploads.push(slow);
        let put = slow_put(&base, &format!("/repo/full/{i}"), REPOSITORY_LIMIT, 0).await;
        uploads.push(put);
        let slow = slow_put(&base, &format!("/repo/slow/{i}b"), REPOSITORY_LIMIT, 1).await;
        uploads.push(slow);
    }
    assert_eq!(uploads.len(), 100);
    let server_ref = &server.server;
    until("the hostile device holds a body", || {
        server_ref.buffered_body_bytes() >= REPOSITORY_LIMIT
    })
    .await;

    // Under attack, device 2 is served a whole session.
    full_session(&server).await;
    assert!(
        server.server.buffered_body_bytes() > 0,
        "the attack was still holding bodies during the session"
    );

    let mut answers = Vec::new();
    for upload in uploads {
        answers.push(upload.answer().await);
    }
    let refused = answers
        .iter()
        .filter(|a| **a == Answer::Status(429))
        .count();
    assert!(refused >= 50, "most were refused at once: {answers:?}");
    for answer in &answers {
        assert!(
            matches!(answer, Answer::Status(400 | 408 | 429) | Answer::Closed),
            "{answers:?}"
        );
    }
    let peak = server.server.peak_buffered_body_bytes();
    assert!(
        peak <= ONE_DEVICE_AT_MOST + PACKAGE_LIMIT,
        "one device held {peak} bytes of bodies"
    );
    assert!(peak <= BUDGET);
    until("every share is given back", || {
        server_ref.buffered_body_bytes() == 0
    })
    .await;
    // The device itself is served again once its requests are over.
    let response = post_package1(&client(), &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn beyond_the_budget_a_body_waits_for_room_then_is_refused_with_503() {
    const BUDGET: usize = 2 * REPOSITORY_LIMIT;
    let options = options()
        .limits(
            limits()
                .with_body_budget_bytes(BUDGET)
                .with_body_budget_wait(Duration::from_secs(2))
                .with_body_timeout(Duration::from_secs(20)),
        )
        .build()
        .expect("options");
    let server = TestServer::start(options).await;
    let server_ref = &server.server;
    // Device 1 holds the whole budget with two uploads short of a byte.
    let mut first = slow_put(&server.base, "/repo/a", REPOSITORY_LIMIT, 1).await;
    let mut second = slow_put(&server.base, "/repo/b", REPOSITORY_LIMIT, 1).await;
    until("the budget is taken", || {
        server_ref.buffered_body_bytes() == BUDGET
    })
    .await;

    // Device 2's Package#1 finds no room within the wait: 503.
    let started = Instant::now();
    let response = post_package1(&client(), &server, DEV2, P1, BASIC2).await;
    assert_eq!(response.status(), 503);
    assert!(started.elapsed() >= Duration::from_secs(2), "it waited");
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(server.server.buffered_body_bytes(), BUDGET);

    // A request waiting for room gets it when a body is given back.
    let waiting = {
        let url = server.url("/dm");
        tokio::spawn(
            async move { post_package(&client(), &url, INITIATION, DEV2, P1, BASIC2).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.finish();
    assert_eq!(
        first.answer().await,
        Answer::Status(400),
        "read, not MO data"
    );
    let response = waiting.await.expect("no panic");
    assert_eq!(response.status(), 200, "served once room was given back");

    second.abandon();
    assert_eq!(second.answer().await, Answer::Status(400));
    until("every share is given back", || {
        server_ref.buffered_body_bytes() == 0
    })
    .await;
}

#[tokio::test]
async fn a_device_over_its_requests_in_flight_is_answered_429() {
    let options = options()
        .limits(
            limits()
                .with_requests_per_device(2)
                .with_body_timeout(Duration::from_secs(20)),
        )
        .build()
        .expect("options");
    let server = TestServer::start(options).await;
    let mut first = slow_put(&server.base, "/repo/a", 1000, 1).await;
    let mut second = slow_put(&server.base, "/repo/b", 1000, 1).await;
    let server_ref = &server.server;
    until("both uploads are being read", || {
        server_ref.buffered_body_bytes() == 2000
    })
    .await;
    let http = client();
    let read = |dev_id: &'static str, auth: Auth<'static>| {
        let http = http.clone();
        let url = server.url("/repo/nothing");
        async move { repo_get(&http, &url, Some(dev_id), auth).await }
    };
    let refused = read(DEV1, BASIC1).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .map(reqwest::header::HeaderValue::as_bytes),
        Some(&b"1"[..])
    );
    let refused_put = slow_put(&server.base, "/repo/c", 1000, 0).await;
    assert_eq!(refused_put.answer().await, Answer::Status(429));
    assert_eq!(
        read(DEV2, BASIC2).await.status(),
        404,
        "another device is not affected"
    );
    first.abandon();
    assert_eq!(first.answer().await, Answer::Status(400));
    assert_eq!(
        read(DEV1, BASIC1).await.status(),
        404,
        "a slot is free again"
    );
    second.finish();
    assert_eq!(second.answer().await, Answer::Status(400));
}

/// An MO serialization document of about `bytes` bytes.
fn document(bytes: usize, tag: &str) -> Vec<u8> {
    json!([{
        "ClientURI": "urn:dm-sdk:mo:wlan:1.0//",
        "MOData": {"WLAN": {"SSID": tag, "Note": "n".repeat(bytes)}},
    }])
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_repository_upload_over_the_devices_room_is_refused_before_its_body() {
    const ROOM: usize = 100_000;
    let options = options().limits(limits()).build().expect("options");
    let store = MemoryStore::new().with_retention(Retention::default().with_repository_bytes(ROOM));
    let server = TestServer::start_on(options, store).await;
    register_two(&server.admin()).await;
    let kept = document(60_000, "kept");
    let url = server.url("/repo/kept");
    let response = repo_put(&client(), &url, Some(DEV1), &kept, BASIC1).await;
    assert_eq!(response.status(), 201);

    // 50,000 bytes announced for a new path, none sent: refused at once.
    let announced = upload_head(&server.base, "PUT", "/repo/new", MO_DATA, 50_000);
    let mut raw = Raw::connect(&server.base).await;
    assert!(raw.send(announced.as_bytes()).await);
    assert_eq!(
        raw.answer(Duration::from_secs(5)).await,
        Answer::Status(413)
    );
    assert!(raw.last_head.contains("413"), "{}", raw.last_head);
    assert_eq!(server.server.peak_buffered_body_bytes(), kept.len());

    // Replacing the object counts its room as free: 90,000 bytes fit.
    let replacement = document(90_000, "replaced");
    let url = server.url("/repo/kept");
    let response = repo_put(&client(), &url, Some(DEV1), &replacement, BASIC1).await;
    assert_eq!(response.status(), 204);
    // Without a Content-Length, the room bounds the bytes read: the first
    // chunk already goes over it.
    let authorization = basic(USER1, PASS1);
    let chunked = head(
        "PUT",
        "/repo/chunked",
        authority(&server.base),
        &[
            ("Authorization", &authorization),
            ("OMADM-DevID", DEV1),
            ("Content-Type", MO_DATA),
            ("Transfer-Encoding", "chunked"),
        ],
    );
    let chunk = format!("{:x}\r\n{}\r\n", 20_000, " ".repeat(20_000));
    let mut raw = Raw::connect(&server.base).await;
    assert!(raw.send(chunked.as_bytes()).await);
    assert!(raw.send(chunk.as_bytes()).await);
    assert_eq!(
        raw.answer(Duration::from_secs(5)).await,
        Answer::Status(413)
    );
    let admin = server.admin();
    assert!(admin.repository("new").await.expect("read").is_none());
    assert!(admin.repository("chunked").await.expect("read").is_none());
    until("every share is given back", || {
        server.server.buffered_body_bytes() == 0
    })
    .await;
}

#[tokio::test]
async fn a_share_is_given_back_when_its_connection_closes_midway() {
    let options = options()
        .limits(limits().with_body_timeout(Duration::from_secs(20)))
        .build()
        .expect("options");
    let server = TestServer::start(options).await;
    let server_ref = &server.server;
    let mut upload = slow_put(&server.base, "/repo/a", REPOSITORY_LIMIT, 1000).await;
    until("the upload holds its share", || {
        server_ref.buffered_body_bytes() == REPOSITORY_LIMIT
    })
    .await;
    upload.abandon();
    until("the share is given back", || {
        server_ref.buffered_body_bytes() == 0
    })
    .await;
    let answer = upload.answer().await;
    assert!(answer.is_status_or_closed(400), "{answer:?}");
}

#[tokio::test]
async fn a_body_without_a_length_takes_its_share_as_it_arrives() {
    const SENT: usize = 100_000;
    let options = options()
        .limits(limits().with_body_timeout(Duration::from_secs(20)))
        .build()
        .expect("options");
    let server = TestServer::start(options).await;
    let server_ref = &server.server;
    let authorization = basic(USER1, PASS1);
    let chunked = head(
        "PUT",
        "/repo/chunked",
        authority(&server.base),
        &[
            ("Authorization", &authorization),
            ("OMADM-DevID", DEV1),
            ("Content-Type", MO_DATA),
            ("Transfer-Encoding", "chunked"),
        ],
    );
    let mut raw = Raw::connect(&server.base).await;
    assert!(raw.send(chunked.as_bytes()).await);
    for _ in 0..10 {
        let chunk = format!("{:x}\r\n{}\r\n", SENT / 10, " ".repeat(SENT / 10));
        assert!(raw.send(chunk.as_bytes()).await);
    }
    // The share covers the buffer the bytes received are in: at least
    // them, at most twice them.
    until("the bytes sent are held", || {
        server_ref.buffered_body_bytes() >= SENT
    })
    .await;
    assert!(server.server.buffered_body_bytes() <= 2 * SENT);
    // The last chunk: read in full, refused as MO data, share given back.
    assert!(raw.send(b"0\r\n\r\n").await);
    assert_eq!(
        raw.answer(Duration::from_secs(5)).await,
        Answer::Status(400)
    );
    until("the share is given back", || {
        server_ref.buffered_body_bytes() == 0
    })
    .await;
}
