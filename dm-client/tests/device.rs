//! What a device does around sessions: notifications (also over a real UDP
//! socket), asynchronous EXEC results, DEFAULT fetches, local changes with
//! change reports, and the state file.

use dm_test_support::device as common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use dm_client::{
    ClientEvent, Configuration, Credentials, DmClient, Error, ExecCompletion, Ignored,
    NotificationOutcome,
};
use dm_codec::notification::{self, Replay};
use dm_tree::{ExecOutcome, MoTree, NodeHandler, NotificationAuth};
use dm_types::{ClientUri, ConnectionType, LeafValue, Moid, Notification, StatusCode};

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn signed(id: u16, timestamp: u64, key: &[u8]) -> Vec<u8> {
    let mut n = Notification::new(server_id(), ConnectionType::Wlan);
    n.notification_id = Some(id);
    n.timestamp = Some(timestamp);
    notification::encode_signed(&n, key, b"auth-data").expect("signed")
}

fn noti() -> NotificationAuth {
    NotificationAuth::sha256(b"key".to_vec(), b"auth-data".to_vec())
}

/// A client for the server at `base` keeping its state in `state`.
fn stateful(base: &str, state: &std::path::Path, noti: Option<NotificationAuth>) -> DmClient {
    builder(base, Credentials::None, noti)
        .state_file(state)
        .build()
        .expect("client")
}

#[tokio::test]
async fn verified_notifications_open_a_session_and_others_are_ignored() {
    let server = serve(|_| Reply::package(END)).await;
    let dir = scratch("notifications");
    let state = dir.join("device.json");
    let mut client = stateful(&server.base, &state, Some(noti()));
    let now = SystemTime::now();
    let outcome = notified(&mut client, &signed(7, unix(now), b"key"), now).await;
    let NotificationOutcome::Session(report) = outcome else {
        panic!("a session: {outcome:?}");
    };
    assert!(report.completed(), "{report}");
    let package1 = &server.requests()[0];
    assert_eq!(
        alert_types(package1),
        ["urn:oma:at:dm:2.0:ServerInitiatedMgmt"]
    );
    assert_eq!(package1.json()["Alert"][0]["Data"]["NotificationID"], 7);

    let ignored = |outcome: NotificationOutcome| match outcome {
        NotificationOutcome::Ignored(reason) => reason,
        other => panic!("ignored: {other:?}"),
    };
    let replay = notified(&mut client, &signed(7, unix(now), b"key"), now).await;
    assert_eq!(
        ignored(replay),
        Ignored::Replay(Replay::Duplicate { id: 7 })
    );
    let forged = notified(&mut client, &signed(8, unix(now), b"guess"), now).await;
    assert_eq!(ignored(forged), Ignored::InvalidDigest);
    let stale = notified(&mut client, &signed(9, unix(now) - 3600, b"key"), now).await;
    assert_eq!(
        ignored(stale),
        Ignored::Replay(Replay::TooOld { age_secs: 3600 })
    );
    let garbage = notified(&mut client, b"\x11", now).await;
    assert!(matches!(ignored(garbage), Ignored::Malformed(_)));
    assert_eq!(
        server.requests().len(),
        1,
        "ignored notifications send nothing"
    );

    // The replay window survives a restart.
    drop(client);
    let mut client = stateful(&server.base, &state, Some(noti()));
    let replay = notified(&mut client, &signed(7, unix(now), b"key"), now).await;
    assert_eq!(
        ignored(replay),
        Ignored::Replay(Replay::Duplicate { id: 7 })
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_notification_over_udp_and_the_notification_address() {
    let server = Arc::new(serve(|_| Reply::package(END)).await);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = socket.local_addr().expect("address");
    let mut client = builder(&server.base, Credentials::None, Some(noti()))
        .notification_address(format!("udp://{address}"))
        .build()
        .expect("client");
    let watcher = server.clone();
    let stop = async move {
        let sender = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        sender
            .send_to(&signed(1, unix(SystemTime::now()), b"guess"), address)
            .await
            .expect("send");
        sender
            .send_to(&signed(2, unix(SystemTime::now()), b"key"), address)
            .await
            .expect("send");
        for _ in 0..100 {
            if !watcher.requests().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), client.listen_udp(&socket, stop))
        .await
        .expect("in time")
        .expect("listened");
    let seen = server.requests();
    assert_eq!(
        seen.len(),
        1,
        "only the genuine notification opened a session"
    );
    let package1 = seen[0].json();
    assert_eq!(package1["Alert"][0]["Data"]["NotificationID"], 2);
    let announced = &package1["Alert"][1];
    assert_eq!(
        announced["AlertType"],
        "urn:dm-sdk:at:1.0:NotificationAddress"
    );
    assert_eq!(announced["Data"]["Address"], format!("udp://{address}"));
    assert_eq!(announced["TargetURI"], format!("udp://{address}"));
}

#[tokio::test]
async fn notifications_handed_in_through_a_channel() {
    let server = Arc::new(serve(|_| Reply::package(END)).await);
    let mut client = builder(&server.base, Credentials::None, Some(noti()))
        .build()
        .expect("client");
    let (sender, mut notifications) = tokio::sync::mpsc::channel(4);
    sender
        .send(signed(1, unix(SystemTime::now()), b"guess"))
        .await
        .expect("send");
    sender
        .send(signed(2, unix(SystemTime::now()), b"key"))
        .await
        .expect("send");
    // Every sender gone: the listener returns once the channel is drained.
    drop(sender);
    tokio::time::timeout(
        Duration::from_secs(5),
        client.listen_channel(&mut notifications, std::future::pending()),
    )
    .await
    .expect("in time")
    .expect("listened");
    let seen = server.requests();
    assert_eq!(
        seen.len(),
        1,
        "only the genuine notification opened a session"
    );
    assert_eq!(seen[0].json()["Alert"][0]["Data"]["NotificationID"], 2);

    // A shutdown stops a listener whose channel is still open.
    let (_sender, mut notifications) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    tokio::time::timeout(
        Duration::from_secs(5),
        client.listen_channel(&mut notifications, std::future::ready(())),
    )
    .await
    .expect("in time")
    .expect("listened");
}

/// Answers EXEC with Started and reports 200 a little later.
struct Rebooter {
    completion: Mutex<Option<ExecCompletion>>,
}

impl NodeHandler for Rebooter {
    fn exec(
        &self,
        node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        let completion = self.completion.lock().expect("lock").clone();
        let node = node.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            if let Some(completion) = completion {
                completion.finished(node, StatusCode::OK);
            }
        });
        ExecOutcome::Started
    }
}

/// A device MO `urn:x:demo:1.0` (Reboot, Status) on which the test server
/// holds Read and Exec.
fn demo_tree() -> MoTree {
    tree_of(
        r#"[{"ClientURI":"urn:x:demo:1.0/demo/","MOData":{"Demo":{"Reboot":"","Status":"idle"}}},
             {"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0/d1/","MOData":{"DACMO":{"MOID":"urn:x:demo:1.0","MIID":"demo",
              "ACL":{"1":{"ServerID":"dm.test","Rights":"Read,Exec"}}}}}]"#,
    )
}

#[tokio::test]
async fn asynchronous_exec_results_are_delivered_in_new_sessions() {
    let server = serve(|seen| {
        let base = format!("http://{}", seen.header("host").unwrap_or_default());
        if seen.is_package1() && alert_types(seen).len() == 1 {
            Reply::package(format!(
                r#"{{"CMD":[["EXEC","urn:x:demo:1.0//Reboot","{base}/report"],["EXEC","urn:x:demo:1.0/demo/Reboot"]]}}"#
            ))
        } else {
            Reply::package(END)
        }
    })
    .await;
    let dir = scratch("exec");
    let state = dir.join("device.json");
    let mut client = builder(&server.base, Credentials::None, None)
        .tree(demo_tree())
        .state_file(&state)
        .build()
        .expect("client");
    let rebooter = Arc::new(Rebooter {
        completion: Mutex::new(Some(client.exec_completion())),
    });
    client.set_handler(Moid::new("urn:x:demo:1.0").expect("moid"), rebooter);
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    assert_eq!(statuses(&server.requests()[1]), [202, 202]);
    let started: Vec<&ClientEvent> = report
        .events
        .iter()
        .filter(|e| matches!(e, ClientEvent::ExecStarted { .. }))
        .collect();
    assert_eq!(started.len(), 2);
    assert_eq!(client.running_execs().len(), 2);

    let node = ClientUri::parse("urn:x:nothing:1.0/a/b").expect("uri");
    assert!(matches!(
        client.exec_finished(&node, StatusCode::OK),
        Err(Error::NoRunningExec(_))
    ));

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.take_exec_completions().expect("recorded"), 2);
    assert_eq!(client.pending_reports(), 2);
    // Pending results survive a restart.
    let reloaded = stateful(&server.base, &state, None);
    assert_eq!(reloaded.pending_reports(), 2);
    drop(reloaded);

    let reports = client.deliver_pending_reports().await.expect("delivered");
    assert_eq!(reports.len(), 2);
    assert!(
        reports
            .iter()
            .all(|r| r.completed() && r.alerts_delivered == 1)
    );
    assert_eq!(client.pending_reports(), 0);
    let deliveries: Vec<Seen> = server
        .requests()
        .into_iter()
        .filter(|s| s.is_package1() && alert_types(s).len() == 2)
        .collect();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(
        deliveries[0].target, "/report",
        "EXEC with a ServerURI reports there"
    );
    assert_eq!(
        deliveries[1].target, "/dm",
        "EXEC without one reports to SrvURI"
    );
    for delivery in &deliveries {
        let alert = &delivery.json()["Alert"][1];
        assert_eq!(
            alert_types(delivery)[0],
            "urn:oma:at:dm:2.0:ClientInitiatedMgmt"
        );
        assert_eq!(alert["AlertType"], "urn:oma:at:dm:2.0:ExecComplete");
        assert_eq!(alert["Data"]["sc"], 200);
    }
    assert_eq!(
        deliveries[0].json()["Alert"][1]["SourceURI"],
        "urn:x:demo:1.0//Reboot"
    );
    assert_eq!(
        deliveries[1].json()["Alert"][1]["SourceURI"],
        "urn:x:demo:1.0/demo/Reboot"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_failed_delivery_keeps_the_result_pending() {
    let server = serve(|seen| {
        if seen.is_package1() && alert_types(seen).len() == 1 {
            Reply::package(r#"{"CMD":[["EXEC","urn:x:demo:1.0//Reboot"]]}"#)
        } else if seen.is_package1() {
            Reply::status(503)
        } else {
            Reply::package(END)
        }
    })
    .await;
    let mut client = builder(&server.base, Credentials::None, None)
        .tree(demo_tree())
        .build()
        .expect("client");
    client.set_handler(
        Moid::new("urn:x:demo:1.0").expect("moid"),
        Arc::new(Rebooter {
            completion: Mutex::new(None),
        }),
    );
    client_initiated(&mut client).await;
    let node = ClientUri::parse("urn:x:demo:1.0/demo/Reboot").expect("uri");
    client
        .exec_finished(&node, StatusCode::INTERNAL_ERROR)
        .expect("recorded");
    let reports = client.deliver_pending_reports().await.expect("tried");
    assert!(!reports[0].completed());
    assert_eq!(client.pending_reports(), 1, "kept for a later try");
}

#[tokio::test]
async fn default_uris_are_stored_and_fetched_when_needed() {
    let server = serve(|seen| {
        let base = format!("http://{}", seen.header("host").unwrap_or_default());
        match (seen.method.as_str(), seen.target.as_str()) {
            ("GET", "/repo/vpn") => Reply::mo_data(
                r#"[{"ClientURI":"urn:x:vpn:1.0//","MOData":{"VPN":{"Gateway":"vpn.example","Port":443}}}]"#,
            ),
            ("GET", _) => Reply::status(404),
            _ if seen.is_package1() => Reply::package(format!(
                r#"{{"CMD":[["DEFAULT","urn:x:vpn:1.0","{base}/repo/vpn"],["DEFAULT","urn:x:bad:1.0","{base}/repo/bad"]]}}"#
            )),
            _ => Reply::package(END),
        }
    })
    .await;
    let dir = scratch("default");
    let state = dir.join("device.json");
    let mut client = stateful(&server.base, &state, None);
    let report = client_initiated(&mut client).await;
    assert!(report.completed());
    assert_eq!(statuses(&server.requests()[1]), [200, 200]);
    assert!(
        matches!(&report.events[0], ClientEvent::Default { moid, .. } if moid.as_str() == "urn:x:vpn:1.0")
    );
    drop(client);

    // Stored across a restart.
    let mut client = stateful(&server.base, &state, None);
    let vpn = Moid::new("urn:x:vpn:1.0").expect("moid");
    assert_eq!(
        client.default_uri(&vpn).map(|u| u.as_str().to_owned()),
        Some(format!("{}/repo/vpn", server.base))
    );
    let fetched = client.ensure_configuration(&vpn).await.expect("fetched");
    assert_eq!(
        fetched,
        Configuration::Fetched(vec![ClientUri::parse("urn:x:vpn:1.0/1/").expect("uri")])
    );
    assert_eq!(
        client.ensure_configuration(&vpn).await.expect("present"),
        Configuration::Present
    );
    let fetches = server.requests_to("/repo/vpn");
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].header("omadm-devid"), Some(DEV_ID));
    assert_eq!(fetches[0].header("accept"), Some(MO_DATA));
    assert_eq!(server.requests().len(), 3, "no status reported to anyone");

    let bad = Moid::new("urn:x:bad:1.0").expect("moid");
    let err = client.ensure_configuration(&bad).await.unwrap_err();
    assert!(
        matches!(err, Error::DefaultFetch { status, .. } if status.as_u16() == 502),
        "{err}"
    );
    let unknown = Moid::new("urn:x:unknown:1.0").expect("moid");
    assert!(matches!(
        client.ensure_configuration(&unknown).await,
        Err(Error::NoDefault(_))
    ));

    // The fetched instance was persisted.
    drop(client);
    let client = stateful(&server.base, &state, None);
    assert_eq!(
        client
            .tree()
            .resolve_str("urn:x:vpn:1.0//Gateway")
            .0
            .as_u16(),
        200
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn local_changes_send_change_reports() {
    let server = serve(|seen| {
        let base = format!("http://{}", seen.header("host").unwrap_or_default());
        match seen.method.as_str() {
            "PUT" => Reply::status(204),
            _ if seen.is_package1() => Reply::package(format!(
                r#"{{"CMD":[["SUB","urn:x:demo:1.0//Status","{base}/repo/status"],["END"]]}}"#
            )),
            _ => Reply::package(END),
        }
    })
    .await;
    let mut client = builder(&server.base, Credentials::None, None)
        .tree(demo_tree())
        .build()
        .expect("client");
    let report = client_initiated(&mut client).await;
    assert!(report.completed() && report.tree_changed);
    let status = ClientUri::parse("urn:x:demo:1.0/demo/Status").expect("uri");
    let sent = client
        .set_local(&status, LeafValue::from("rebooting"))
        .await
        .expect("changed");
    assert_eq!(sent, 1);
    let reports = server.requests_to("/repo/status");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].method, "PUT");
    assert_eq!(reports[0].header("content-type"), Some(MO_DATA));
    assert!(
        reports[0].text().contains(r#"{"Status":"rebooting"}"#),
        "{}",
        reports[0].text()
    );

    // A change elsewhere fires nothing.
    let reboot = ClientUri::parse("urn:x:demo:1.0/demo/Reboot").expect("uri");
    assert_eq!(
        client
            .set_local(&reboot, LeafValue::from("x"))
            .await
            .expect("changed"),
        0
    );
    // The device cannot write what the DDF forbids (DevInfo is Get only).
    let man = ClientUri::parse("urn:oma:mo:oma-dm-devinfo:1.0/devinfo/Man").expect("uri");
    let err = client
        .set_local(&man, LeafValue::from("Other"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tree(_)), "{err}");
}

#[tokio::test]
async fn the_state_file_is_written_only_after_changes_and_read_strictly() {
    let server = serve(|seen| {
        let base = format!("http://{}", seen.header("host").unwrap_or_default());
        match (seen.method.as_str(), seen.target.as_str()) {
            ("GET", _) => {
                Reply::mo_data(r#"[{"ClientURI":"urn:x:a:1.0//","MOData":{"A":{"v":1}}}]"#)
            }
            _ if seen.is_package1() && seen.text().contains("urn:x:a:1.0") => {
                Reply::package(r#"{"CMD":[["GET","urn:x:a:1.0//v"],["END"]]}"#)
            }
            _ if seen.is_package1() => {
                Reply::package(format!(r#"{{"CMD":[["HGET","{base}/repo/a"],["END"]]}}"#))
            }
            _ => Reply::package(END),
        }
    })
    .await;
    let dir = scratch("persistence");
    let state = dir.join("device.json");
    let mut client = stateful(&server.base, &state, None);
    assert!(state.exists(), "the bootstrap is persisted");
    let first = std::fs::read(&state).expect("state");

    let report = client_initiated(&mut client).await;
    assert!(report.tree_changed);
    let second = std::fs::read(&state).expect("state");
    assert_ne!(first, second);
    drop(client);

    let mut client = stateful(&server.base, &state, None);
    assert_eq!(client.tree().resolve_str("urn:x:a:1.0/1/v").0.as_u16(), 200);
    std::fs::remove_file(&state).expect("removed");
    let report = client_initiated(&mut client).await;
    assert!(report.completed() && !report.tree_changed);
    assert!(
        !state.exists(),
        "a session that changed nothing writes nothing"
    );
    drop(client);

    for corrupt in [&second[..second.len() / 2], b"{}", b"\xff\xfe"] {
        std::fs::write(&state, corrupt).expect("written");
        owner_only(&state);
        let err = builder(&server.base, Credentials::None, None)
            .state_file(&state)
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::StateCorrupt { .. }), "{err}");
        assert_eq!(
            std::fs::read(&state).expect("state"),
            corrupt,
            "left as it was"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Makes a file written by the test owner-only, as the client requires.
fn owner_only(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

#[cfg(unix)]
#[test]
fn the_state_file_is_owner_only_and_a_shared_one_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch("modes");
    let state = dir.join("device.json");
    let client = builder("http://127.0.0.1:9", Credentials::None, Some(noti()))
        .state_file(&state)
        .build()
        .expect("client");
    // Created owner-only whatever the umask: it holds Auth/*/Secret.
    assert_eq!(mode(&state), 0o600);
    client.save().expect("saved");
    assert_eq!(mode(&state), 0o600);
    drop(client);
    for shared in [0o644, 0o640, 0o604, 0o620, 0o602] {
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(shared)).expect("chmod");
        let before = std::fs::read(&state).expect("state");
        let err = builder("http://127.0.0.1:9", Credentials::None, Some(noti()))
            .state_file(&state)
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, Error::StatePermissions { path, mode } if *path == state && *mode == shared),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&state.display().to_string())
                && message.contains(&format!("{shared:04o}"))
                && message.contains("chmod 600"),
            "{message}"
        );
        assert_eq!(std::fs::read(&state).expect("state"), before, "untouched");
    }
    // Told to, it starts; what it writes is owner-only again.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let client = builder("http://127.0.0.1:9", Credentials::None, Some(noti()))
        .state_file(&state)
        .allow_shared_permissions(true)
        .build()
        .expect("allowed");
    client.save().expect("saved");
    // An owner-only file with other bits (executable) is fine.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    drop(client);
    builder("http://127.0.0.1:9", Credentials::None, Some(noti()))
        .state_file(&state)
        .build()
        .expect("owner-only");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn stale_temporary_files_of_the_state_file_are_removed_at_start() {
    let dir = scratch("stale");
    let state = dir.join("device.json");
    // What a process killed between creating and renaming its temporary
    // file leaves, and files that only look alike.
    let stale = [".device.json.4242-0.tmp", ".device.json.1-17.tmp"];
    let kept = [
        ".device.json.tmp",
        ".device.json.x-1.tmp",
        ".device.json.1-2.tmp.bak",
        ".other.json.4242-0.tmp",
        "device.json.4242-0.tmp",
        ".device.json.1-2.3-4.tmp",
    ];
    for name in stale.iter().chain(&kept) {
        std::fs::write(dir.join(name), b"half a state").expect("planted");
    }
    let client = builder("http://127.0.0.1:9", Credentials::None, None)
        .state_file(&state)
        .build()
        .expect("client");
    drop(client);
    for name in stale {
        assert!(!dir.join(name).exists(), "{name} removed");
    }
    for name in kept {
        assert!(dir.join(name).exists(), "{name} kept");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_rate_limit_of_notifications_is_a_builder_setting_and_survives_restarts() {
    let server = serve(|_| Reply::package(END)).await;
    let dir = scratch("rate-limit");
    let state = dir.join("device.json");
    let build = || {
        builder(&server.base, Credentials::None, Some(noti()))
            .state_file(&state)
            .notifications_per_window(2)
            .build()
            .expect("client")
    };
    let mut client = build();
    let now = SystemTime::now();
    for id in [1, 2] {
        let outcome = notified(&mut client, &signed(id, unix(now), b"key"), now).await;
        assert!(
            matches!(outcome, NotificationOutcome::Session(_)),
            "{outcome:?}"
        );
    }
    drop(client);
    // After a restart: the ids and the count inside the window are kept.
    let mut client = build();
    let outcome = notified(&mut client, &signed(3, unix(now), b"key"), now).await;
    assert!(
        matches!(
            &outcome,
            NotificationOutcome::Ignored(Ignored::Replay(Replay::TooMany { limit: 2 }))
        ),
        "{outcome:?}"
    );
    let outcome = notified(&mut client, &signed(1, unix(now), b"key"), now).await;
    assert!(
        matches!(
            &outcome,
            NotificationOutcome::Ignored(Ignored::Replay(Replay::Duplicate { id: 1 }))
        ),
        "{outcome:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
