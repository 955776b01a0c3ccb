//! Sessions over real loopback sockets: CONT and END, Package#3 on another
//! node, refusals with their statuses, expiry, concurrent sessions, limits.

use dm_test_support::server as common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use dm_server::{CommandState, MemoryStore, SessionOutcome, SessionSettings, Store as _};

#[tokio::test]
async fn full_session_with_cont_and_end() {
    let settings = SessionSettings::default().with_commands_per_package(2);
    let server = TestServer::start(options().session(settings).build().expect("options")).await;
    let admin = server.admin();
    let ids = [
        queue_get(&admin, "Man").await,
        queue_get(&admin, "Mod").await,
        queue_get(&admin, "Lang").await,
    ];
    let http = client();

    let response = post_package1(&http, &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], REQUEST);
    assert_eq!(response.headers()["omadm-accept"], MO_DATA);
    let package = commands(&response.bytes().await.expect("body"));
    let session_uri = cont_uri(&package);
    assert!(
        session_uri.starts_with(&format!("{}/dm/s/", server.base)),
        "{session_uri}"
    );
    assert_eq!(session_uri.len(), server.base.len() + "/dm/s/".len() + 32);
    assert_eq!(
        package[1..],
        [
            vec![
                "GET".to_owned(),
                "urn:oma:mo:oma-dm-devinfo:1.0//Man".to_owned()
            ],
            vec![
                "GET".to_owned(),
                "urn:oma:mo:oma-dm-devinfo:1.0//Mod".to_owned()
            ],
        ]
    );
    for id in &ids[..2] {
        let state = command_of(&admin, *id).await.state;
        assert_eq!(state, CommandState::Sent);
    }
    assert_eq!(command_of(&admin, ids[2]).await.state, CommandState::Queued);
    let device = admin.device(&dev(DEV1)).await.expect("device");
    assert!(device.open_session.is_some());
    let mos = device.mos.expect("inventory from Package#1");
    assert_eq!(mos[0].moid.as_str(), "urn:oma:mo:oma-dm-devinfo:1.0");

    // Package#3: CONT, GET Man with data, GET Mod not found.
    let first_answer = r#"{"Status":[{"sc":200},{"sc":200,"Data":[{"ClientURI":"urn:oma:mo:oma-dm-devinfo:1.0/devinfo/Man","MOData":{"Man":"Vendor"}}]},{"sc":404}]}"#;
    let response = post_package(&http, &session_uri, RESPONSE, DEV1, first_answer, BASIC1).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    assert_eq!(
        package,
        [vec![
            "GET".to_owned(),
            "urn:oma:mo:oma-dm-devinfo:1.0//Lang".to_owned()
        ]],
        "no second CONT"
    );
    let man = command_of(&admin, ids[0]).await;
    assert_eq!(man.state, CommandState::Done);
    let result = man.result.expect("status");
    assert_eq!(result.code.as_u16(), 200);
    assert_eq!(result.data.len(), 1);
    let model = command_of(&admin, ids[1]).await;
    assert_eq!(model.result.map(|s| s.code.as_u16()), Some(404));

    let response = post_p3(&http, &session_uri, &[200]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        commands(&response.bytes().await.expect("body")),
        [vec!["END".to_owned()]]
    );
    let lang = command_of(&admin, ids[2]).await;
    assert_eq!(lang.state, CommandState::Done);
    let device = admin.device(&dev(DEV1)).await.expect("device");
    assert_eq!(device.open_session, None);
    let last = device.last_session().expect("last session");
    assert_eq!(last.outcome, Some(SessionOutcome::Completed));
    assert_eq!(last.packages, 3);
    assert!(last.cont_sent);
    assert!(session_uri.ends_with(&last.token.to_string()));

    // The session is over: another Package#3 finds nothing.
    let response = post_p3(&http, &session_uri, &[]).await;
    assert_eq!(response.status(), 404);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_session_without_commands_ends_at_once() {
    let server = TestServer::start(options().build().expect("options")).await;
    let response = post_package1(&client(), &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
    let device = server.admin().device(&dev(DEV1)).await.expect("device");
    let last = device.last_session().expect("summary");
    assert_eq!(last.outcome, Some(SessionOutcome::Completed));
    assert!(!last.cont_sent);
}

#[tokio::test]
async fn package3_is_handled_by_a_second_server_sharing_the_store() {
    let store = Arc::new(MemoryStore::new());
    let first = TestServer::start_on(options().build().expect("options"), store.clone()).await;
    let second = TestServer::start_on(options().build().expect("options"), store.clone()).await;
    register_two(&first.admin()).await;
    let id = queue_get(&first.admin(), "Man").await;
    let http = client();

    let response = post_package1(&http, &first, DEV1, P1, DIGEST1).await;
    assert_eq!(response.status(), 200);
    let session_uri = cont_uri(&commands(&response.bytes().await.expect("body")));
    let path = session_uri
        .strip_prefix(&first.base)
        .expect("CONT points at the first node");

    // A Digest answer to the first node's challenge is accepted by the
    // second: nonces are checked with the key kept in the store.
    let challenge = post_package(&http, &first.url(path), RESPONSE, DEV1, "{}", Auth::None).await;
    assert_eq!(challenge.status(), 401);
    let challenge = digest_challenge(challenge.headers(), "SHA-256").expect("challenge");
    let body = p3(&[200, 200]);
    let authorization = digest_answer(&challenge, USER1, PASS1, "POST", path, body.as_bytes());
    let response = http
        .post(second.url(path))
        .header("Content-Type", RESPONSE)
        .header("OMADM-DevID", DEV1)
        .header("Authorization", authorization)
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
    let record = command_of(&second.admin(), id).await;
    assert_eq!(record.state, CommandState::Done);
    assert_eq!(store.open_sessions().await.expect("count"), 0);
    first.stop().await.expect("stop");
    second.stop().await.expect("stop");
}

#[tokio::test]
async fn refusals_have_their_statuses() {
    let server = TestServer::start(options().build().expect("options")).await;
    let http = client();
    let dm = server.url("/dm");

    // 415: neither Package#1 nor Package#3.
    let response = post_package(&http, &dm, "text/plain", DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 415);
    // 406: the client cannot read Package#2.
    let response = http
        .post(&dm)
        .basic_auth(USER1, Some(PASS1))
        .header("Content-Type", INITIATION)
        .header("Accept", "text/html")
        .header("OMADM-DevID", DEV1)
        .body(P1)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 406);
    // 400: no session-start alert; malformed JSON; no OMADM-DevID.
    for body in [r#"{"Alert":[]}"#, "{", ""] {
        let response = post_package(&http, &dm, INITIATION, DEV1, body, BASIC1).await;
        assert_eq!(response.status(), 400, "{body:?}");
    }
    let response = send(
        &http,
        reqwest::Method::POST,
        &dm,
        Some(INITIATION),
        None,
        P1.as_bytes(),
        BASIC1,
    )
    .await;
    assert_eq!(response.status(), 400);
    // 404: Package#3 to an unknown session, a malformed token, or at /dm
    // without an open session.
    let unknown = server.url("/dm/s/00112233445566778899aabbccddeeff");
    for url in [unknown, server.url("/dm/s/nope"), dm.clone()] {
        let response = post_p3(&http, &url, &[]).await;
        assert_eq!(response.status(), 404, "{url}");
    }
    // 405 for other methods.
    let response = http.get(&dm).send().await.expect("answer");
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn a_refused_package3_drops_the_session_and_fails_its_commands() {
    let server = TestServer::start(options().build().expect("options")).await;
    let http = client();
    for (body, content_type, status) in [
        (p3(&[200]), RESPONSE, 400), // CONT and GET need two statuses
        (p3(&[200, 200]), "application/json", 415), // wrong media type
        ("[".to_owned(), RESPONSE, 400), // not JSON
    ] {
        let (answered, session_uri, record) =
            package3_in_new_session(&server, content_type, &body).await;
        assert_eq!(answered, status, "{body}");
        assert_eq!(record.state, CommandState::Failed, "{body}");
        assert!(record.error.is_some());
        // The session is gone.
        let response = post_p3(&http, &session_uri, &[200, 200]).await;
        assert_eq!(response.status(), 404);
    }
}

#[tokio::test]
async fn package3_without_cont_is_correlated_by_device() {
    let server = TestServer::start(options().build().expect("options")).await;
    let id = queue_get(&server.admin(), "Man").await;
    let http = client();
    let dm = server.url("/dm");
    let response = post_package1(&http, &server, DEV1, P1, BASIC1).await;
    assert_eq!(commands(&response.bytes().await.expect("body")).len(), 2);
    // Device 2 has no open session.
    let other = post_package(&http, &dm, RESPONSE, DEV2, &p3(&[200, 200]), BASIC2).await;
    assert_eq!(other.status(), 404);
    let response = post_p3(&http, &dm, &[403, 200]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
    let record = command_of(&server.admin(), id).await;
    assert_eq!(record.state, CommandState::Done);
}

#[tokio::test]
async fn idle_sessions_expire_and_their_commands_fail() {
    let settings = SessionSettings::default()
        .with_idle_timeout(Duration::from_millis(150))
        .with_expiry_interval(Duration::from_millis(30));
    let server = TestServer::start(options().session(settings).build().expect("options")).await;
    let admin = server.admin();
    let id = queue_get(&admin, "Man").await;
    let http = client();
    let (session_uri, _) = open_session(&server).await;
    let mut state = CommandState::Sent;
    for _ in 0..100 {
        state = command_of(&admin, id).await.state;
        if state != CommandState::Sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        state,
        CommandState::Failed,
        "the background task expired it"
    );
    let record = command_of(&admin, id).await;
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("timeout")),
        "{:?}",
        record.error
    );
    let device = admin.device(&dev(DEV1)).await.expect("device");
    assert_eq!(device.open_session, None);
    assert_eq!(
        device.last_session().and_then(|s| s.outcome.clone()),
        Some(SessionOutcome::Timeout)
    );
    let response = post_p3(&http, &session_uri, &[200, 200]).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_late_package3_expires_the_session_itself() {
    // No background expiry within the test: the Package#3 finds the session
    // past its deadline.
    let settings = SessionSettings::default()
        .with_idle_timeout(Duration::from_millis(50))
        .with_expiry_interval(Duration::from_secs(3600));
    let server = TestServer::start(options().session(settings).build().expect("options")).await;
    let id = queue_get(&server.admin(), "Man").await;
    let http = client();
    let (session_uri, _) = open_session(&server).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    let response = post_p3(&http, &session_uri, &[200, 200]).await;
    assert_eq!(response.status(), 404);
    let record = command_of(&server.admin(), id).await;
    assert_eq!(record.state, CommandState::Failed);
}

#[tokio::test]
async fn a_second_session_leaves_the_first_one_open() {
    // A client may deliver an asynchronous report in a session of its own
    // while another one is open.
    let server = TestServer::start(options().build().expect("options")).await;
    let admin = server.admin();
    let first = queue_get(&admin, "Man").await;
    let http = client();
    let (first_uri, _) = open_session(&server).await;
    let second = queue_get(&admin, "Mod").await;
    let response = post_package1(&http, &server, DEV1, P1, BASIC1).await;
    let package = commands(&response.bytes().await.expect("body"));
    assert_eq!(package[1][1], "urn:oma:mo:oma-dm-devinfo:1.0//Mod");
    let second_uri = cont_uri(&package);
    assert_ne!(first_uri, second_uri);
    for (uri, id) in [(&first_uri, first), (&second_uri, second)] {
        let response = post_p3(&http, uri, &[200, 200]).await;
        assert_eq!(
            response.bytes().await.expect("body"),
            r#"{"CMD":[["END"]]}"#
        );
        let record = command_of(&admin, id).await;
        assert_eq!(record.state, CommandState::Done);
    }
    let device = admin.device(&dev(DEV1)).await.expect("device");
    assert_eq!(device.sessions.len(), 2, "both summaries are kept");
    assert!(
        device
            .sessions
            .iter()
            .all(|s| s.outcome == Some(SessionOutcome::Completed))
    );
}

#[tokio::test]
async fn too_many_open_sessions_is_503() {
    let limits = dm_server::ServerLimits::default().with_max_sessions(1);
    let server = TestServer::start(options().limits(limits).build().expect("options")).await;
    queue_get(&server.admin(), "Man").await;
    let http = client();
    let response = post_package1(&http, &server, DEV1, P1, BASIC1).await;
    assert_eq!(response.status(), 200);
    let response = post_package1(&http, &server, DEV2, P1, BASIC2).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "60");
}

#[tokio::test]
async fn concurrent_package1s_cannot_pass_the_session_limit_together() {
    const DEVICES: usize = 12;
    const LIMIT: usize = 3;
    let options = dm_server::ServerOptions::builder()
        .dev_mode(true)
        .limits(dm_server::ServerLimits::default().with_max_sessions(LIMIT))
        .build()
        .expect("options");
    let server = TestServer::start_on(options, MemoryStore::new()).await;
    let admin = server.admin();
    let ids: Vec<String> = (0..DEVICES).map(|i| format!("IMEI:77{i:04}")).collect();
    for id in &ids {
        admin
            .register_device(dm_server::DeviceRegistration::new(dev(id)), false)
            .await
            .expect("registered");
        admin.enqueue(&dev(id), get("Man")).await.expect("queued");
    }
    let url = server.url("/dm");
    let mut requests = tokio::task::JoinSet::new();
    for id in ids.clone() {
        let url = url.clone();
        requests.spawn(async move {
            post_package(&client(), &url, INITIATION, &id, P1, Auth::None)
                .await
                .status()
                .as_u16()
        });
    }
    let statuses: Vec<u16> = requests.join_all().await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        LIMIT,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        DEVICES - LIMIT,
        "{statuses:?}"
    );
    assert_eq!(
        server.server.store().open_sessions().await.expect("count"),
        LIMIT
    );
    // The refused devices' commands are still queued.
    let mut queued = 0;
    for id in &ids {
        let commands = admin.commands(&dev(id)).await.expect("commands");
        queued += usize::from(commands[0].state == CommandState::Queued);
    }
    assert_eq!(queued, DEVICES - LIMIT);
}

#[tokio::test]
async fn the_package_limit_ends_the_session_and_keeps_the_rest_queued() {
    let settings = SessionSettings::default()
        .with_commands_per_package(1)
        .with_packages_per_session(2);
    let server = TestServer::start(options().session(settings).build().expect("options")).await;
    let admin = server.admin();
    let first = queue_get(&admin, "Man").await;
    let second = queue_get(&admin, "Mod").await;
    let http = client();
    let (session_uri, _) = open_session(&server).await;
    let response = post_p3(&http, &session_uri, &[200, 200]).await;
    assert_eq!(
        response.bytes().await.expect("body"),
        r#"{"CMD":[["END"]]}"#
    );
    assert_eq!(command_of(&admin, first).await.state, CommandState::Done);
    assert_eq!(
        command_of(&admin, second).await.state,
        CommandState::Queued,
        "left for the next session"
    );
}

#[tokio::test]
async fn alerts_and_the_notification_address_are_recorded() {
    let server = TestServer::start(options().build().expect("options")).await;
    let p1 = r#"{"Alert":[{"AlertType":"urn:oma:at:dm:2.0:ClientInitiatedMgmt"},{"AlertType":"urn:dm-sdk:at:1.0:NotificationAddress","Data":{"Address":"udp://127.0.0.1:9443"}},{"AlertType":"urn:oma:at:dm:2.0:ExecComplete","SourceURI":"urn:x:y//Reboot","Data":{"sc":200}}]}"#;
    let response = post_package1(&client(), &server, DEV1, p1, BASIC1).await;
    assert_eq!(response.status(), 200);
    let admin = server.admin();
    let device = admin.device(&dev(DEV1)).await.expect("device");
    assert_eq!(
        device.notification_address.as_deref(),
        Some("udp://127.0.0.1:9443")
    );
    assert_eq!(device.mos, None, "no MOS member");
    let alerts = admin.alerts(&dev(DEV1)).await.expect("alerts");
    let types: Vec<&str> = alerts.iter().map(|a| a.alert.alert_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "urn:dm-sdk:at:1.0:NotificationAddress",
            "urn:oma:at:dm:2.0:ExecComplete"
        ]
    );
    assert!(alerts.iter().all(|a| a.session.is_some()));
}

/// The same Package#3 posted twice at once: whichever way the two requests
/// interleave (one wins and the other gets 409, or the second comes after
/// the first and is refused as an invalid Package#3), no command is left
/// `sent` outside the session's record, and the session can be finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package3_posted_twice_at_once_strands_no_command() {
    const ROUNDS: usize = 20;
    let mut outcomes = std::collections::BTreeMap::<[u16; 2], usize>::new();
    for _ in 0..ROUNDS {
        let settings = SessionSettings::default().with_commands_per_package(1);
        let server = TestServer::start(options().session(settings).build().expect("options")).await;
        let admin = server.admin();
        let ids = [
            queue_get(&admin, "Man").await,
            queue_get(&admin, "Mod").await,
            queue_get(&admin, "Lang").await,
        ];
        let (uri, sent) = open_session(&server).await;
        let post = || {
            let uri = uri.clone();
            tokio::spawn(async move {
                post_p3(&client(), &uri, &vec![200; sent])
                    .await
                    .status()
                    .as_u16()
            })
        };
        let (a, b) = (post(), post());
        let mut statuses = [a.await.expect("sent"), b.await.expect("sent")];
        statuses.sort_unstable();
        assert!(
            matches!(statuses, [200, 400 | 409]),
            "one request wins: {statuses:?}"
        );
        *outcomes.entry(statuses).or_default() += 1;

        // Every `sent` command is awaited by the open session.
        let store = server.server.store();
        let open = admin.device(&dev(DEV1)).await.expect("device").open_session;
        let record = match open {
            Some(token) => store.session(token).await.expect("read"),
            None => None,
        };
        for id in ids {
            let command = command_of(&admin, id).await;
            if command.state == CommandState::Sent {
                assert!(
                    record.as_ref().is_some_and(|r| r
                        .state
                        .sent()
                        .iter()
                        .any(|(tag, _)| *tag == Some(id))),
                    "{statuses:?}: {command:?} is sent outside the session"
                );
            }
        }
        // A won race goes on to its end; a refused duplicate dropped it.
        if statuses[1] == 409 {
            let mut record = record.expect("the session goes on");
            loop {
                let response =
                    post_p3(&client(), &uri, &vec![200; record.state.sent().len()]).await;
                assert_eq!(response.status(), 200);
                let package = commands(&response.bytes().await.expect("body"));
                if package.iter().any(|c| c[0] == "END") {
                    break;
                }
                record = store
                    .session(record.token)
                    .await
                    .expect("read")
                    .expect("open");
            }
            for id in ids {
                assert_eq!(command_of(&admin, id).await.state, CommandState::Done);
            }
        } else {
            assert_eq!(open, None, "an invalid Package#3 drops the session");
            for id in ids {
                let state = command_of(&admin, id).await.state;
                assert_ne!(state, CommandState::Sent, "{id:?}");
            }
        }
    }
    // How the rounds interleaved (both ways are correct).
    println!("{outcomes:?}");
}

/// The same last Package#3 (answered with END) posted twice at once: one
/// request ends the session, the other is 409 (it read the session before
/// the first saved it) or 404 (it came after the session ended) — never a
/// second END for one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_package3_posted_twice_at_once_ends_the_session_once() {
    const ROUNDS: usize = 200;
    let mut outcomes = std::collections::BTreeMap::<[u16; 2], usize>::new();
    for _ in 0..ROUNDS {
        let server = TestServer::start(options().build().expect("options")).await;
        let admin = server.admin();
        let id = queue_get(&admin, "Man").await;
        let (uri, sent) = open_session(&server).await;
        let post = || {
            let uri = uri.clone();
            tokio::spawn(async move {
                post_p3(&client(), &uri, &vec![200; sent])
                    .await
                    .status()
                    .as_u16()
            })
        };
        let (a, b) = (post(), post());
        let mut statuses = [a.await.expect("sent"), b.await.expect("sent")];
        statuses.sort_unstable();
        assert!(
            matches!(statuses, [200, 404 | 409]),
            "one request ends the session: {statuses:?}"
        );
        *outcomes.entry(statuses).or_default() += 1;
        assert_eq!(command_of(&admin, id).await.state, CommandState::Done);
        let device = admin.device(&dev(DEV1)).await.expect("device");
        assert_eq!(device.open_session, None);
        assert_eq!(device.sessions.len(), 1);
        assert_eq!(device.sessions[0].outcome, Some(SessionOutcome::Completed));
    }
    // How the rounds interleaved (both ways are correct).
    println!("{outcomes:?}");
}
