//! Hostile clients against a running `DmServer` on loopback, mostly over
//! raw sockets: oversized, slow, deep, malformed and misaddressed requests.
//! Every test checks the exact refusal and that the server neither wrote
//! nor lost anything: the device's record, commands and alerts are
//! unchanged (or its session failed exactly as the protocol says), and the
//! repository holds nothing new.

use dm_test_support::hostile_client as support;
use dm_test_support::server as common;

use std::time::{Duration, Instant};

use common::*;
use dm_server::{CommandId, CommandState, ServerLimits, SessionOutcome};
use support::{Answer, Held, Raw, authority, basic, head, held};

/// The request target of a session URI.
fn target_of<'a>(server: &TestServer, uri: &'a str) -> &'a str {
    uri.strip_prefix(server.base.as_str()).expect("same base")
}

/// The head of an authenticated device-1 POST of `content_type` with
/// these extra headers.
fn device_head(
    server: &TestServer,
    target: &str,
    content_type: &str,
    extra: &[(&str, &str)],
) -> String {
    let auth = basic(USER1, PASS1);
    let accept = if content_type == MO_DATA {
        MO_DATA
    } else {
        REQUEST
    };
    let mut headers = vec![
        ("Content-Type", content_type),
        ("Accept", accept),
        ("OMADM-DevID", DEV1),
        ("Authorization", auth.as_str()),
    ];
    headers.extend_from_slice(extra);
    let method = if target.starts_with("/repo/") {
        "PUT"
    } else {
        "POST"
    };
    head(method, target, authority(&server.base), &headers)
}

/// Connects and sends the head of a device-1 request (see `device_head`).
async fn send_head(
    server: &TestServer,
    target: &str,
    content_type: &str,
    extra: &[(&str, &str)],
) -> Raw {
    let mut raw = Raw::connect(&server.base).await;
    raw.send(device_head(server, target, content_type, extra).as_bytes())
        .await;
    raw
}

/// A server taking Packages of 1 KiB and repository objects of 2 KiB at
/// most, with a GET queued for device 1: the server, the command and what
/// the server then holds about device 1.
async fn small_bodies_server() -> (TestServer, CommandId, Held) {
    let limits = ServerLimits::default()
        .with_package_bytes(1024)
        .with_repository_bytes(2048);
    let server = TestServer::start(options().limits(limits).build().expect("options")).await;
    let admin = server.admin();
    let id = queue_get(&admin, "Man").await;
    let before = held(&admin, DEV1).await;
    (server, id, before)
}

const QUICK: Duration = Duration::from_millis(800);

#[tokio::test]
async fn bodies_announced_over_the_limit_are_refused_before_they_are_sent() {
    let (server, id, before) = small_bodies_server().await;
    let admin = server.admin();

    // Package#1: only the head and four bytes of a 1 MB body are sent; the
    // 413 comes back at once and the connection is closed unread.
    let started = Instant::now();
    let mut raw = send_head(&server, "/dm", INITIATION, &[("Content-Length", "1000000")]).await;
    raw.send(b"{\"Al").await;
    let answer = raw.answer(QUICK).await;
    assert_eq!(answer, Answer::Status(413), "{}", raw.last_head);
    assert!(started.elapsed() < QUICK);
    assert!(raw.closed_within(QUICK).await, "the rest is never read");
    assert_eq!(
        held(&admin, DEV1).await,
        before,
        "no session, nothing recorded"
    );

    // Package#3 at the session URI: refused unread, and (section 2) the
    // session is dropped with its command failed.
    let (uri, _) = open_session(&server).await;
    let during = held(&admin, DEV1).await;
    assert_eq!(during.commands[0].state, CommandState::Sent);
    let session = target_of(&server, &uri);
    let huge = [("Content-Length", "99999999999")];
    let mut raw = send_head(&server, session, RESPONSE, &huge).await;
    let answer = raw.answer(QUICK).await;
    assert_eq!(answer, Answer::Status(413), "{}", raw.last_head);
    assert!(raw.closed_within(QUICK).await);
    assert_eq!(held(&admin, DEV1).await.device.open_session, None);
    let record = command_of(&admin, id).await;
    assert_eq!(record.state, CommandState::Failed);
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("over the limit")),
        "{record:?}"
    );
    let response = post_p3(&client(), &uri, &[200, 200]).await;
    assert_eq!(response.status(), 404, "the session is gone");

    // A repository upload: 413, nothing stored.
    let over = [("Content-Length", "2049")];
    let mut raw = send_head(&server, "/repo/upload", MO_DATA, &over).await;
    let answer = raw.answer(QUICK).await;
    assert_eq!(answer, Answer::Status(413), "{}", raw.last_head);
    assert_eq!(admin.repository("upload").await.expect("read"), None);
}

/// A chunk of `n` spaces.
fn chunk(n: usize) -> String {
    format!("{n:x}\r\n{}\r\n", " ".repeat(n))
}

#[tokio::test]
async fn chunked_bodies_are_cut_off_once_they_exceed_the_limit() {
    let (server, first, before) = small_bodies_server().await;
    let admin = server.admin();
    let chunked = [("Transfer-Encoding", "chunked")];

    // Package#1: 1000 bytes are fine, the next 100 cross the limit; the
    // terminating chunk is never sent.
    let mut raw = send_head(&server, "/dm", INITIATION, &chunked).await;
    raw.send(chunk(1000).as_bytes()).await;
    assert_eq!(
        raw.answer(Duration::from_millis(300)).await,
        Answer::Nothing,
        "under the limit the server waits"
    );
    raw.send(chunk(100).as_bytes()).await;
    let answer = raw.answer(QUICK).await;
    assert_eq!(answer, Answer::Status(413), "{}", raw.last_head);
    assert_eq!(
        held(&admin, DEV1).await,
        before,
        "no session, nothing recorded"
    );

    // Package#3: refused, and the session is dropped with its command
    // failed (docs/protocol.md section 2).
    let (uri, _) = open_session(&server).await;
    let session = target_of(&server, &uri);
    let mut raw = send_head(&server, session, RESPONSE, &chunked).await;
    for _ in 0..3 {
        raw.send(chunk(512).as_bytes()).await;
    }
    let answer = raw.answer(QUICK).await;
    assert_eq!(answer, Answer::Status(413), "{}", raw.last_head);
    let after = held(&admin, DEV1).await;
    assert_eq!(after.device.open_session, None);
    let record = command_of(&admin, first).await;
    assert_eq!(record.state, CommandState::Failed);
    assert!(
        matches!(after.device.last_session().and_then(|s| s.outcome.clone()), Some(SessionOutcome::Failed(reason)) if reason.contains("over the limit")),
        "{:?}",
        after.device.last_session()
    );

    // A repository upload: 413, nothing stored.
    let mut raw = send_head(&server, "/repo/upload", MO_DATA, &chunked).await;
    for _ in 0..5 {
        raw.send(chunk(512).as_bytes()).await;
    }
    let answer = raw.answer(QUICK).await;
    assert_eq!(answer, Answer::Status(413), "{}", raw.last_head);
    assert_eq!(admin.repository("upload").await.expect("read"), None);
}

#[tokio::test]
async fn slow_heads_and_stalled_bodies_are_cut_off_after_their_timeouts() {
    let timeout = Duration::from_millis(300);
    let limits = ServerLimits::default()
        .with_header_timeout(timeout)
        .with_body_timeout(timeout);
    let server = TestServer::start(options().limits(limits).build().expect("options")).await;
    let admin = server.admin();
    let first = queue_get(&admin, "Man").await;
    let before = held(&admin, DEV1).await;

    // A head trickling in one byte every 50 ms: each byte comes well within
    // the timeout, the head as a whole does not.
    let mut raw = Raw::connect(&server.base).await;
    let started = Instant::now();
    let request = device_head(&server, "/dm", INITIATION, &[("Content-Length", "2")]);
    let mut cut = false;
    for byte in request.as_bytes() {
        if !raw.send(std::slice::from_ref(byte)).await {
            cut = true;
            break;
        }
        match raw.answer(Duration::from_millis(50)).await {
            Answer::Nothing => {}
            answer => {
                assert!(answer.is_status_or_closed(408), "{answer:?}");
                cut = true;
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    assert!(cut, "the whole head went through in {elapsed:?}");
    assert!(
        elapsed >= timeout.saturating_sub(Duration::from_millis(50))
            && elapsed < Duration::from_secs(2),
        "cut after {elapsed:?}"
    );

    // A connection that sends nothing, and one left idle after a request:
    // both closed after the header timeout.
    let mut raw = Raw::connect(&server.base).await;
    let started = Instant::now();
    assert!(raw.closed_within(Duration::from_secs(2)).await);
    assert!(started.elapsed() >= timeout.saturating_sub(Duration::from_millis(50)));
    let mut raw = Raw::connect(&server.base).await;
    raw.send(head("GET", "/repo/x", authority(&server.base), &[]).as_bytes())
        .await;
    assert_eq!(raw.answer(QUICK).await, Answer::Status(401));
    let started = Instant::now();
    assert!(raw.closed_within(Duration::from_secs(2)).await);
    assert!(started.elapsed() >= timeout.saturating_sub(Duration::from_millis(50)));

    // A Package#1 whose body stalls after 10 bytes: 408, no session.
    let mut raw = send_head(&server, "/dm", INITIATION, &[("Content-Length", "100")]).await;
    raw.send(&P1.as_bytes()[..10]).await;
    let started = Instant::now();
    let answer = raw.answer(Duration::from_secs(2)).await;
    assert_eq!(answer, Answer::Status(408), "{}", raw.last_head);
    assert!(started.elapsed() >= timeout.saturating_sub(Duration::from_millis(50)));
    assert_eq!(
        held(&admin, DEV1).await,
        before,
        "no session, nothing recorded"
    );

    // A body trickling in one byte every 50 ms: the timeout is for the
    // whole body.
    let body = P1.as_bytes();
    let length = body.len().to_string();
    let mut raw = send_head(&server, "/dm", INITIATION, &[("Content-Length", &length)]).await;
    let mut answer = Answer::Nothing;
    for byte in body {
        raw.send(std::slice::from_ref(byte)).await;
        answer = raw.answer(Duration::from_millis(50)).await;
        if answer != Answer::Nothing {
            break;
        }
    }
    assert_eq!(answer, Answer::Status(408), "{}", raw.last_head);
    assert_eq!(held(&admin, DEV1).await, before);

    // A Package#3 that stalls: 408, the session is dropped, its command
    // failed.
    let (uri, _) = open_session(&server).await;
    let session = target_of(&server, &uri);
    let mut raw = send_head(&server, session, RESPONSE, &[("Content-Length", "50")]).await;
    raw.send(b"{\"Status\":[").await;
    let answer = raw.answer(Duration::from_secs(2)).await;
    assert_eq!(answer, Answer::Status(408), "{}", raw.last_head);
    let record = command_of(&admin, first).await;
    assert_eq!(record.state, CommandState::Failed);
    assert_eq!(held(&admin, DEV1).await.device.open_session, None);

    // A repository upload that stalls: 408, nothing stored.
    let mut raw = send_head(&server, "/repo/slow", MO_DATA, &[("Content-Length", "50")]).await;
    raw.send(b"[").await;
    let answer = raw.answer(Duration::from_secs(2)).await;
    assert_eq!(answer, Answer::Status(408), "{}", raw.last_head);
    assert_eq!(admin.repository("slow").await.expect("read"), None);

    // The server still serves.
    let second = queue_get(&admin, "Mod").await;
    let (uri, _) = open_session(&server).await;
    finish_session(&uri, &[200, 200]).await;
    let record = command_of(&admin, second).await;
    assert_eq!(record.state, CommandState::Done);
}

#[tokio::test]
async fn deep_and_oversized_json_is_refused_and_the_server_goes_on() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let http = client();
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    let deep_alert = format!(
        r#"{{"Alert":[{{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt","Data":{deep_object}}}]}}"#
    );
    let deep_status = format!(r#"{{"Status":[{{"sc":200,"x":{deep_array}}},{{"sc":200}}]}}"#);
    // 5 MiB of members: over the 4 MiB Package limit.
    let mut huge =
        String::from(r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]"#);
    let mut n = 0;
    while huge.len() < 5 << 20 {
        use std::fmt::Write as _;
        let _ = write!(huge, r#","m{n}":{n}"#);
        n += 1;
    }
    huge.push('}');

    // The top-level array is the wrong shape (400); nesting past the depth
    // limit is a limit error (413), found while reading.
    let before = held(&admin, DEV1).await;
    for (body, status) in [
        (&deep_array, 400),
        (&deep_object, 413),
        (&deep_alert, 413),
        (&huge, 413),
    ] {
        let response = post_package1(&http, &server, DEV1, body, BASIC1).await;
        assert_eq!(response.status(), status, "{}", &body[..40]);
    }
    assert_eq!(held(&admin, DEV1).await, before, "nothing recorded");

    // In Package#3: refused, and the session is dropped with its command
    // failed.
    for (body, status) in [(&deep_array, 400), (&deep_status, 413)] {
        let (answered, _, record) = package3_in_new_session(&server, RESPONSE, body).await;
        assert_eq!(answered, status, "{}", &body[..40]);
        assert_eq!(record.state, CommandState::Failed, "{}", &body[..40]);
        assert_eq!(held(&admin, DEV1).await.device.open_session, None);
    }
    // Over the size limit by its Content-Length, a Package#3 is refused
    // unread, and its session dropped too.
    let (answered, uri, record) = package3_in_new_session(&server, RESPONSE, &huge).await;
    assert_eq!(answered, 413);
    assert_eq!(record.state, CommandState::Failed);
    assert_eq!(held(&admin, DEV1).await.device.open_session, None);
    let response = post_p3(&http, &uri, &[200, 200]).await;
    assert_eq!(response.status(), 404, "the session is gone");

    // The repository refuses the same.
    let deep_mo_data = format!(r#"[{{"ClientURI":"urn:x:y//","MOData":{deep_object}}}]"#);
    let url = server.url("/repo/deep");
    for (body, status) in [
        (&deep_array, 400),
        (&deep_object, 400),
        (&deep_mo_data, 413),
    ] {
        let response = repo_put(&http, &url, Some(DEV1), body.as_bytes(), BASIC1).await;
        assert_eq!(response.status(), status);
    }
    assert_eq!(admin.repository("deep").await.expect("read"), None);

    let id = queue_get(&admin, "Man").await;
    let (uri, _) = open_session(&server).await;
    finish_session(&uri, &[200, 200]).await;
    assert_eq!(
        command_of(&admin, id).await.state,
        CommandState::Done,
        "still serving"
    );
}

#[tokio::test]
async fn ten_thousand_commands_go_out_in_capped_packages_and_ten_thousand_statuses_are_refused() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let mut ids = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let node = format!("Ext/n{i}");
        ids.push(queue_get(&admin, &node).await);
    }
    let count = |state: CommandState| {
        let admin = admin.clone();
        async move {
            admin
                .commands(&dev(DEV1))
                .await
                .expect("commands")
                .iter()
                .filter(|c| c.state == state)
                .count()
        }
    };

    // Package#2 holds CONT and 64 commands (the default cap).
    let (uri, length) = open_session(&server).await;
    assert_eq!(length, 1 + 64);
    assert_eq!(count(CommandState::Sent).await, 64);
    assert_eq!(count(CommandState::Queued).await, 10_000 - 64);

    // The next Package#2 holds the next 64.
    let response = post_p3(&client(), &uri, &[200; 65]).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    assert_eq!(package.len(), 64);
    assert_eq!(package[0][1], "urn:oma:mo:oma-dm-devinfo:1.0//Ext/n64");
    assert_eq!(count(CommandState::Done).await, 64);

    // 10,000 statuses: over the decoder's count limit (4096), 413; the 64
    // commands in flight fail, the others stay queued for the next session.
    let response = post_p3(&client(), &uri, &vec![200; 10_000]).await;
    assert_eq!(response.status(), 413);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("status count"),
        "the refusal says why"
    );
    assert_eq!(count(CommandState::Done).await, 64);
    assert_eq!(count(CommandState::Failed).await, 64);
    assert_eq!(count(CommandState::Queued).await, 10_000 - 128);
    assert_eq!(held(&admin, DEV1).await.device.open_session, None);
    let record = command_of(&admin, ids[128]).await;
    assert_eq!(record.state, CommandState::Queued, "not lost");

    // 4096 statuses for 64 commands: within the limit, but not the count
    // the server sent (400).
    let (uri, _) = open_session(&server).await;
    let response = post_p3(&client(), &uri, &vec![200; 4096]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(count(CommandState::Failed).await, 128);
    assert_eq!(count(CommandState::Queued).await, 10_000 - 192);
}

#[tokio::test]
async fn invalid_utf8_byte_order_marks_and_duplicate_members_are_400() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let http = client();
    let start = r#"{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}"#;
    let package1s: Vec<Vec<u8>> = vec![
        [
            br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt","Data":{"x":""#.as_slice(),
            b"\xff\xfe",
            br#""}}]}"#,
        ]
        .concat(),
        // An overlong encoding of '/'.
        [br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:Client"#.as_slice(), b"\xc0\xaf", br#""}]}"#]
            .concat(),
        [b"\xef\xbb\xbf".as_slice(), P1.as_bytes()].concat(),
        format!(r#"{{"Alert":[{start}],"Alert":[{start}]}}"#).into_bytes(),
        br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt","AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"}]}"#.to_vec(),
        br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt","Data":{"k":1,"k":2}}]}"#.to_vec(),
        br#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt","Data":{"k":"\udc00"}}]}"#.to_vec(),
        [P1.as_bytes(), b" x"].concat(),
    ];
    let before = held(&admin, DEV1).await;
    for body in &package1s {
        let response = post_package1(&http, &server, DEV1, body, BASIC1).await;
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
    }
    assert_eq!(held(&admin, DEV1).await, before, "no session, no alert");

    let package3s: Vec<Vec<u8>> = vec![
        [
            br#"{"Status":[{"sc":200},{"sc":200}],"Alert":[{"AlertType":""#.as_slice(),
            b"\x80",
            br#""}]}"#,
        ]
        .concat(),
        [b"\xef\xbb\xbf".as_slice(), p3(&[200, 200]).as_bytes()].concat(),
        br#"{"Status":[{"sc":200},{"sc":200}],"Status":[{"sc":200},{"sc":200}]}"#.to_vec(),
        br#"{"Status":[{"sc":200,"sc":404},{"sc":200}]}"#.to_vec(),
    ];
    for body in &package3s {
        let (answered, _, record) = package3_in_new_session(&server, RESPONSE, body).await;
        assert_eq!(answered, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(record.state, CommandState::Failed);
        assert_eq!(record.result, None, "no status was taken from it");
    }

    let uploads: Vec<Vec<u8>> = vec![
        [
            br#"[{"ClientURI":"urn:x:y//","MOData":{"A":""#.as_slice(),
            b"\xfe",
            br#""}}]"#,
        ]
        .concat(),
        [
            b"\xef\xbb\xbf".as_slice(),
            br#"[{"ClientURI":"urn:x:y//","MOData":{"A":1}}]"#,
        ]
        .concat(),
        br#"[{"ClientURI":"urn:x:y//","MOData":{"A":{"b":1,"b":2}}}]"#.to_vec(),
    ];
    for body in &uploads {
        let response = repo_put(&http, &server.url("/repo/bad"), Some(DEV1), body, BASIC1).await;
        assert_eq!(response.status(), 400, "{}", String::from_utf8_lossy(body));
    }
    assert_eq!(admin.repository("bad").await.expect("read"), None);
}

#[tokio::test]
async fn a_package3_at_another_devices_session_uri_is_refused_and_drops_the_session() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let http = client();
    let other = held(&admin, DEV2).await;

    // Nobody, or device 2 with device 1's password under its own user:
    // 401 (a challenge, which drops nothing).
    let id = queue_get(&admin, "Man").await;
    let (uri, _) = open_session(&server).await;
    let owner = held(&admin, DEV1).await;
    let response = post_package(&http, &uri, RESPONSE, DEV1, &p3(&[200, 200]), Auth::None).await;
    assert_eq!(response.status(), 401);
    let wrong = Auth::Basic(USER2, PASS1);
    let response = post_package(&http, &uri, RESPONSE, DEV2, &p3(&[200, 200]), wrong).await;
    assert_eq!(response.status(), 401);
    assert_eq!(held(&admin, DEV1).await, owner, "the session is intact");
    // Device 2 at the session endpoint, claiming device 1 (no CONT
    // followed): correlated by the authenticated device, which has no open
    // session.
    let dm = server.url("/dm");
    let response = post_package(&http, &dm, RESPONSE, DEV1, &p3(&[200, 200]), BASIC2).await;
    assert_eq!(response.status(), 404);
    assert_eq!(held(&admin, DEV1).await, owner, "the session is intact");

    // Device 2 at device 1's session URI, as itself and claiming device 1:
    // 403, and the session is dropped (section 2) with its command failed
    // and no status taken from device 2.
    let mut session = Some((uri, id));
    for claimed in [DEV2, DEV1] {
        let (uri, id) = if let Some(open) = session.take() {
            open
        } else {
            let id = queue_get(&admin, "Man").await;
            (open_session(&server).await.0, id)
        };
        let response = post_package(&http, &uri, RESPONSE, claimed, &p3(&[200, 200]), BASIC2).await;
        assert_eq!(response.status(), 403, "claiming {claimed}");
        let record = command_of(&admin, id).await;
        assert_eq!(record.state, CommandState::Failed, "claiming {claimed}");
        assert_eq!(record.result, None, "no status was taken from device 2");
        assert_eq!(held(&admin, DEV1).await.device.open_session, None);
        let response = post_p3(&http, &uri, &[200, 200]).await;
        assert_eq!(response.status(), 404, "the owner's session is gone");
    }
    assert_eq!(
        held(&admin, DEV2).await,
        other,
        "nothing recorded for device 2"
    );
}

#[tokio::test]
async fn omadm_devid_must_name_the_authenticated_device() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let http = client();
    let id = queue_get(&admin, "Man").await;
    let other = held(&admin, DEV2).await;

    // Package#1 as device 1 claiming device 2: nothing opened for anyone.
    let before = held(&admin, DEV1).await;
    for claimed in [DEV2, "IMEI:999999999999999"] {
        let response = post_package1(&http, &server, claimed, P1, BASIC1).await;
        assert_eq!(response.status(), 403, "{claimed}");
    }
    assert_eq!(held(&admin, DEV1).await, before);
    assert_eq!(held(&admin, DEV2).await, other);

    // Package#3 of device 1's own session claiming device 2: refused, and
    // the session is dropped (its command fails).
    let (uri, _) = open_session(&server).await;
    let response = post_package(&http, &uri, RESPONSE, DEV2, &p3(&[200, 200]), BASIC1).await;
    assert_eq!(response.status(), 403);
    let record = command_of(&admin, id).await;
    assert_eq!(record.state, CommandState::Failed);
    assert_eq!(held(&admin, DEV2).await, other);

    // The repository: reads and writes claiming another device, or none.
    admin
        .put_repository(
            "shared/config",
            br#"[{"ClientURI":"urn:x:y//","MOData":{"A":1}}]"#,
        )
        .await
        .expect("stored");
    let upload = br#"[{"ClientURI":"urn:x:y//","MOData":{"A":2}}]"#;
    let own = server.url("/repo/dev2/own");
    let response = repo_put(&http, &own, Some(DEV2), upload, BASIC2).await;
    assert_eq!(response.status(), 201);
    let stored = admin.repository("dev2/own").await.expect("read");
    for (path, claimed) in [
        ("shared/config", Some(DEV2)),
        ("shared/config", None),
        ("dev2/own", Some(DEV2)),
    ] {
        let url = server.url(&format!("/repo/{path}"));
        let response = repo_get(&http, &url, claimed, BASIC1).await;
        assert_eq!(response.status(), 403, "{path} {claimed:?}");
        let body = response.text().await.expect("body");
        assert!(!body.contains("MOData"), "no data: {body}");
    }
    // Device 2's object does not exist for device 1.
    let response = repo_get(&http, &own, Some(DEV1), BASIC1).await;
    assert_eq!(response.status(), 404);
    for (path, claimed) in [
        ("dev1/up", Some(DEV2)),
        ("dev1/up", None),
        ("dev2/own", Some(DEV2)),
    ] {
        let url = server.url(&format!("/repo/{path}"));
        let response = repo_put(&http, &url, claimed, upload, BASIC1).await;
        assert_eq!(response.status(), 403, "{path} {claimed:?}");
    }
    // Device 2's object cannot be replaced by device 1, even as itself.
    let response = repo_put(&http, &own, Some(DEV1), b"[]", BASIC1).await;
    assert_eq!(response.status(), 403);
    assert_eq!(admin.repository("dev1/up").await.expect("read"), None);
    assert_eq!(
        admin.repository("dev2/own").await.expect("read"),
        stored,
        "unchanged"
    );
}

#[tokio::test]
async fn authentication_comes_before_the_body_is_read() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let before = held(&admin, DEV1).await;
    let host = authority(&server.base).to_owned();
    let wrong = basic(USER1, "wrong");
    for authorization in [None, Some(wrong.as_str())] {
        let mut headers = vec![
            ("Content-Type", INITIATION),
            ("OMADM-DevID", DEV1),
            ("Content-Length", "3000000"),
        ];
        if let Some(value) = authorization {
            headers.push(("Authorization", value));
        }
        let mut raw = Raw::connect(&server.base).await;
        raw.send(head("POST", "/dm", &host, &headers).as_bytes())
            .await;
        let answer = raw.answer(QUICK).await;
        assert_eq!(answer, Answer::Status(401), "{}", raw.last_head);
        assert!(
            raw.last_head
                .to_ascii_lowercase()
                .contains("www-authenticate: digest")
        );
    }
    assert_eq!(held(&admin, DEV1).await, before);
}

#[tokio::test]
async fn header_floods_are_refused_without_waiting_for_the_timeout() {
    let limits = ServerLimits::default().with_header_bytes(16 << 10);
    let server = TestServer::start(options().limits(limits).build().expect("options")).await;
    let admin = server.admin();
    let before = held(&admin, DEV1).await;
    let host = authority(&server.base).to_owned();
    let auth = basic(USER1, PASS1);
    let big = "a".repeat(1 << 20);
    let many: Vec<(String, String)> = (0..10_000)
        .map(|i| (format!("X-{i}"), i.to_string()))
        .collect();
    let many_refs: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let long_target = format!("/dm?{big}");
    let floods = [
        head(
            "POST",
            "/dm",
            &host,
            &[("Authorization", &auth), ("X-Filler", &big)],
        ),
        head("POST", "/dm", &host, &many_refs),
        head("POST", &long_target, &host, &[("Authorization", &auth)]),
    ];
    for (i, flood) in floods.iter().enumerate() {
        let mut raw = Raw::connect(&server.base).await;
        let started = Instant::now();
        // The server may hang up before everything is written.
        let _ = raw.send(flood.as_bytes()).await;
        let answer = raw.answer(Duration::from_secs(3)).await;
        assert!(
            matches!(answer, Answer::Closed | Answer::Status(414 | 431)),
            "flood {i}: {answer:?} {}",
            raw.last_head
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "flood {i} refused at once"
        );
    }
    assert_eq!(held(&admin, DEV1).await, before);
    let response = post_package1(&client(), &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200, "still serving");
}

#[tokio::test]
async fn every_admin_refusal_is_json_and_oversized_admin_bodies_are_refused_unread() {
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = AdminClient::new(&server.base);
    let is_error = |(status, body): &(u16, serde_json::Value)| {
        body["error"].as_str().is_some_and(|e| !e.is_empty()) && *status >= 400
    };

    // The router's own refusals: a path segment that is not UTF-8 once
    // decoded, an unknown resource, a method not allowed.
    for (method, path, status) in [
        (reqwest::Method::GET, "/admin/devices/%FF%FE", 400),
        (reqwest::Method::GET, "/admin/nothing/here", 404),
        (reqwest::Method::GET, "/admin", 404),
        (reqwest::Method::PATCH, "/admin/devices", 405),
    ] {
        let answer = admin.call(method.clone(), path, None).await;
        assert_eq!(answer.0, status, "{method} {path}: {answer:?}");
        assert!(is_error(&answer), "{method} {path}: {answer:?}");
    }
    // Unknown resources are not probed without the token.
    let mut anonymous = AdminClient::new(&server.base);
    anonymous.token = None;
    let answer = anonymous.get("/admin/nothing/here").await;
    assert_eq!(answer.0, 401, "{answer:?}");

    // A command body announced over 256 KiB: 413 from its Content-Length,
    // at once, the rest never read, nothing queued.
    let before = held(&server.admin(), DEV1).await;
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let target = format!("/admin/devices/{}/commands", segment(DEV1));
    let mut raw = Raw::connect(&server.base).await;
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
        ("Content-Length", "10000000"),
    ];
    raw.send(head("POST", &target, authority(&server.base), &headers).as_bytes())
        .await;
    raw.send(b"{\"comm").await;
    let started = Instant::now();
    assert_eq!(
        raw.answer(QUICK).await,
        Answer::Status(413),
        "{}",
        raw.last_head
    );
    assert!(started.elapsed() < QUICK);
    assert!(
        raw.last_head
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        raw.last_head
    );
    assert!(raw.closed_within(QUICK).await, "the rest is never read");
    assert_eq!(held(&server.admin(), DEV1).await, before, "nothing queued");
}
