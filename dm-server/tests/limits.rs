//! Hostile and slow clients: oversized bodies refused without reading them,
//! slow heads and bodies, huge headers, garbage packages, graceful shutdown.

use dm_test_support::server as common;

use std::time::{Duration, Instant};

use common::*;
use dm_server::ServerLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn authorization() -> String {
    use base64::Engine as _;
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{USER1}:{PASS1}"));
    format!("Basic {credentials}")
}

/// Reads until the end of the response head (or EOF, or 5 s); returns it.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => break,
            Ok(Ok(n)) => head.extend_from_slice(&byte[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn status_of(head: &str) -> Option<u16> {
    head.split(' ').nth(1)?.parse().ok()
}

/// A server with these limits, and its `host:port` (dropping the server
/// stops it).
async fn start_limited(limits: ServerLimits) -> (TestServer, String) {
    let server = TestServer::start(options().limits(limits).build().expect("options")).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    (server, address)
}

#[tokio::test]
async fn an_oversized_body_is_refused_from_its_length_without_reading_it() {
    let limits = ServerLimits::default().with_package_bytes(1024);
    let (_server, address) = start_limited(limits).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    // 100 MB announced, nothing sent: an answer proves nothing was awaited.
    let head = format!(
        "POST /dm HTTP/1.1\r\nHost: {address}\r\nContent-Type: {INITIATION}\r\nOMADM-DevID: {DEV1}\r\nAuthorization: {}\r\nContent-Length: 100000000\r\n\r\n",
        authorization()
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    let started = Instant::now();
    let answer = read_head(&mut stream).await;
    assert_eq!(status_of(&answer), Some(413), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // The same without credentials: still 413 first, nothing is read.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "PUT /repo/x HTTP/1.1\r\nHost: {address}\r\nContent-Type: {MO_DATA}\r\nContent-Length: 99999999999\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    let answer = read_head(&mut stream).await;
    assert_eq!(status_of(&answer), Some(413), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let limits = ServerLimits::default().with_max_connections(2);
    let (_server, address) = start_limited(limits).await;
    let request = format!(
        "GET /admin/devices HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    );
    let mut first = TcpStream::connect(&address).await.expect("connect");
    let mut second = TcpStream::connect(&address).await.expect("connect");
    for stream in [&mut first, &mut second] {
        stream.write_all(request.as_bytes()).await.expect("send");
        assert_eq!(status_of(&read_head(stream).await), Some(200));
    }
    // A third connection is left in the backlog: its request is not
    // answered while both others stay open (kept alive).
    let mut third = TcpStream::connect(&address)
        .await
        .expect("the backlog takes it");
    third.write_all(request.as_bytes()).await.expect("send");
    let mut byte = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(waited.is_err(), "not served while at the limit: {waited:?}");
    // Closing one lets it in.
    drop(first);
    assert_eq!(status_of(&read_head(&mut third).await), Some(200));
    // The open connection is still served.
    second.write_all(request.as_bytes()).await.expect("send");
    assert_eq!(status_of(&read_head(&mut second).await), Some(200));
}

#[tokio::test]
async fn an_unbounded_connection_limit_serves() {
    let limits = ServerLimits::default().with_max_connections(usize::MAX);
    let (_server, address) = start_limited(limits).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let request = format!(
        "GET /admin/devices HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    assert_eq!(status_of(&read_head(&mut stream).await), Some(200));
}

#[tokio::test]
async fn a_streamed_body_is_cut_off_at_the_limit() {
    let limits = ServerLimits::default().with_package_bytes(1024);
    let (_server, address) = start_limited(limits).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /dm HTTP/1.1\r\nHost: {address}\r\nContent-Type: {INITIATION}\r\nOMADM-DevID: {DEV1}\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        authorization()
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    // 2 KiB in chunks, and the body never ends.
    for _ in 0..4 {
        stream
            .write_all(format!("200\r\n{}\r\n", " ".repeat(512)).as_bytes())
            .await
            .expect("send chunk");
    }
    let answer = read_head(&mut stream).await;
    assert_eq!(status_of(&answer), Some(413), "{answer}");
}

#[tokio::test]
async fn slow_heads_and_bodies_time_out() {
    let limits = ServerLimits::default()
        .with_header_timeout(Duration::from_millis(200))
        .with_body_timeout(Duration::from_millis(200));
    let (_server, address) = start_limited(limits).await;

    // A head that never ends: the connection is closed.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"POST /dm HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    let started = Instant::now();
    let answer = read_head(&mut stream).await;
    assert!(started.elapsed() < Duration::from_secs(3), "closed in time");
    assert!(
        answer.is_empty() || status_of(&answer) == Some(408),
        "{answer}"
    );

    // A body that stops halfway: 408.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /dm HTTP/1.1\r\nHost: {address}\r\nContent-Type: {INITIATION}\r\nOMADM-DevID: {DEV1}\r\nAuthorization: {}\r\nContent-Length: 100\r\n\r\n{{\"Alert\":",
        authorization()
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    let answer = read_head(&mut stream).await;
    assert_eq!(status_of(&answer), Some(408), "{answer}");
}

#[tokio::test]
async fn huge_headers_are_refused_and_the_server_goes_on() {
    let limits = ServerLimits::default().with_header_bytes(16 << 10);
    let (server, address) = start_limited(limits).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /dm HTTP/1.1\r\nHost: {address}\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    // The server may close before reading everything.
    let _ = stream.write_all(head.as_bytes()).await;
    let answer = read_head(&mut stream).await;
    assert!(
        answer.is_empty() || status_of(&answer) == Some(431),
        "{answer}"
    );
    // Many headers.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let many: String = (0..500).fold(String::new(), |mut all, i| {
        use std::fmt::Write as _;
        let _ = write!(all, "X-{i}: {i}\r\n");
        all
    });
    let _ = stream
        .write_all(format!("POST /dm HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes())
        .await;
    let answer = read_head(&mut stream).await;
    assert!(
        answer.is_empty() || status_of(&answer).is_some_and(|s| s >= 400),
        "{answer}"
    );
    // A huge Authorization header alone is a plain 401.
    let response = client()
        .post(server.url("/dm"))
        .header("Content-Type", INITIATION)
        .header("OMADM-DevID", DEV1)
        .header("Authorization", format!("Digest {}", "x".repeat(8000)))
        .body(P1)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 401);
    let response = post_package1(&client(), &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200, "still serving");
}

#[tokio::test]
async fn garbage_packages_are_refused_precisely() {
    let server = TestServer::start(options().build().expect("options")).await;
    let http = client();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_alert = format!(
        r#"{{"Alert":[{{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt","Data":{}1{}}}]}}"#,
        r#"{"a":"#.repeat(5000),
        "}".repeat(5000)
    );
    let mut bodies: Vec<Vec<u8>> = vec![
        vec![0xff, 0xfe, 0x00],
        b"\xef\xbb\xbf{}".to_vec(),
        deep.into_bytes(),
        deep_alert.into_bytes(),
        br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}],"Alert":[]}"#.to_vec(),
        br#"{"Alert":[{"AlertType":"\ud800"}]}"#.to_vec(),
        br#"{"MOS":[{"MOID":"not a urn","MIID":[]}],"Alert":[]}"#.to_vec(),
        b"null".to_vec(),
        b"1e999999".to_vec(),
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..20 {
        let body: Vec<u8> = (0..512)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed.to_le_bytes()[0]
            })
            .collect();
        bodies.push(body);
    }
    for body in &bodies {
        // As a Package#1, then as a repository upload.
        for response in [
            post_package1(&http, &server, DEV1, body, BASIC1).await,
            repo_put(&http, &server.url("/repo/g"), Some(DEV1), body, BASIC1).await,
        ] {
            let status = response.status().as_u16();
            assert!(
                status == 400 || status == 413,
                "{status} for {:?}",
                &body[..body.len().min(40)]
            );
        }
    }
    let response = post_package1(&http, &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200, "still serving");
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight_and_persists_the_store() {
    let dir = std::env::temp_dir().join(format!("dm-server-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let path = dir.join("store.sqlite");
    let _ = std::fs::remove_file(&path);
    let store = dm_server::SqliteStore::open_file(&path)
        .await
        .expect("empty store");
    let server = TestServer::start_on(options().build().expect("options"), store).await;
    register_two(&server.admin()).await;
    let address = server.base.trim_start_matches("http://").to_owned();

    // A request in flight: the head and half the body.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /dm HTTP/1.1\r\nHost: {address}\r\nContent-Type: {INITIATION}\r\nOMADM-DevID: {DEV1}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        authorization(),
        P1.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send");
    stream.write_all(&P1.as_bytes()[..10]).await.expect("send");
    tokio::time::sleep(Duration::from_millis(50)).await;

    let base = server.base.clone();
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused once the listener is closed.
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "no longer accepting at {base}"
    );
    stream
        .write_all(&P1.as_bytes()[10..])
        .await
        .expect("send the rest");
    let answer = read_head(&mut stream).await;
    assert_eq!(status_of(&answer), Some(200), "{answer}");
    stopping.await.expect("joined").expect("clean stop");

    let reopened = dm_server::SqliteStore::open_file(&path)
        .await
        .expect("persisted store");
    let admin_view = dm_server::Store::device(&reopened, &dev(DEV1))
        .await
        .expect("read");
    let device = admin_view.expect("device 1 persisted");
    assert!(
        device.last_session().is_some(),
        "the session made it to disk"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
