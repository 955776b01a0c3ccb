//! Sessions over real loopback HTTP: a server driven by
//! `dm_session::ServerSession`, scripted servers for the error paths,
//! authentication and retries.

use dm_test_support::device as common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use dm_client::{AbortReason, ClientEnd, Credentials, TransportFailure};
use dm_session::{PackageRequest, ServerConfig, ServerEvent, ServerSession};
use dm_types::{Command, ServerUri};

/// Unix milliseconds of the server engine's "now".
const NOW_MS: u64 = 1_764_000_000_000;

/// The server side of the first test: one `ServerSession` at a time,
/// commands queued by tag, and a repository.
struct Engine {
    base: OnceLock<String>,
    session: Mutex<Option<ServerSession<usize>>>,
    results: Mutex<Vec<(usize, u16, String)>>,
    repository: Mutex<HashMap<String, Vec<u8>>>,
    commands: Vec<Vec<String>>,
}

impl Engine {
    fn answer(&self, seen: &Seen) -> Reply {
        let base = self.base.get().cloned().unwrap_or_default();
        let request = PackageRequest {
            content_type: seen.header("content-type"),
            dev_id: seen.header("omadm-devid"),
            authenticated: None,
            body: &seen.body,
        };
        let mut slot = self.session.lock().expect("lock");
        if seen.method == "POST" && seen.target == "/dm" {
            let config = ServerConfig::default()
                .with_commands_per_package(2)
                .with_session_uri(ServerUri::new(format!("{base}/dm/s/token1")).expect("uri"));
            let mut session = match ServerSession::start(config, &request, NOW_MS) {
                Ok(session) => session,
                Err(e) => return Reply::status(e.status().as_u16()),
            };
            for (tag, words) in self.commands.iter().enumerate() {
                let words: Vec<String> = words.iter().map(|w| w.replace("{base}", &base)).collect();
                session.enqueue(tag, Command::from_words(&words).expect("command"));
            }
            let body = session.respond(NOW_MS);
            *slot = Some(session);
            return Reply::package(String::from_utf8(body).expect("utf-8"))
                .header("Set-Cookie", "sid=s3ss10n; Path=/; HttpOnly");
        }
        if seen.method == "POST" && seen.target == "/dm/s/token1" {
            let Some(session) = slot.as_mut() else {
                return Reply::status(404);
            };
            if let Err(e) = session.handle_package3(&request, NOW_MS) {
                return Reply::status(e.status().as_u16());
            }
            while let Some(event) = session.poll_event() {
                if let ServerEvent::Result { tag, status, .. } = event {
                    let data = dm_codec::encode_mo_serialization(&status.data);
                    self.results.lock().expect("lock").push((
                        tag,
                        status.code.as_u16(),
                        String::from_utf8(data).expect("utf-8"),
                    ));
                }
            }
            let body = session.respond(NOW_MS);
            return Reply::package(String::from_utf8(body).expect("utf-8"));
        }
        let path = seen.target.trim_start_matches("/repo/").to_owned();
        if seen.method == "GET" {
            return match self.repository.lock().expect("lock").get(&path) {
                Some(body) => Reply::mo_data(String::from_utf8(body.clone()).expect("utf-8")),
                None => Reply::status(404),
            };
        }
        self.repository
            .lock()
            .expect("lock")
            .insert(path, seen.body.clone());
        // A 32 KiB acknowledgement, longer than what arrives with the head:
        // the client reads and drops it, keeping its connection.
        Reply::status(200).body(vec![b'x'; 32 * 1024])
    }
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

#[tokio::test]
async fn a_session_with_cont_repository_requests_and_change_reports() {
    let engine = Arc::new(Engine {
        base: OnceLock::new(),
        session: Mutex::new(None),
        results: Mutex::new(Vec::new()),
        repository: Mutex::new(HashMap::from([
            (
                "wlan".to_owned(),
                br#"[{"ClientURI":"urn:x:wlan:1.0//","MOData":{"WLAN":{"SSID":"office","Hidden":false}}}]"#.to_vec(),
            ),
            (
                "ssid".to_owned(),
                br#"[{"ClientURI":"urn:x:wlan:1.0/*/SSID","MOData":{"SSID":"office-5g"}}]"#.to_vec(),
            ),
        ])),
        commands: vec![
            words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//DevID"]),
            words(&["HGET", "{base}/repo/wlan"]),
            words(&["SUB", "urn:x:wlan:1.0/*/", "{base}/repo/reports"]),
            words(&["HGET", "{base}/repo/ssid", "urn:x:wlan:1.0/*/SSID"]),
            words(&["HPUT", "{base}/repo/up", "urn:x:wlan:1.0/*/"]),
            words(&["HPOST", "{base}/repo/post", "urn:oma:mo:oma-dm-devinfo:1.0//"]),
            words(&["GET", "urn:x:absent:1.0//"]),
        ],
    });
    let handler = engine.clone();
    let server = serve(move |seen| handler.answer(seen)).await;
    engine.base.set(server.base.clone()).expect("set once");

    let mut client = client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Completed, "{report}");
    assert_eq!(report.commands, 7 + 1, "seven commands and CONT");
    assert!(report.tree_changed);
    // The engine's counts: the four repository requests, the change report
    // of the SUB after the second HGET, every command answered.
    assert_eq!(report.stats.commands_received, report.commands);
    assert_eq!(report.stats.commands_answered, report.commands);
    assert_eq!(report.stats.packages_received, report.packages);
    assert_eq!(report.stats.packages_sent, report.packages);
    assert_eq!(report.stats.repository_requests, 4);
    assert_eq!(report.stats.change_reports, 1);
    assert_eq!(report.stats.failures, 0);
    // Every answer is read to its end (the uploads' and the change
    // report's too), so the whole session runs on one keep-alive
    // connection.
    let connections: std::collections::BTreeSet<usize> = server
        .requests()
        .iter()
        .map(|seen| seen.connection)
        .collect();
    assert_eq!(connections.len(), 1, "{connections:?}");

    let mut results = engine.results.lock().expect("lock").clone();
    results.sort();
    let codes: Vec<u16> = results.iter().map(|r| r.1).collect();
    assert_eq!(codes, [200, 200, 200, 200, 200, 200, 404]);
    assert!(results[0].2.contains(DEV_ID), "{}", results[0].2);

    // Package#1 to SrvURI, every Package#3 to the CONT URI, with the cookie.
    let packages: Vec<Seen> = server
        .requests()
        .into_iter()
        .filter(Seen::is_package)
        .collect();
    assert_eq!(packages[0].target, "/dm");
    assert_eq!(
        packages[0].header("content-type"),
        Some("application/vnd.oma.dm.initiation+json")
    );
    assert_eq!(
        alert_types(&packages[0]),
        ["urn:oma:at:dm:2.0:ClientInitiatedMgmt"]
    );
    assert!(packages.len() >= 4);
    for package in &packages[1..] {
        assert_eq!(package.target, "/dm/s/token1");
        assert_eq!(
            package.header("content-type"),
            Some("application/vnd.oma.dm.response+json")
        );
        assert_eq!(package.header("cookie"), Some("sid=s3ss10n"));
    }
    for seen in server.requests() {
        assert_eq!(
            seen.header("omadm-devid"),
            Some(DEV_ID),
            "{} {}",
            seen.method,
            seen.target
        );
        let accept = seen.header("accept").unwrap_or_default();
        if seen.is_package() {
            assert_eq!(accept, PACKAGE2);
        } else {
            assert_eq!(accept, MO_DATA);
        }
        if seen.method != "GET" && !seen.is_package() {
            assert_eq!(seen.header("content-type"), Some(MO_DATA));
        }
    }

    // The repository got the uploads and the change report of the second HGET.
    let repository = engine.repository.lock().expect("lock").clone();
    let upload = String::from_utf8(repository["up"].clone()).expect("utf-8");
    assert!(
        upload.contains("office-5g") && upload.contains("urn:x:wlan:1.0/1/"),
        "{upload}"
    );
    assert!(String::from_utf8_lossy(&repository["post"]).contains("DevInfo"));
    let report_put = server.requests_to("/repo/reports");
    assert_eq!(report_put.len(), 1, "one change report");
    assert_eq!(report_put[0].method, "PUT");
    assert!(
        report_put[0].text().contains("office-5g"),
        "{}",
        report_put[0].text()
    );

    // The tree holds the new instance with the second value.
    let (status, nodes) = client.tree().resolve_str("urn:x:wlan:1.0/1/SSID");
    assert_eq!((status.as_u16(), nodes.len()), (200, 1));
    // SessionInfo lives only during the session.
    assert_eq!(
        client
            .tree()
            .resolve_str("urn:oma:mo:oma-sessioninfomo:1.0//")
            .0
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn session_info_and_the_mo_list_go_to_the_server() {
    let server = serve(|seen| {
        first_then_end(
            seen,
            r#"{"CMD":[["GET","urn:oma:mo:oma-sessioninfomo:1.0//Initiator"]]}"#,
        )
    })
    .await;
    let mut client = client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    let packages = server.requests();
    let mos = packages[0].json()["MOS"].to_string();
    assert!(
        mos.contains("urn:oma:mo:oma-dm-devinfo:1.0") && mos.contains("sessioninfo"),
        "{mos}"
    );
    assert_eq!(statuses(&packages[1]), [200]);
    assert!(
        packages[1].text().contains(r#"{"Initiator":"Client"}"#),
        "{}",
        packages[1].text()
    );
}

#[tokio::test]
async fn http_errors_abort_without_retry() {
    let server = serve(|_| Reply::status(500)).await;
    let mut client = client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Refused(500));
    assert_eq!(server.requests().len(), 1, "a 500 is never retried");

    // The same for a Package#3, and for a 3xx (redirects are not followed).
    let server = serve(|seen| {
        if seen.is_package1() {
            Reply::package(GET_MAN)
        } else {
            Reply::status(307).header("Location", "http://127.0.0.1:9/elsewhere")
        }
    })
    .await;
    let mut client = common::client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Refused(307));
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn package1_is_retried_after_connection_refused() {
    // Reserve a port, free it, and start the server there a little later.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        serve_on(port, None, Arc::new(|_: &Seen| Reply::package(END))).await
    });
    let transport = dm_client::Transport::builder()
        .backend(test_backend())
        .retry(fast_retry(20))
        .build()
        .expect("transport");
    let mut client = client_over(&base, Credentials::None, transport);
    let started = Instant::now();
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let server = late.await.expect("server task");
    assert_eq!(
        server.requests().len(),
        1,
        "the refused tries never reached it"
    );

    // Nobody listening at all: the retries run out and the session aborts.
    drop(server);
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let mut client = common::client(&format!("http://127.0.0.1:{port}"), Credentials::None);
    let report = client_initiated(&mut client).await;
    assert!(
        matches!(&report.end, ClientEnd::Aborted(reason @ AbortReason::NoAnswer { kind: TransportFailure::Connect, .. }) if reason.to_string().starts_with("no answer: POST")),
        "{report}"
    );
}

#[tokio::test]
async fn a_package3_whose_delivery_is_uncertain_is_not_replayed() {
    let server = serve(|seen| {
        if seen.is_package1() {
            Reply::package(GET_MAN)
        } else {
            Reply::hang_up()
        }
    })
    .await;
    let mut client = client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert!(matches!(report.end, ClientEnd::Aborted(_)), "{report}");
    assert_eq!(server.requests().len(), 2, "Package#3 was sent once");
}

#[tokio::test]
async fn a_repository_that_drops_the_connection_is_retried_for_get_only() {
    let tries = Arc::new(Mutex::new(0));
    let counter = tries.clone();
    let server = serve(move |seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("POST", "/dm") if seen.is_package1() => Reply::package(format!(
            r#"{{"CMD":[["HGET","{base}/repo/a"],["HPOST","{base}/repo/b","urn:oma:mo:oma-dm-devinfo:1.0//Man"]]}}"#,
            base = seen.header("host").map(|h| format!("http://{h}")).unwrap_or_default()
        )),
        ("GET", _) => {
            let mut tries = counter.lock().expect("lock");
            *tries += 1;
            if *tries == 1 {
                Reply::hang_up()
            } else {
                Reply::mo_data(r#"[{"ClientURI":"urn:x:a:1.0//","MOData":{"A":{"v":1}}}]"#)
            }
        }
        ("POST", "/repo/b") => Reply::hang_up(),
        _ => Reply::package(END),
    })
    .await;
    let mut client = client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    assert_eq!(server.requests_to("/repo/a").len(), 2, "GET retried once");
    assert_eq!(server.requests_to("/repo/b").len(), 1, "POST not retried");
    let package3 = server.requests_to("/dm").pop().expect("Package#3");
    assert_eq!(statuses(&package3), [200, 502]);
}

#[tokio::test]
async fn a_basic_challenge_is_answered_once_then_reused() {
    // A Basic-only server.
    let server = serve(with_basic(|seen| first_then_end(seen, GET_MAN))).await;
    let credentials = Credentials::password("device-1", "open sesame");
    let mut client = client(&server.base, credentials);
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    let seen = server.requests();
    assert_eq!(
        seen.len(),
        3,
        "Package#1, its answer to the challenge, Package#3"
    );
    assert_eq!(seen[0].header("authorization"), None);
    assert!(seen[1].header("authorization").is_some() && seen[2].header("authorization").is_some());

    // Wrong password: the second 401 aborts.
    let mut client = common::client(&server.base, Credentials::password("device-1", "wrong"));
    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Refused(401));
    assert_eq!(server.requests().len(), 3 + 2);

    // No credentials: the first 401 aborts.
    let mut client = common::client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Refused(401));
    assert_eq!(server.requests().len(), 5 + 1);
}

/// Parses `k=v, k="v"` auth-params.
fn params(header: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    let rest = header.trim_start_matches("Digest").trim();
    let mut remaining = rest;
    while !remaining.is_empty() {
        let Some((key, after)) = remaining.split_once('=') else {
            break;
        };
        let key = key.trim().trim_start_matches(',').trim().to_owned();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (
                quoted[..end].to_owned(),
                &quoted[(end + 1).min(quoted.len())..],
            )
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        map.insert(key, value);
        remaining = next.trim_start_matches(',').trim();
    }
    map
}

fn hex_sha256(text: &str) -> String {
    dm_codec::hex::encode(&sha256(text.as_bytes()))
}

/// A Digest server (RFC 7616, SHA-256 verified; the MD5 challenge is offered
/// first to check the client prefers SHA-256). Records the nc values.
fn digest_server(seen: &Seen, ncs: &Mutex<Vec<String>>) -> Reply {
    let challenge = Reply::status(401)
        .header(
            "WWW-Authenticate",
            r#"Digest realm="dm", qop="auth", algorithm=MD5, nonce="n0nce", opaque="op""#,
        )
        .header(
            "WWW-Authenticate",
            r#"Digest realm="dm", qop="auth", algorithm=SHA-256, nonce="n0nce", opaque="op""#,
        )
        .header("WWW-Authenticate", r#"Basic realm="dm""#);
    let Some(header) = seen.header("authorization") else {
        return challenge;
    };
    let p = params(header);
    if p.get("algorithm").map(String::as_str) != Some("SHA-256") {
        return challenge;
    }
    let ha1 = hex_sha256("device-2:dm:pa55");
    let ha2 = hex_sha256(&format!("{}:{}", seen.method, p["uri"]));
    let expected = hex_sha256(&format!(
        "{ha1}:n0nce:{}:{}:auth:{ha2}",
        p["nc"], p["cnonce"]
    ));
    if p["response"] != expected || p["uri"] != seen.target || p["username"] != "device-2" {
        return challenge;
    }
    ncs.lock().expect("lock").push(p["nc"].clone());
    first_then_end(seen, GET_MAN)
}

#[tokio::test]
async fn a_digest_challenge_is_answered_with_sha256_and_the_nonce_reused() {
    let ncs = Arc::new(Mutex::new(Vec::new()));
    let log = ncs.clone();
    let server = serve(move |seen| digest_server(seen, &log)).await;
    let mut client = client(&server.base, Credentials::password("device-2", "pa55"));
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    assert_eq!(server.requests().len(), 3);
    assert_eq!(*ncs.lock().expect("lock"), ["00000001", "00000002"]);

    // Digest only, wrong password: answered once, then aborted.
    let mut client = common::client(
        &server.base,
        Credentials::Digest {
            username: "device-2".into(),
            password: "nope".into(),
        },
    );
    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Refused(401));
    assert_eq!(server.requests().len(), 3 + 2);
}

#[tokio::test]
async fn credentials_never_travel_to_another_origin() {
    let repository = serve(|seen| {
        if seen.header("authorization").is_some() {
            Reply::mo_data("[]")
        } else {
            Reply::status(401).header("WWW-Authenticate", r#"Basic realm="repo""#)
        }
    })
    .await;
    let elsewhere = repository.base.clone();
    let hget = format!(r#"{{"CMD":[["HGET","{elsewhere}/x"]]}}"#);
    let server = serve(with_basic(move |seen| first_then_end(seen, &hget))).await;
    let mut client = client(
        &server.base,
        Credentials::password("device-1", "open sesame"),
    );
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    let seen = repository.requests();
    assert_eq!(
        seen.len(),
        1,
        "the other origin's challenge is not answered"
    );
    assert_eq!(seen[0].header("authorization"), None);
    let package3 = server.requests().pop().expect("Package#3");
    assert_eq!(statuses(&package3), [502]);
}

#[tokio::test]
async fn an_oversized_or_invalid_package2_aborts_precisely() {
    let server = serve(|_| {
        Reply::package(format!(
            r#"{{"CMD":[["SHOW","http://x.example/{}"]]}}"#,
            "a".repeat(4096)
        ))
    })
    .await;
    let mut client = builder(&server.base, Credentials::None, None)
        .limits(dm_codec::Limits::default().with_package_bytes(1024))
        .build()
        .expect("client");
    let report = client_initiated(&mut client).await;
    assert!(
        matches!(
            &report.end,
            ClientEnd::Aborted(AbortReason::PackageTooLarge { limit: 1024 })
        ),
        "{report}"
    );
    let server = serve(|_| Reply::package(r#"{"CMD":[["END"],["END"]]}"#)).await;
    let mut client = common::client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert!(
        matches!(
            &report.end,
            ClientEnd::Aborted(AbortReason::InvalidPackage(_))
        ),
        "{report}"
    );
}
