//! Hostile requests to the admin API over raw loopback sockets: what a web
//! page the developer visits can send (cross-origin simple requests, DNS
//! rebinding), duplicate JSON members, repository bodies at the limit, and
//! the open sessions the admin API shows.

use dm_test_support::hostile_client as support;
use dm_test_support::server as common;

use std::time::Duration;

use common::*;
use dm_server::{MemoryStore, ServerLimits, ServerOptions};
use serde_json::Value;
use support::{Answer, Raw, authority, head};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const GET_MOD: &str = r#"{"command":["GET","urn:oma:mo:oma-dm-devinfo:1.0//Mod"]}"#;

/// Sends `request` on a new connection and reads the whole answer (the
/// request says `Connection: close`): status and body.
async fn exchange(base: &str, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(authority(base))
        .await
        .expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A request with `Host: host`, these headers and `body` (with its
/// `Content-Length`), closing the connection after the answer.
fn request(
    method: &str,
    target: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let length = body.len().to_string();
    let mut all = headers.to_vec();
    all.push(("Connection", "close"));
    if !body.is_empty() || method != "GET" {
        all.push(("Content-Length", &length));
    }
    let mut bytes = head(method, target, host, &all).into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

fn commands_target() -> String {
    format!("/admin/devices/{}/commands", segment(DEV1))
}

/// A dev-mode server (no admin token) with the two test devices.
async fn dev_server() -> TestServer {
    let options = ServerOptions::builder()
        .server_id("test-server")
        .dev_mode(true)
        .build()
        .expect("options");
    let server = TestServer::start_on(options, MemoryStore::new()).await;
    register_two(&server.admin()).await;
    server
}

async fn queued(server: &TestServer) -> usize {
    server
        .admin()
        .commands(&dev(DEV1))
        .await
        .expect("commands")
        .len()
}

/// DNS rebinding: a page of `evil.example` that resolves to 127.0.0.1
/// reaches the dev server with `Host: evil.example`. Dev mode answers only
/// loopback names.
#[tokio::test]
async fn dev_mode_answers_the_admin_api_only_for_loopback_hosts() {
    let server = dev_server().await;
    let port = authority(&server.base)
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let json = [("Content-Type", "application/json")];
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_owned(),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("10.0.0.1:{port}"),
        format!("[::2]:{port}"),
        String::new(),
    ] {
        let (status, body) = exchange(
            &server.base,
            &request("POST", &commands_target(), &host, &json, GET_MOD),
        )
        .await;
        assert_eq!(status, 403, "Host {host:?}: {body}");
        assert!(body.contains("loopback"), "{body}");
        let (status, _) = exchange(
            &server.base,
            &request("GET", "/admin/devices", &host, &[], ""),
        )
        .await;
        assert_eq!(status, 403, "GET with Host {host:?}");
    }
    assert_eq!(queued(&server).await, 0, "nothing was queued");
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "[::1]".to_owned(),
    ] {
        let (status, body) = exchange(
            &server.base,
            &request("POST", &commands_target(), &host, &json, GET_MOD),
        )
        .await;
        assert_eq!(status, 201, "Host {host:?}: {body}");
    }
    assert_eq!(queued(&server).await, 7);
    // Device endpoints are not the admin API: their Host is not checked.
    let (status, _) = exchange(
        &server.base,
        &request(
            "POST",
            "/dm",
            "evil.example",
            &[
                ("Content-Type", INITIATION),
                ("Accept", REQUEST),
                ("OMADM-DevID", DEV1),
            ],
            P1,
        ),
    )
    .await;
    assert_eq!(status, 401, "device 1 has credentials to use");
}

/// CSRF: a web page can send a cross-origin POST with a CORS-simple
/// `Content-Type` (`text/plain`) without a preflight. Admin writes must be
/// `application/json`, and cross-origin requests need the token.
#[tokio::test]
async fn dev_mode_refuses_cross_origin_and_simple_content_type_writes() {
    let server = dev_server().await;
    let host = authority(&server.base).to_owned();
    let own = server.base.clone();
    let target = commands_target();
    for (headers, expected) in [
        (vec![("Content-Type", "text/plain")], 415),
        (vec![("Content-Type", "text/plain; charset=utf-8")], 415),
        (
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            415,
        ),
        (
            vec![("Content-Type", "multipart/form-data; boundary=x")],
            415,
        ),
        (vec![], 415),
        (
            vec![
                ("Content-Type", "text/plain"),
                ("Origin", "http://evil.example"),
            ],
            403,
        ),
        (
            vec![
                ("Content-Type", "application/json"),
                ("Origin", "http://evil.example"),
            ],
            403,
        ),
        (
            vec![("Content-Type", "application/json"), ("Origin", "null")],
            403,
        ),
        (
            vec![
                ("Content-Type", "application/json"),
                ("Origin", "http://localhost:1"),
            ],
            403,
        ),
        (
            vec![
                ("Content-Type", "application/json"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            403,
        ),
        (
            vec![
                ("Content-Type", "application/json"),
                ("Sec-Fetch-Site", "same-site"),
            ],
            403,
        ),
    ] {
        let (status, body) = exchange(
            &server.base,
            &request("POST", &target, &host, &headers, GET_MOD),
        )
        .await;
        assert_eq!(status, expected, "{headers:?}: {body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON refusal");
        assert!(error["error"].is_string(), "{body}");
    }
    // A cross-origin GET cannot read either.
    let (status, _) = exchange(
        &server.base,
        &request(
            "GET",
            "/admin/devices",
            &host,
            &[("Origin", "http://evil.example")],
            "",
        ),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(queued(&server).await, 0, "nothing was queued");
    // The server's own origin, and same-origin fetches, are fine.
    for headers in [
        vec![
            ("Content-Type", "application/json"),
            ("Origin", own.as_str()),
        ],
        vec![
            ("Content-Type", "application/json; charset=utf-8"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        vec![
            ("Content-Type", "application/json"),
            ("Sec-Fetch-Site", "none"),
        ],
    ] {
        let (status, body) = exchange(
            &server.base,
            &request("POST", &target, &host, &headers, GET_MOD),
        )
        .await;
        assert_eq!(status, 201, "{headers:?}: {body}");
    }
    assert_eq!(queued(&server).await, 3);
}

/// Outside dev mode the token is required anyway; a cross-origin request
/// that carries the right token (a console on another origin) is served,
/// one without is refused (403), and the media type rule holds for all.
#[tokio::test]
async fn with_a_token_the_media_type_rule_holds_and_the_token_admits_other_origins() {
    let server = TestServer::start(options().build().expect("options")).await;
    let host = authority(&server.base).to_owned();
    let target = commands_target();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let cases: [(Vec<(&str, &str)>, u16); 7] = [
        (
            vec![("Authorization", &bearer), ("Content-Type", "text/plain")],
            415,
        ),
        (vec![("Authorization", &bearer)], 415),
        (
            vec![
                ("Content-Type", "application/json"),
                ("Origin", "http://evil.example"),
            ],
            403,
        ),
        (
            vec![
                ("Authorization", "Bearer wrong"),
                ("Content-Type", "application/json"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
            403,
        ),
        (vec![("Content-Type", "application/json")], 401),
        (
            vec![
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
                ("Origin", "https://console.example"),
            ],
            201,
        ),
        (
            vec![
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            201,
        ),
    ];
    for (headers, expected) in cases {
        let (status, body) = exchange(
            &server.base,
            &request("POST", &target, &host, &headers, GET_MOD),
        )
        .await;
        assert_eq!(status, expected, "{headers:?}: {body}");
    }
    assert_eq!(queued(&server).await, 2);
    // Other writes: DELETE and a body-less POST with a simple media type,
    // the repository PUT with anything but its two media types.
    let device = format!("/admin/devices/{}", segment(DEV2));
    let notify = format!("/admin/devices/{}/notify", segment(DEV2));
    for (method, target, content_type, body) in [
        ("DELETE", device.as_str(), "text/plain", ""),
        ("POST", notify.as_str(), "text/plain", ""),
        ("PUT", "/admin/repository/a", "text/plain", "[]"),
        (
            "PUT",
            "/admin/repository/a",
            "application/x-www-form-urlencoded",
            "[]",
        ),
        (
            "PUT",
            "/admin/repository/a",
            "multipart/form-data; boundary=x",
            "[]",
        ),
    ] {
        let headers = [
            ("Authorization", bearer.as_str()),
            ("Content-Type", content_type),
        ];
        let (status, answer) = exchange(
            &server.base,
            &request(method, target, &host, &headers, body),
        )
        .await;
        assert_eq!(status, 415, "{method} {target} {content_type}: {answer}");
    }
    assert!(
        server.admin().device(&dev(DEV2)).await.is_ok(),
        "device 2 is still registered"
    );
    // Without a media type (no body), DELETE is fine.
    let (status, answer) = exchange(
        &server.base,
        &request("DELETE", &device, &host, &[("Authorization", &bearer)], ""),
    )
    .await;
    assert_eq!(status, 204, "{answer}");
}

/// A duplicate member: a proxy or an audit log that reads the first
/// `command` sees a GET, the server would queue the EXEC. Refused, naming
/// the member and its position, and nothing is queued or registered.
#[tokio::test]
async fn admin_json_with_duplicate_members_is_refused() {
    let server = TestServer::start(options().build().expect("options")).await;
    let host = authority(&server.base).to_owned();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let smuggled = r#"{"command":["GET","urn:oma:mo:oma-dm-devinfo:1.0//Mod"],"command":["EXEC","urn:x:y//Reboot"]}"#;
    let (status, body) = exchange(
        &server.base,
        &request("POST", &commands_target(), &host, &headers, smuggled),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let error: Value = serde_json::from_str(&body).expect("JSON");
    // The member, its place and the byte after it (as docs/admin-api.md
    // shows).
    assert_eq!(
        error,
        serde_json::json!({"error": r#"duplicate member "command" at $ (byte 92)"#})
    );
    assert_eq!(queued(&server).await, 0);

    for (target, body) in [
        ("/admin/devices", r#"{"dev_id":"IMEI:7","dev_id":"IMEI:8"}"#),
        (
            "/admin/devices",
            r#"{"dev_id":"IMEI:7","notification":{"secret_hex":"01","secret_hex":"02"}}"#,
        ),
        (
            commands_target().as_str(),
            r#"{"command":["GET","urn:oma:mo:oma-dm-devinfo:1.0//Mod"],"x":{"a":1,"a":2}}"#,
        ),
    ] {
        let (status, answer) = exchange(
            &server.base,
            &request("POST", target, &host, &headers, body),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.contains("duplicate member"), "{answer}");
    }
    assert_eq!(queued(&server).await, 0);
    assert_eq!(server.admin().device_count().await.expect("count"), 2);
}

/// The repository limit applies to admin repository writes, from
/// `Content-Length` before the body is read.
#[tokio::test]
async fn admin_repository_writes_take_the_repository_limit() {
    const LIMIT: usize = 400_000;
    let options = options()
        .limits(ServerLimits::default().with_repository_bytes(LIMIT))
        .build()
        .expect("options");
    let server = TestServer::start(options).await;
    let host = authority(&server.base).to_owned();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let document =
        r#"[{"ClientURI":"urn:dm-sdk:mo:wlan:1.0//","MOData":{"WLAN":{"SSID":"office"}}}]"#;
    let padded = |size: usize| format!("{document}{}", " ".repeat(size - document.len()));
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", MO_DATA),
    ];
    let (status, answer) = exchange(
        &server.base,
        &request(
            "PUT",
            "/admin/repository/big",
            &host,
            &headers,
            &padded(LIMIT - 1),
        ),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    // Over the limit: refused from the head alone (the body is never sent).
    let length = (LIMIT + 1).to_string();
    let mut raw = Raw::connect(&server.base).await;
    let head = head(
        "PUT",
        "/admin/repository/bigger",
        &host,
        &[
            ("Authorization", &bearer),
            ("Content-Type", MO_DATA),
            ("Content-Length", &length),
        ],
    );
    assert!(raw.send(head.as_bytes()).await);
    assert_eq!(
        raw.answer(Duration::from_secs(5)).await,
        Answer::Status(413)
    );
    assert!(
        server
            .admin()
            .repository("bigger")
            .await
            .expect("read")
            .is_none()
    );
}

/// The open session ids of a device in an admin answer.
fn open_ids(device: &Value) -> Vec<String> {
    device["open_sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("open_sessions in {device}"))
        .iter()
        .map(|s| {
            assert!(s["started_ms"].is_u64(), "{s}");
            s["id"].as_str().expect("an id").to_owned()
        })
        .collect()
}

/// A device may hold several sessions at once (a second Package#1 while
/// the first waits for its Package#3): the admin API shows all of them,
/// without their tokens.
#[tokio::test]
async fn the_admin_api_shows_every_open_session() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let http = AdminClient::new(&server.base);
    let device_path = format!("/admin/devices/{}", segment(DEV1));
    queue_get(&admin, "Man").await;
    let (first, _) = open_session(&server).await;
    queue_get(&admin, "Mod").await;
    let (second, _) = open_session(&server).await;
    assert_ne!(first, second);

    let (status, device) = http.get(&device_path).await;
    assert_eq!(status, 200, "{device}");
    let ids = open_ids(&device);
    assert_eq!(ids.len(), 2, "{device}");
    // In-process, the same sessions, oldest first.
    let open = admin.open_sessions(&dev(DEV1)).await.expect("sessions");
    let in_process: Vec<String> = open.iter().map(|s| s.token.public_id()).collect();
    assert_eq!(in_process, ids);
    assert!(first.ends_with(&open[0].token.to_string()), "{first}");
    for uri in [&first, &second] {
        let token = uri.rsplit('/').next().expect("token");
        assert!(
            !device["open_sessions"].to_string().contains(token),
            "{device}"
        );
    }
    let (_, list) = http.get("/admin/devices").await;
    let listed = &list["devices"][0];
    assert_eq!(listed["dev_id"], DEV1);
    assert_eq!(open_ids(listed), ids, "{list}");
    assert_eq!(listed["open_session"], true);

    // The second ends; the first is still open, and shown as such.
    finish_session(&second, &[200, 200]).await;
    let (_, device) = http.get(&device_path).await;
    assert_eq!(open_ids(&device).len(), 1, "{device}");
    let (_, list) = http.get("/admin/devices").await;
    assert_eq!(list["devices"][0]["open_session"], true, "{list}");
    assert_eq!(open_ids(&list["devices"][0]).len(), 1);

    finish_session(&first, &[200, 200]).await;
    let (_, device) = http.get(&device_path).await;
    assert!(open_ids(&device).is_empty(), "{device}");
    let (_, list) = http.get("/admin/devices").await;
    assert_eq!(list["devices"][0]["open_session"], false, "{list}");
}

/// The case reported: the second session ends in its first Package#2
/// (nothing queued) while the first still waits.
#[tokio::test]
async fn a_short_second_session_does_not_hide_the_first() {
    let server = TestServer::start(options().build().expect("options")).await;
    let http = AdminClient::new(&server.base);
    queue_get(&server.admin(), "Man").await;
    let (first, _) = open_session(&server).await;
    let response = post_package1(&client(), &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
    let (_, list) = http.get("/admin/devices").await;
    assert_eq!(list["devices"][0]["open_session"], true, "{list}");
    assert_eq!(open_ids(&list["devices"][0]).len(), 1, "{list}");
    // And a Package#3 without CONT still finds the session that is open.
    let response = post_package(
        &client(),
        &server.url("/dm"),
        RESPONSE,
        DEV1,
        &p3(&[200, 200]),
        BASIC1,
    )
    .await;
    assert_eq!(response.status(), 200);
    let (_, list) = http.get("/admin/devices").await;
    assert_eq!(list["devices"][0]["open_session"], false, "{list}");
    let _ = first;
}

#[tokio::test]
async fn bulk_registration_is_all_or_nothing_and_bounded() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let (status, body) = admin
        .post(
            "/admin/devices/bulk",
            serde_json::json!([
                {"dev_id": "IMEI:10", "username": "device-10", "password": "pw10"},
                {"dev_id": "IMEI:11", "certificate_sha256": "11".repeat(32)},
                {"dev_id": "IMEI:12"},
            ]),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, serde_json::json!({"registered": 3}));
    let (status, device) = admin.get("/admin/devices/IMEI%3A10").await;
    assert_eq!(
        (status, &device["username"]),
        (200, &Value::from("device-10"))
    );
    // The new devices authenticate like devices registered one at a time.
    let digest = Auth::Digest("device-10", "pw10", "SHA-256");
    let response = post_package1(&client(), &server, "IMEI:10", P1, digest).await;
    assert_eq!(response.status(), 200);

    // One conflict (a taken user name, a registered DevID, a certificate
    // in use, a duplicate inside the batch) refuses the whole batch.
    for (conflicting, error) in [
        (
            serde_json::json!({"dev_id": "IMEI:21", "username": USER1, "password": "x"}),
            "device-1",
        ),
        (serde_json::json!({"dev_id": "IMEI:11"}), "IMEI:11"),
        (
            serde_json::json!({"dev_id": "IMEI:22", "certificate_sha256": "11".repeat(32)}),
            "IMEI:11",
        ),
        (serde_json::json!({"dev_id": "IMEI:20"}), "IMEI:20"),
    ] {
        let batch = serde_json::json!([{"dev_id": "IMEI:20"}, conflicting]);
        let (status, answer) = admin.post("/admin/devices/bulk", batch.clone()).await;
        assert_eq!(status, 409, "{batch} -> {answer}");
        let message = answer["error"].as_str().expect("an error");
        assert!(message.contains(error), "{message}");
        let (status, _) = admin.get("/admin/devices/IMEI%3A20").await;
        assert_eq!(status, 404, "nothing of {batch} was registered");
    }
    let (_, list) = admin.get("/admin/devices").await;
    assert_eq!(list["total"], 5);

    // Malformed: not an array, an invalid entry (named by its index).
    let (status, _) = admin
        .post(
            "/admin/devices/bulk",
            serde_json::json!({"dev_id": "IMEI:30"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, answer) = admin
        .post(
            "/admin/devices/bulk",
            serde_json::json!([{"dev_id": "IMEI:30"}, {"dev_id": "bad id"}]),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("device 1")),
        "{answer}"
    );
    // More devices than one request takes.
    let many: Vec<Value> = (0..10_001)
        .map(|n| serde_json::json!({"dev_id": format!("IMEI:{}", 40_000 + n)}))
        .collect();
    let (status, answer) = admin.post("/admin/devices/bulk", Value::Array(many)).await;
    assert_eq!(status, 413, "{answer}");
    // A body over 4 MiB: refused from the head alone.
    let host = authority(&server.base).to_owned();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let length = ((4 << 20) + 1).to_string();
    let mut raw = Raw::connect(&server.base).await;
    let head = head(
        "POST",
        "/admin/devices/bulk",
        &host,
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
            ("Content-Length", &length),
        ],
    );
    assert!(raw.send(head.as_bytes()).await);
    assert_eq!(
        raw.answer(Duration::from_secs(5)).await,
        Answer::Status(413)
    );
    let (_, list) = admin.get("/admin/devices").await;
    assert_eq!(list["total"], 5);
}
