//! A real `DmClient` against hostile peers: forged and replayed
//! notifications, a server reaching for secrets and for another server's
//! instances, repositories answering garbage or nothing, a server that
//! never ends its session, and a CONT to another origin. Every test checks
//! the exact outcome and that nothing was written (the tree, the state
//! file) or sent (no session opened, no credentials to another origin).

use dm_test_support::device as common;
use dm_test_support::hostile_server as raw;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::*;
use dm_client::{
    AbortReason, Account, ClientEnd, Credentials, DmClient, Ignored, NotificationOutcome, Observer,
    SessionReport, Transport, Trigger,
};
use dm_codec::notification::{self, Replay};
use dm_tree::{DmAcc, ExecOutcome, MoTree, NodeHandler, NotificationAuth};
use dm_types::{ClientUri, ConnectionType, Moid, Notification, ServerId, ServerUri, StatusCode};
use raw::{Conduct, response, response_head, serve_raw};

const SECRET: &[u8] = b"hostile-test-noti-secret";
const AUTH_DATA: &[u8] = b"hostile-test-auth-data";
const OTHER_SERVER: &str = "other.server";
const OTHER_SECRET: &[u8] = b"the-other-servers-secret";
const DEVINFO: &str = "urn:oma:mo:oma-dm-devinfo:1.0";
const DMACC: &str = "urn:oma:mo:oma-dm-dmacc:1.2";
const DACMO: &str = "urn:oma:mo:oma-dm-dacmo:1.0";
const PRIVATE: &str = "urn:x:private:1.0";
const NEW: &str = "urn:x:new:1.0";

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn moid(text: &str) -> Moid {
    Moid::new(text).expect("MOID")
}

/// The hostile server's account: `SERVER_ID` at `<base>/dm`, the MOIDs
/// of the test listed in `Perm` (so that only instance rights can stop
/// it), and a notification secret.
fn hostile_account(base: &str) -> DmAcc {
    let mut account = common::account(base);
    account.perm_moids = [DEVINFO, DMACC, PRIVATE, NEW].map(moid).to_vec();
    account.notification = Some(NotificationAuth::sha256(
        SECRET.to_vec(),
        AUTH_DATA.to_vec(),
    ));
    account
}

/// Another server the device knows, with its own secret.
fn other_account(notification: bool) -> DmAcc {
    let mut account = DmAcc::new(
        ServerId::new(OTHER_SERVER).expect("id"),
        ServerUri::new("http://127.0.0.1:9/dm").expect("SrvURI"),
    );
    account.perm_moids = [DEVINFO, PRIVATE].map(moid).to_vec();
    if notification {
        account.notification = Some(NotificationAuth::sha256(
            OTHER_SECRET.to_vec(),
            b"x".to_vec(),
        ));
    }
    account
}

/// An instance that belongs to the other server alone (its DACMO entry
/// grants nothing to the hostile server).
fn private_tree() -> MoTree {
    let document = format!(
        r#"[{{"ClientURI":"{PRIVATE}/p1/","MOData":{{"Private":{{"Key":"other-servers-data","Reset":""}}}}}},
            {{"ClientURI":"{DACMO}/d1/","MOData":{{"DACMO":{{"MOID":"{PRIVATE}","MIID":"p1",
              "ACL":{{"1":{{"ServerID":"{OTHER_SERVER}","Rights":"Read,Write,Exec,Delegate"}}}}}}}}}}]"#
    );
    tree_of(&document)
}

/// A device with the hostile account first (`acc1`) and the other one
/// (`acc2`), not allowed every MOID, with this transport.
fn device(
    base: &str,
    credentials: Credentials,
    transport: Transport,
) -> dm_client::DmClientBuilder {
    DmClient::builder(devinfo())
        .tree(private_tree())
        .account(Account::new(hostile_account(base)).credentials(credentials))
        .account(Account::new(other_account(true)))
        .transport(transport)
}

/// The tree's content: its snapshot without the instance-numbering
/// counter, which moves when SessionInfo comes and goes.
fn content(client: &DmClient) -> String {
    let mut snapshot: serde_json::Value =
        serde_json::from_slice(&client.tree().to_snapshot()).expect("snapshot JSON");
    if let Some(map) = snapshot.as_object_mut() {
        map.remove("epochs");
    }
    serde_json::to_string_pretty(&snapshot).expect("JSON")
}

fn quick_transport(timeout: Duration) -> Transport {
    Transport::builder()
        .backend(test_backend())
        .retry(fast_retry(2))
        .request_timeout(timeout)
        .build()
        .expect("transport")
}

/// The package server's answers: `first` for Package#1, END afterwards.
fn one_package(first: String) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |seen: &Seen| first_then_end(seen, &first)
}

/// A Package#2 of these commands.
fn package2(commands: &[Vec<String>]) -> String {
    serde_json::json!({ "CMD": commands }).to_string()
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| (*w).to_owned()).collect()
}

fn signed(server: &str, id: u16, timestamp: u64, secret: &[u8], data: &[u8]) -> Vec<u8> {
    let mut n = Notification::new(ServerId::new(server).expect("id"), ConnectionType::Wlan);
    n.notification_id = Some(id);
    n.timestamp = Some(timestamp);
    notification::encode_signed(&n, secret, data).expect("signed")
}

fn ignored(outcome: NotificationOutcome) -> Ignored {
    match outcome {
        NotificationOutcome::Ignored(reason) => reason,
        NotificationOutcome::Session(report) => panic!("a session ran: {report}"),
        other => panic!("{other:?}"),
    }
}

#[derive(Default)]
struct Recorder {
    ignored: Mutex<Vec<Ignored>>,
    sessions: Mutex<Vec<SessionReport>>,
}

impl Observer for Recorder {
    fn notification_ignored(&self, reason: &Ignored) {
        self.ignored.lock().expect("lock").push(reason.clone());
    }

    fn session_ended(&self, report: &SessionReport) {
        self.sessions.lock().expect("lock").push(report.clone());
    }
}

#[tokio::test]
async fn forged_and_replayed_notifications_are_ignored_without_a_session() {
    let server = serve(|_| Reply::package(END)).await;
    let dir = scratch("hostile-notifications");
    let state = dir.join("device.json");
    let build = || {
        DmClient::builder(devinfo())
            .account(Account::new(hostile_account(&server.base)))
            .account(Account::new(other_account(false)))
            .transport(transport())
            .state_file(&state)
            .build()
            .expect("client")
    };
    let mut client = build();
    let now = SystemTime::now();
    let t = unix(now);
    let genuine = |id| signed(SERVER_ID, id, t, SECRET, AUTH_DATA);
    let mut tampered = genuine(3);
    let last = tampered.len() - 1;
    tampered[last] ^= 1; // TIMESTAMP one second off: still in the window
    let unsigned = {
        let mut n = Notification::new(server_id(), ConnectionType::Wlan);
        n.notification_id = Some(4);
        n.timestamp = Some(t);
        notification::encode(&n).expect("encoded")
    };
    let cases: Vec<(&str, Vec<u8>, Ignored)> = vec![
        (
            "wrong secret",
            signed(SERVER_ID, 1, t, b"guessed", AUTH_DATA),
            Ignored::InvalidDigest,
        ),
        (
            "wrong auth data",
            signed(SERVER_ID, 2, t, SECRET, b"guessed"),
            Ignored::InvalidDigest,
        ),
        ("tampered after signing", tampered, Ignored::InvalidDigest),
        ("no digest", unsigned, Ignored::MissingDigest),
        (
            "a digest for an account without Auth/Noti",
            signed(OTHER_SERVER, 5, t, SECRET, AUTH_DATA),
            Ignored::NotificationsNotConfigured(ServerId::new(OTHER_SERVER).expect("id")),
        ),
        (
            "no digest for an account without Auth/Noti",
            {
                let mut n = Notification::new(
                    ServerId::new(OTHER_SERVER).expect("id"),
                    ConnectionType::Wlan,
                );
                n.notification_id = Some(10);
                n.timestamp = Some(t);
                notification::encode(&n).expect("encoded")
            },
            Ignored::NotificationsNotConfigured(ServerId::new(OTHER_SERVER).expect("id")),
        ),
        (
            "an unknown SERVER-ID",
            signed("evil.example", 6, t, SECRET, AUTH_DATA),
            Ignored::UnknownServer(ServerId::new("evil.example").expect("id")),
        ),
        (
            "a stale TIMESTAMP",
            signed(SERVER_ID, 7, t - 3600, SECRET, AUTH_DATA),
            Ignored::Replay(Replay::TooOld { age_secs: 3600 }),
        ),
        (
            "a TIMESTAMP in the future",
            signed(SERVER_ID, 8, t + 3600, SECRET, AUTH_DATA),
            Ignored::Replay(Replay::InFuture { ahead_secs: 3600 }),
        ),
    ];
    let on_disk = std::fs::read(&state).expect("state file");
    for (what, bytes, reason) in cases {
        let outcome = notified(&mut client, &bytes, now).await;
        assert_eq!(ignored(outcome), reason, "{what}");
        assert!(server.requests().is_empty(), "{what}: no session opened");
        assert_eq!(
            std::fs::read(&state).expect("state file"),
            on_disk,
            "{what}: nothing persisted"
        );
    }
    let truncated = &genuine(9)[..20];
    let outcome = notified(&mut client, truncated, now).await;
    assert!(matches!(ignored(outcome), Ignored::Malformed(_)));

    // The forgeries consumed no NOTIFICATION-ID: a genuine notification
    // with a forged one's id opens its session; its replay is ignored, also
    // after a restart.
    for id in [1, 7] {
        let outcome = notified(&mut client, &genuine(id), now).await;
        let NotificationOutcome::Session(report) = outcome else {
            panic!("a session for id {id}: {outcome:?}");
        };
        assert!(report.completed(), "{report}");
    }
    assert_eq!(server.requests().len(), 2);
    let replay = notified(&mut client, &genuine(7), now).await;
    assert_eq!(
        ignored(replay),
        Ignored::Replay(Replay::Duplicate { id: 7 })
    );
    drop(client);
    let mut client = build();
    let replay = notified(&mut client, &genuine(1), now).await;
    assert_eq!(
        ignored(replay),
        Ignored::Replay(Replay::Duplicate { id: 1 })
    );
    assert_eq!(server.requests().len(), 2, "replays open nothing");

    // Over UDP: forgeries and a replay are ignored, one genuine datagram
    // opens one session.
    let observer = Arc::new(Recorder::default());
    let mut client = DmClient::builder(devinfo())
        .account(Account::new(hostile_account(&server.base)))
        .transport(transport())
        .observer(observer.clone())
        .build()
        .expect("client");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = socket.local_addr().expect("address");
    let sender = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let datagrams = [
        signed(SERVER_ID, 20, t, b"guessed", AUTH_DATA),
        b"\x10\x00garbage".to_vec(),
        genuine(21),
        genuine(21),
        signed(SERVER_ID, 22, t - 86_400, SECRET, AUTH_DATA),
    ];
    let done = observer.clone();
    let listening = client.listen_udp(&socket, async move {
        let started = Instant::now();
        while done.ignored.lock().expect("lock").len() < 4
            && started.elapsed() < Duration::from_secs(5)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let sending = async {
        for datagram in &datagrams {
            sender.send_to(datagram, address).await.expect("send");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (listened, ()) = tokio::join!(listening, sending);
    listened.expect("listened");
    let reasons = observer.ignored.lock().expect("lock").clone();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(reasons[0], Ignored::InvalidDigest);
    assert!(matches!(reasons[1], Ignored::Malformed(_)), "{reasons:?}");
    assert_eq!(reasons[2], Ignored::Replay(Replay::Duplicate { id: 21 }));
    // Received a moment after `t` was read: a second may have passed.
    assert!(
        matches!(reasons[3], Ignored::Replay(Replay::TooOld { age_secs }) if (86_400..86_410).contains(&age_secs)),
        "{reasons:?}"
    );
    assert_eq!(observer.sessions.lock().expect("lock").len(), 1);
    assert_eq!(server.requests().len(), 3, "one more session");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_server_reads_no_secret_and_no_instance_it_has_no_rights_on() {
    let repository = serve(|_| {
        Reply::mo_data(format!(
            r#"[{{"ClientURI":"{PRIVATE}/p1/Key","MOData":{{"Key":"overwritten"}}}}]"#
        ))
    })
    .await;
    let repo = repository.base.clone();
    let commands = vec![
        words(&["GET", &format!("{DMACC}/acc1/Auth/Noti/Secret")]),
        words(&["GET", &format!("{DMACC}/acc1/")]),
        words(&["GET", &format!("{DMACC}/*/")]),
        words(&["GET", &format!("{DMACC}/acc2/")]),
        words(&["GET", &format!("{DMACC}/acc2/Auth/Noti/Secret")]),
        words(&["GET", &format!("{PRIVATE}/p1/")]),
        words(&["GET", &format!("{PRIVATE}/*/Key")]),
        words(&["GET", &format!("{PRIVATE}//")]),
        words(&["DELETE", &format!("{PRIVATE}/p1/")]),
        words(&["EXEC", &format!("{PRIVATE}/p1/Reset")]),
        words(&["SUB", &format!("{PRIVATE}/p1/"), &format!("{repo}/reports")]),
        words(&[
            "HGET",
            &format!("{repo}/overwrite"),
            &format!("{PRIVATE}/p1/Key"),
        ]),
        words(&["HGET", &format!("{repo}/overwrite")]),
        words(&["HPUT", &format!("{repo}/dmacc"), &format!("{DMACC}/acc1/")]),
        words(&[
            "HPUT",
            &format!("{repo}/secret"),
            &format!("{DMACC}/acc1/Auth/Noti/Secret"),
        ]),
        words(&[
            "HPOST",
            &format!("{repo}/private"),
            &format!("{PRIVATE}/p1/"),
        ]),
        words(&["GET", &format!("{DACMO}/*/")]),
    ];
    let server = serve(one_package(package2(&commands))).await;
    let mut client = device(&server.base, Credentials::None, transport())
        .build()
        .expect("client");
    let before = content(&client);
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    assert!(!report.tree_changed);
    assert!(
        content(&client) == before,
        "the tree changed:\n{}",
        content(&client)
    );

    let package3 = server.requests().pop().expect("Package#3");
    assert_eq!(
        statuses(&package3),
        [
            405, 200, 200, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 200, 405, 404, 404
        ]
    );
    let text = package3.text();
    let status = |i: usize| package3.json()["Status"][i].to_string();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    for leak in [
        "Secret".to_owned(),
        b64(SECRET),
        b64(OTHER_SECRET),
        String::from_utf8_lossy(SECRET).into_owned(),
        OTHER_SERVER.to_owned(),
        "other-servers-data".to_owned(),
    ] {
        assert!(!text.contains(&leak), "{leak} leaked: {text}");
    }
    assert!(
        status(1).contains("Noti") && status(1).contains(SERVER_ID),
        "{}",
        status(1)
    );
    assert!(
        status(2).contains("acc1") && !status(2).contains("acc2"),
        "{}",
        status(2)
    );
    assert_eq!(
        package3.json()["Status"][16]["Data"],
        serde_json::Value::Null,
        "no DACMO entry is visible"
    );

    // The repository served two HGETs (refused when writing) and got the
    // account without its secret, and nothing else.
    let uploads: Vec<String> = repository
        .requests()
        .iter()
        .map(|s| format!("{} {}", s.method, s.target))
        .collect();
    assert_eq!(
        uploads,
        ["GET /overwrite", "GET /overwrite", "PUT /dmacc"],
        "{uploads:?}"
    );
    let upload = repository.requests_to("/dmacc")[0].text();
    assert!(
        upload.contains("SrvURI") && !upload.contains("Secret") && !upload.contains(&b64(SECRET)),
        "{upload}"
    );
}

/// A server scripted by session: `sessions[i]` is the Package#2 answering
/// the i-th Package#1 (`{base}` stands for its own base URI); `repository`
/// maps paths of its repository to MO serialization.
fn scripted(
    sessions: Vec<Vec<Vec<String>>>,
    repository: Vec<(&'static str, String)>,
) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    let next = std::sync::atomic::AtomicUsize::new(0);
    move |seen: &Seen| {
        let base = format!("http://{}", seen.header("host").unwrap_or_default());
        if let Some((_, body)) = repository.iter().find(|(path, _)| *path == seen.target) {
            return Reply::mo_data(body.clone());
        }
        if !seen.is_package1() {
            return Reply::package(END);
        }
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let commands: Vec<Vec<String>> = sessions
            .get(i)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.into_iter().map(|w| w.replace("{base}", &base)).collect())
            .collect();
        Reply::package(package2(&commands))
    }
}

async fn completed_session(client: &mut DmClient, server: &ServerId) {
    let report = client
        .run_session(server, Trigger::Client)
        .await
        .expect("session");
    assert!(report.completed(), "{report}");
}

/// The statuses and text of the last Package#3 `server` received.
fn last_package3(server: &TestServer) -> (Vec<u64>, String) {
    let seen = server.requests().pop().expect("Package#3");
    (statuses(&seen), seen.text())
}

#[tokio::test]
async fn a_server_cannot_take_over_another_servers_identity_or_instances() {
    let other = ServerId::new(OTHER_SERVER).expect("id");
    let b = serve(scripted(
        vec![
            vec![words(&["HGET", "{base}/repo/b"])],
            vec![
                words(&["HGET", "{base}/repo/b"]),
                words(&["GET", &format!("{NEW}/*/")]),
            ],
        ],
        vec![(
            "/repo/b",
            format!(r#"[{{"ClientURI":"{NEW}//","MOData":{{"New":{{"owner":"b-only"}}}}}}]"#),
        )],
    ))
    .await;
    let a = serve(scripted(
        vec![
            vec![
                words(&["HGET", "{base}/repo/a"]),
                words(&["HGET", "{base}/repo/miid", &format!("{DACMO}/2/MIID")]),
                words(&["HGET", "{base}/repo/entry", &format!("{DACMO}/2/")]),
                words(&["HGET", "{base}/repo/forged-entry"]),
                words(&["HGET", "{base}/repo/account"]),
                words(&["HGET", "{base}/repo/own-account"]),
                words(&["GET", &format!("{NEW}/1/")]),
                words(&["GET", &format!("{NEW}/*/")]),
                words(&["DELETE", &format!("{NEW}/2/")]),
            ],
            vec![
                words(&["GET", &format!("{NEW}/2/")]),
                words(&["GET", &format!("{NEW}/*/")]),
                words(&["DELETE", &format!("{NEW}/2/")]),
                words(&["GET", &format!("{DACMO}/*/")]),
            ],
        ],
        vec![
            ("/repo/a", format!(r#"[{{"ClientURI":"{NEW}//","MOData":{{"New":{{"owner":"a"}}}}}}]"#)),
            ("/repo/miid", format!(r#"[{{"ClientURI":"{DACMO}/2/MIID","MOData":{{"MIID":"1"}}}}]"#)),
            (
                "/repo/entry",
                format!(
                    r#"[{{"ClientURI":"{DACMO}/2/","MOData":{{"2":{{"MOID":"{NEW}","MIID":"1","ACL":{{"1":{{"ServerID":"{SERVER_ID}","Rights":"Read,Write,Exec,Delegate"}}}}}}}}}}]"#
                ),
            ),
            (
                "/repo/forged-entry",
                format!(
                    r#"[{{"ClientURI":"{DACMO}//","MOData":{{"DACMO":{{"MOID":"{NEW}","MIID":"1","ACL":{{"1":{{"ServerID":"{SERVER_ID}","Rights":"Read,Write,Exec,Delegate"}}}}}}}}}}]"#
                ),
            ),
            (
                "/repo/account",
                format!(
                    r#"[{{"ClientURI":"{DMACC}//","MOData":{{"DMAcc":{{"SrvID":"{OTHER_SERVER}","SrvURI":"http://evil.example/dm","Perm":{{"1":{{"MOID":"{NEW}"}}}}}}}}}}]"#
                ),
            ),
            (
                "/repo/own-account",
                format!(
                    r#"[{{"ClientURI":"{DMACC}//","MOData":{{"DMAcc":{{"SrvID":"{SERVER_ID}","SrvURI":"http://evil.example/dm"}}}}}}]"#
                ),
            ),
        ],
    ))
    .await;
    let mut b_account = DmAcc::new(
        other.clone(),
        ServerUri::new(format!("{}/dm", b.base)).expect("SrvURI"),
    );
    b_account.perm_moids = vec![moid(NEW)];
    let mut client = DmClient::builder(devinfo())
        .account(Account::new(hostile_account(&a.base)))
        .account(Account::new(b_account.clone()))
        .transport(transport())
        .build()
        .expect("client");

    // B creates NEW/1 (and the device gives it DACMO/1).
    completed_session(&mut client, &other).await;
    assert_eq!(last_package3(&b).0, [200]);

    // A creates NEW/2 (DACMO/2 is its entry) and cannot point that entry at
    // B's instance, forge an entry, or create an account under B's SrvID or
    // its own; B's instance stays invisible to it. (The DACMO's standard
    // DDF, always in force, refuses a new MIID with 405; an entry written
    // at its root under another root name is 400.)
    completed_session(&mut client, &server_id()).await;
    let (codes, text) = last_package3(&a);
    assert_eq!(
        codes,
        [200, 405, 400, 403, 403, 403, 404, 200, 200],
        "{text}"
    );
    assert!(!text.contains("b-only"), "{text}");
    let accounts: Vec<(String, String)> = client
        .tree()
        .dm_accs()
        .into_iter()
        .map(|a| a.expect("account"))
        .map(|a| {
            (
                a.server_id.as_str().to_owned(),
                a.server_uri.as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(accounts.len(), 2, "{accounts:?}");
    assert_eq!(
        client.tree().dm_acc(&other).expect("readable"),
        Some(b_account.clone()),
        "B's account is intact"
    );

    // B's next instance reuses the MIID 2 that A's deleted instance had:
    // A's entry went with it, so the instance is B's alone.
    completed_session(&mut client, &other).await;
    let (codes, text) = last_package3(&b);
    assert_eq!(codes, [200, 200], "{text}");
    assert!(
        text.contains(&format!("{NEW}/1/")) && text.contains(&format!("{NEW}/2/")),
        "{text}"
    );
    completed_session(&mut client, &server_id()).await;
    let (codes, text) = last_package3(&a);
    assert_eq!(codes, [404, 404, 404, 404], "{text}");
    assert_eq!(
        client
            .tree()
            .resolve_str(&format!("{NEW}/2/owner"))
            .0
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn a_server_allowed_every_moid_cannot_mint_accounts() {
    // A new account for a server the device does not know, with the Perm
    // list of the minter's choosing, under a root name the DDF does not
    // describe.
    let minted = |name: &str| {
        format!(
            r#"[{{"ClientURI":"{DMACC}//","MOData":{{"{name}":{{"SrvID":"minted.server","SrvURI":"http://evil.example/dm","Perm":{{"1":{{"MOID":"{DEVINFO}"}},"2":{{"MOID":"{DMACC}"}}}}}}}}}}]"#
        )
    };
    let session = || {
        vec![vec![
            words(&["HGET", "{base}/repo/mint"]),
            words(&["HGET", "{base}/repo/mint-named"]),
        ]]
    };
    // A holds the DMAcc MOID in its Perm list; B does not, and must not get
    // it (nor the DACMO) from allow_every_moid.
    let repository = || {
        vec![
            ("/repo/mint", minted("acc9")),
            ("/repo/mint-named", minted("DMAcc")),
        ]
    };
    let a = serve(scripted(session(), repository())).await;
    let b = serve(scripted(session(), repository())).await;
    let other = ServerId::new(OTHER_SERVER).expect("id");
    let mut b_account = DmAcc::new(
        other.clone(),
        ServerUri::new(format!("{}/dm", b.base)).expect("SrvURI"),
    );
    b_account.perm_moids = vec![moid(DEVINFO)];
    let mut client = DmClient::builder(devinfo())
        .account(Account::new(hostile_account(&a.base)).allow_every_moid(true))
        .account(Account::new(b_account).allow_every_moid(true))
        .transport(transport())
        .build()
        .expect("client");

    completed_session(&mut client, &server_id()).await;
    let (codes, text) = last_package3(&a);
    assert_eq!(codes, [403, 403], "{text}");
    completed_session(&mut client, &other).await;
    let (codes, text) = last_package3(&b);
    assert_eq!(codes, [403, 403], "{text}");

    let servers: Vec<String> = client
        .tree()
        .dm_accs()
        .into_iter()
        .map(|a| a.expect("account").server_id.as_str().to_owned())
        .collect();
    assert_eq!(servers.len(), 2, "{servers:?}");
    assert!(!servers.iter().any(|s| s == "minted.server"), "{servers:?}");
    assert_eq!(client.tree().instances_of(DMACC).count(), 2);
    let minted = ServerId::new("minted.server").expect("id");
    assert_eq!(client.tree().dm_acc(&minted).expect("readable"), None);
    let granted = client.tree().allowed_moids(&other);
    assert!(granted.iter().any(|m| m == DEVINFO), "{granted:?}");
    assert!(
        !granted.iter().any(|m| m == DMACC || m == DACMO),
        "{granted:?}"
    );
}

#[tokio::test]
async fn a_repository_answering_garbage_or_nothing_writes_nothing() {
    let repository = garbage_repository().await;
    let repo = repository.base.clone();
    let paths = [
        "garbage",
        "html",
        "untyped",
        "huge",
        "lying",
        "partial",
        "error",
        "redirect",
        "never-ends",
        "never-answers",
    ];
    let commands: Vec<Vec<String>> = paths
        .iter()
        .map(|path| words(&["HGET", &format!("{repo}/{path}")]))
        .collect();
    let server = serve(one_package(package2(&commands))).await;
    let timeout = Duration::from_millis(300);
    let mut client = device(&server.base, Credentials::None, quick_transport(timeout))
        .limits(dm_codec::Limits::default().with_mo_data_bytes(1024))
        .build()
        .expect("client");
    let before = content(&client);
    let started = Instant::now();
    let report = client_initiated(&mut client).await;
    let took = started.elapsed();
    assert!(report.completed(), "{report}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(content(&client) == before, "written:\n{}", content(&client));
    let package3 = server.requests().pop().expect("Package#3");
    assert_eq!(
        statuses(&package3),
        [400, 415, 415, 413, 413, 403, 502, 502, 502, 502]
    );
    let seen: Vec<String> = repository
        .requests()
        .iter()
        .map(|s| s.target.clone())
        .collect();
    assert!(
        !seen.contains(&"/valid".to_owned()),
        "the redirect was not followed: {seen:?}"
    );
    assert_eq!(
        repository.requests_to("/lying").len(),
        1,
        "answered at once, no retry"
    );
    assert_eq!(
        repository.requests_to("/never-ends").len(),
        1,
        "a body that stops is not retried"
    );
    assert_eq!(
        repository.requests_to("/never-answers").len(),
        2,
        "GET retried once"
    );

    // With a patient transport, the session's own duration ends it.
    let server = serve(one_package(package2(&[words(&[
        "HGET",
        &format!("{repo}/never-answers"),
    ])])))
    .await;
    let mut client = device(
        &server.base,
        Credentials::None,
        quick_transport(Duration::from_secs(60)),
    )
    .session_limits(64, Duration::from_millis(500))
    .build()
    .expect("client");
    let before = content(&client);
    let started = Instant::now();
    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Aborted(AbortReason::SessionTooLong));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1, "no Package#3 after the abort");
    assert!(content(&client) == before, "written:\n{}", content(&client));
}

/// The misbehaving repository of the HGET and DEFAULT tests.
async fn garbage_repository() -> TestServer {
    let mo_type = [("Content-Type", MO_DATA)];
    let valid = format!(
        r#"[{{"ClientURI":"{NEW}//","MOData":{{"New":{{"v":"{}"}}}}}}]"#,
        "x".repeat(40)
    );
    let huge = format!(
        r#"[{{"ClientURI":"{NEW}//","MOData":{{"New":{{"v":"{}"}}}}}}]"#,
        "x".repeat(4096)
    );
    let partial = format!(
        r#"[{{"ClientURI":"{NEW}//","MOData":{{"New":{{"v":1}}}}}},{{"ClientURI":"{DEVINFO}/devinfo/Man","MOData":{{"Man":"Evil"}}}}]"#
    );
    serve_raw(move |seen| match seen.target.as_str() {
        "/garbage" => Conduct::Answer(response(200, &mo_type, b"this is not JSON")),
        "/html" => Conduct::Answer(response(
            200,
            &[("Content-Type", "text/html")],
            valid.as_bytes(),
        )),
        "/untyped" => Conduct::Answer(response(200, &[], valid.as_bytes())),
        "/huge" => Conduct::Answer(response(200, &mo_type, huge.as_bytes())),
        "/lying" => Conduct::AnswerThenStall(
            [
                response_head(
                    200,
                    &[
                        ("Content-Type", MO_DATA),
                        ("Content-Length", "1000000000000"),
                    ],
                ),
                huge.as_bytes().to_vec(),
            ]
            .concat(),
        ),
        "/partial" => Conduct::Answer(response(200, &mo_type, partial.as_bytes())),
        "/error" => Conduct::Answer(response(500, &mo_type, valid.as_bytes())),
        "/redirect" => Conduct::Answer(response(302, &[("Location", "/valid")], b"")),
        "/never-ends" => Conduct::AnswerThenStall(
            [
                response_head(
                    200,
                    &[("Content-Type", MO_DATA), ("Transfer-Encoding", "chunked")],
                ),
                b"1\r\n[\r\n".to_vec(),
            ]
            .concat(),
        ),
        "/valid" => Conduct::Answer(response(200, &mo_type, valid.as_bytes())),
        _ => Conduct::Stall,
    })
    .await
}

#[tokio::test]
async fn a_default_fetch_from_a_hostile_repository_writes_nothing() {
    let repository = garbage_repository().await;
    let repo = repository.base.clone();
    let cases = [
        ("garbage", 400),
        ("html", 415),
        ("untyped", 415),
        ("huge", 413),
        ("lying", 413),
        ("partial", 400),
        ("error", 502),
        ("redirect", 502),
        ("never-ends", 502),
        ("never-answers", 502),
    ];
    let commands: Vec<Vec<String>> = cases
        .iter()
        .map(|(path, _)| {
            words(&[
                "DEFAULT",
                &format!("urn:x:{path}:1.0"),
                &format!("{repo}/{path}"),
            ])
        })
        .collect();
    let server = serve(one_package(package2(&commands))).await;
    let mut client = device(
        &server.base,
        Credentials::None,
        quick_transport(Duration::from_millis(300)),
    )
    .limits(dm_codec::Limits::default().with_mo_data_bytes(1024))
    .build()
    .expect("client");
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    let before = content(&client);
    for (path, status) in cases {
        let moid = moid(&format!("urn:x:{path}:1.0"));
        let started = Instant::now();
        let outcome = client.ensure_configuration(&moid).await;
        assert!(
            matches!(&outcome, Err(dm_client::Error::DefaultFetch { status: s, .. }) if s.as_u16() == status),
            "{path}: {outcome:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    assert!(content(&client) == before, "written:\n{}", content(&client));
    assert_eq!(server.requests().len(), 2, "no status reported to anyone");
}

#[tokio::test]
async fn a_server_that_never_ends_or_oversteps_is_cut_off() {
    // Never END: aborted at the package limit.
    let server = serve(|_| Reply::package(GET_MAN)).await;
    let mut client = builder(&server.base, Credentials::None, None)
        .session_limits(3, Duration::from_secs(60))
        .build()
        .expect("client");
    let report = client_initiated(&mut client).await;
    assert_eq!(
        report.end,
        ClientEnd::Aborted(AbortReason::TooManyPackages { packages: 3 })
    );
    assert_eq!(server.requests().len(), 3, "Package#1 and two Package#3");

    // A Package#2 over the byte limit, announced honestly or not: aborted
    // after reading just past the limit, without waiting for the rest.
    let big = package2(&vec![
        words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]);
        200
    ]);
    let body = big.clone();
    let server = serve_raw(move |seen| {
        if seen.target == "/honest/dm" {
            Conduct::Answer(response(
                200,
                &[("Content-Type", PACKAGE2)],
                body.as_bytes(),
            ))
        } else {
            Conduct::AnswerThenStall(
                [
                    response_head(
                        200,
                        &[
                            ("Content-Type", PACKAGE2),
                            ("Content-Length", "999999999999"),
                        ],
                    ),
                    body.as_bytes().to_vec(),
                ]
                .concat(),
            )
        }
    })
    .await;
    for path in ["/honest", "/lying"] {
        let mut client = builder(&format!("{}{path}", server.base), Credentials::None, None)
            .limits(dm_codec::Limits::default().with_package_bytes(2048))
            .build()
            .expect("client");
        let started = Instant::now();
        let report = client_initiated(&mut client).await;
        assert!(
            matches!(
                &report.end,
                ClientEnd::Aborted(AbortReason::PackageTooLarge { limit: 2048 })
            ),
            "{path}: {report}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    assert!(big.len() > 4096);
    assert_eq!(server.requests().len(), 2, "nothing after the abort");

    // More commands than the count limit: invalid, aborted.
    let many = package2(&vec![
        words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]);
        5000
    ]);
    let server = serve(move |_| Reply::package(many.clone())).await;
    let mut client = common::client(&server.base, Credentials::None);
    let report = client_initiated(&mut client).await;
    assert!(
        matches!(&report.end, ClientEnd::Aborted(reason @ AbortReason::InvalidPackage(_)) if reason.to_string().contains("4096")),
        "{report}"
    );
    assert_eq!(server.requests().len(), 1);

    // A server that stops answering Package#3: the session duration ends it.
    let server = serve_raw(|seen| {
        if seen.is_package1() {
            Conduct::Answer(response(
                200,
                &[("Content-Type", PACKAGE2)],
                GET_MAN.as_bytes(),
            ))
        } else {
            Conduct::Stall
        }
    })
    .await;
    let mut client = builder(&server.base, Credentials::None, None)
        .session_limits(64, Duration::from_millis(400))
        .build()
        .expect("client");
    let started = Instant::now();
    let report = client_initiated(&mut client).await;
    assert_eq!(report.end, ClientEnd::Aborted(AbortReason::SessionTooLong));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.requests().len(), 2);
}

/// Runs every EXEC in the background.
struct Runs;

impl NodeHandler for Runs {
    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        ExecOutcome::Started
    }
}

#[tokio::test]
async fn a_cont_to_another_origin_is_followed_and_the_credentials_follow_the_session() {
    // A second node of the "cluster": it challenges, then ends the session.
    let node2 = serve(with_basic(|seen| {
        if seen.is_package() {
            Reply::package(END)
        } else {
            Reply::status(404)
        }
    }))
    .await;
    let other = node2.base.clone();
    let server = serve(with_basic(move |seen| {
        if seen.is_package1() {
            Reply::package(package2(&[
                words(&["CONT", &format!("{other}/dm/s/node2")]),
                words(&["GET", "urn:oma:mo:oma-dm-devinfo:1.0//Man"]),
            ]))
        } else {
            Reply::package(END)
        }
    }))
    .await;
    let mut client = device(
        &server.base,
        Credentials::password("device-1", "open sesame"),
        transport(),
    )
    .build()
    .expect("client");
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");

    // Home saw only Package#1 (challenged, answered); the Package#3 went
    // to the CONT URI with the account's credentials (docs/protocol.md
    // section 2.1), the Basic challenge answered at home applying there.
    let home: Vec<Seen> = server.requests();
    assert_eq!(home.len(), 2, "{home:?}");
    assert!(home.iter().all(Seen::is_package1));
    let seen = node2.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/dm/s/node2");
    assert!(
        seen[0]
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic ")),
        "{seen:?}"
    );
    assert_eq!(statuses(&seen[0]), [200, 200]);
}

#[tokio::test]
async fn credentials_never_go_to_a_repository_or_report_uri_of_another_origin() {
    // Another origin that would love credentials.
    let elsewhere = serve(|seen| {
        if seen.header("authorization").is_some() {
            Reply::package(END)
        } else {
            Reply::status(401).header("WWW-Authenticate", r#"Basic realm="give me""#)
        }
    })
    .await;
    let other = elsewhere.base.clone();
    let home = Arc::new(Mutex::new(String::new()));
    let base = home.clone();
    let package3s = std::sync::atomic::AtomicUsize::new(0);
    let server = serve(with_basic(move |seen| {
        let home = base.lock().expect("lock").clone();
        let package3 = seen.is_package() && !seen.is_package1();
        let n = if package3 {
            package3s.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
        } else {
            0
        };
        if seen.is_package1() {
            Reply::package(package2(&[words(&[
                "GET",
                "urn:oma:mo:oma-dm-devinfo:1.0//Man",
            ])]))
        } else if n == 1 {
            Reply::package(package2(&[
                words(&["HGET", &format!("{home}/repo/new")]),
                words(&[
                    "SUB",
                    &format!("{NEW}/*/"),
                    &format!("{other}/repo/reports"),
                ]),
                words(&["HGET", &format!("{home}/repo/v"), &format!("{NEW}/*/v")]),
                words(&["EXEC", &format!("{NEW}/*/v"), &format!("{other}/report")]),
                words(&["HGET", &format!("{other}/repo/x")]),
                words(&[
                    "HPUT",
                    &format!("{other}/repo/up"),
                    "urn:oma:mo:oma-dm-devinfo:1.0//",
                ]),
                words(&[
                    "HPOST",
                    &format!("{other}/repo/post"),
                    "urn:oma:mo:oma-dm-devinfo:1.0//",
                ]),
            ]))
        } else if seen.target == "/repo/v" {
            Reply::mo_data(format!(
                r#"[{{"ClientURI":"{NEW}//v","MOData":{{"v":2}}}}]"#
            ))
        } else if seen.target == "/repo/new" {
            Reply::mo_data(format!(
                r#"[{{"ClientURI":"{NEW}//","MOData":{{"New":{{"v":1}}}}}}]"#
            ))
        } else {
            Reply::package(END)
        }
    }))
    .await;
    *home.lock().expect("lock") = server.base.clone();
    let mut client = device(
        &server.base,
        Credentials::password("device-1", "open sesame"),
        transport(),
    )
    .build()
    .expect("client");
    client.set_handler(moid(NEW), Arc::new(Runs));
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");

    let packages: Vec<Seen> = server
        .requests()
        .into_iter()
        .filter(Seen::is_package)
        .collect();
    // Package#1 (challenged, answered), two Package#3, all at SrvURI.
    assert_eq!(packages.len(), 4, "{packages:?}");
    assert!(packages.iter().all(|p| p.target == "/dm"));
    assert_eq!(statuses(&packages[2]), [200]);
    assert_eq!(statuses(&packages[3]), [200, 200, 200, 202, 502, 502, 502]);

    // The asynchronous EXEC's result goes to the other origin in a session
    // of its own: without credentials, so its 401 ends that session.
    client
        .exec_finished(
            &ClientUri::parse(&format!("{NEW}/*/v")).expect("uri"),
            StatusCode::OK,
        )
        .expect("running");
    let reports = client.deliver_pending_reports().await.expect("delivered");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].end, ClientEnd::Refused(401));
    assert_eq!(client.pending_reports(), 1, "kept for a later try");

    // The other origin saw the repository requests, never a credential, and
    // no package.
    let seen = elsewhere.requests();
    let targets: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.target))
        .collect();
    assert_eq!(
        targets,
        [
            "PUT /repo/reports",
            "GET /repo/x",
            "PUT /repo/up",
            "POST /repo/post",
            "POST /report"
        ],
        "{targets:?}"
    );
    assert!(
        seen.iter().all(|s| s.header("authorization").is_none()),
        "{seen:?}"
    );
    assert!(seen.iter().all(|s| s.header("cookie").is_none()));
}

#[tokio::test]
async fn a_server_cannot_grow_the_devices_state_without_bound() {
    let small = format!(r#"[{{"ClientURI":"{NEW}//","MOData":{{"New":{{"V":"small"}}}}}}]"#);
    let big = format!(
        r#"[{{"ClientURI":"{NEW}//","MOData":{{"New":{{"V":"{}"}}}}}}]"#,
        "x".repeat(4000)
    );
    let mut session = vec![];
    for i in 0..5 {
        session.push(words(&[
            "DEFAULT",
            &format!("urn:x:m{i}:1.0"),
            "{base}/repo/c",
        ]));
    }
    session.push(words(&["DEFAULT", "urn:x:m0:1.0", "{base}/repo/again"]));
    for node in ["Man", "Mod", "DevID"] {
        session.push(words(&[
            "SUB",
            &format!("{DEVINFO}//{node}"),
            "{base}/repo/changes",
        ]));
    }
    session.push(words(&["HGET", "{base}/repo/big"]));
    session.push(words(&["HGET", "{base}/repo/small"]));
    let server = serve(scripted(
        vec![session],
        vec![("/repo/big", big), ("/repo/small", small)],
    ))
    .await;
    let dir = scratch("hostile-growth");
    let state = dir.join("device.json");
    let build = |tree: MoTree| {
        DmClient::builder(devinfo())
            .tree(tree)
            .account(Account::new(hostile_account(&server.base)))
            .transport(transport())
            .state_file(&state)
            .default_uris_per_server(3)
            .build()
            .expect("client")
    };
    // The limit on data: what the device holds, plus room for SessionInfo
    // and a small instance, not for the big one.
    let held = build(MoTree::new()).tree().data_bytes();
    std::fs::remove_file(&state).expect("fresh state");
    let limited = || {
        let mut tree = MoTree::new();
        tree.set_limits(dm_tree::TreeLimits {
            data_bytes: held + 1000,
            subscriptions_per_server: 2,
        });
        tree
    };
    let mut client = build(limited());

    completed_session(&mut client, &server_id()).await;
    let (codes, text) = last_package3(&server);
    assert_eq!(
        codes,
        [200, 200, 200, 413, 413, 200, 200, 200, 413, 413, 200],
        "{text}"
    );
    assert_eq!(
        client
            .default_uri(&moid("urn:x:m0:1.0"))
            .map(ServerUri::as_str),
        Some(format!("{}/repo/again", server.base).as_str())
    );
    assert_eq!(client.default_uri(&moid("urn:x:m3:1.0")), None);
    assert_eq!(client.tree().subscriptions().len(), 2);
    let values: Vec<String> = client
        .tree()
        .instances_of(NEW)
        .map(|i| format!("{:?}", i.to_mo_data(dm_tree::NodeId::ROOT)))
        .collect();
    assert_eq!(values.len(), 1, "only the small instance: {values:?}");
    assert!(values[0].contains("small"), "{values:?}");
    // What was refused is not in the state file either, and a restart
    // keeps the allowance used up.
    let file = std::fs::read_to_string(&state).expect("state file");
    assert!(
        !file.contains("urn:x:m3:1.0") && !file.contains("xxxx"),
        "{file}"
    );
    drop(client);
    let client = build(limited());
    assert_eq!(client.tree().subscriptions().len(), 2);
    assert!(client.default_uri(&moid("urn:x:m2:1.0")).is_some());
    drop(client);
    let _ = std::fs::remove_dir_all(dir);
}

const ACLMO: &str = "urn:x:acl:1.0";
const SESSIONINFO: &str = "urn:oma:mo:oma-sessioninfomo:1.0";
const OTHER_KEY: &str = "other-servers-key";

/// A product instance the hostile server may write (its DACMO entry grants
/// every right) whose `Locked` subtree a DM 1.x ACL reserves for the other
/// server.
fn acl_tree() -> MoTree {
    let document = format!(
        r#"[{{"ClientURI":"{ACLMO}/a1/","MOData":{{"A":{{"Open":"o","Locked":{{"Key":"{OTHER_KEY}"}}}}}}}},
            {{"ClientURI":"{DACMO}/d1/","MOData":{{"DACMO":{{"MOID":"{ACLMO}","MIID":"a1",
              "ACL":{{"1":{{"ServerID":"{SERVER_ID}","Rights":"Read,Write,Exec,Delegate"}},
                      "2":{{"ServerID":"{OTHER_SERVER}","Rights":"Read,Write,Exec,Delegate"}}}}}}}}}}]"#
    );
    let mut tree = tree_of(&document);
    let instance = tree.instance_mut(ACLMO, "a1").expect("instance");
    let locked = instance.lookup(["Locked"]).expect("Locked");
    let acl = format!(
        "Get={OTHER_SERVER}&Replace={OTHER_SERVER}&Add={OTHER_SERVER}&Delete={OTHER_SERVER}"
    );
    instance.set_acl(locked, Some(acl.parse().expect("ACL")));
    tree
}

/// The hostile server's account for the observation attacks: every MOID of
/// the test in its Perm list, and a notification secret.
fn observer_account(base: &str) -> DmAcc {
    let mut account = hostile_account(base);
    account.perm_moids = [DEVINFO, DMACC, SESSIONINFO, ACLMO].map(moid).to_vec();
    account
}

/// The attack session: every probe with `secret` and `key` as the guessed
/// values of the notification secret and of the ACL-hidden key.
fn probes(secret: &str, key: &str) -> Vec<Vec<String>> {
    vec![
        words(&[
            "GET",
            &format!("{DMACC}/(x)/SrvID?nv=(x)/Auth/Noti/Secret:{secret}"),
        ]),
        words(&[
            "GET",
            &format!("{DMACC}/acc1/Auth/Noti/(x)?nv=(x):{secret}"),
        ]),
        words(&["GET", &format!("{ACLMO}/(x)/Open?nv=(x)/Locked/Key:{key}")]),
        words(&["GET", &format!("{DMACC}/acc1/Auth/Noti/Secret")]),
        words(&[
            "SUB",
            &format!("{DMACC}/acc1/Auth/Noti/Secret"),
            "{base}/reports",
        ]),
        words(&["GET", &format!("{ACLMO}/a1/Locked")]),
        words(&["SUB", &format!("{ACLMO}/a1/Locked"), "{base}/reports"]),
        words(&["HGET", "{base}/repo/devinfo"]),
        words(&["HGET", "{base}/repo/devinfo-renamed"]),
        words(&[
            "HGET",
            "{base}/repo/devinfo-root",
            &format!("{DEVINFO}/devinfo/"),
        ]),
        words(&["HGET", "{base}/repo/sessioninfo"]),
        words(&["HGET", "{base}/repo/acl-root"]),
        words(&["DELETE", &format!("{ACLMO}/a1/")]),
        words(&["SUB", &format!("{DMACC}/acc1/Auth"), "{base}/reports"]),
        words(&[
            "GET",
            &format!("{DMACC}/(x)/SrvID?nv=(x)/SrvID:{SERVER_ID}"),
        ]),
    ]
}

#[tokio::test]
async fn a_hostile_server_learns_nothing_from_guesses_or_subscriptions_and_the_device_restarts_as_itself()
 {
    const EVIL_DEV_ID: &str = "IMEI:000000000000000";
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let right = probes(&b64(SECRET), OTHER_KEY);
    let wrong = probes(&b64(b"a wrong guess"), "a-wrong-key");
    let forged = |name: &str| {
        format!(
            r#"[{{"ClientURI":"{DEVINFO}//","MOData":{{"{name}":{{"DevID":"{EVIL_DEV_ID}","Man":"Evil","Mod":"E","DmV":"2.0","Lang":"en","DevType":"","OEM":"","FwV":"","SwV":"","HwV":""}}}}}}]"#
        )
    };
    let server = serve(scripted(
        vec![right.clone(), wrong.clone(), right, wrong, vec![words(&["GET", &format!("{DEVINFO}//DevID")])]],
        vec![
            ("/repo/devinfo", forged("DevInfo")),
            ("/repo/devinfo-renamed", forged("Evil")),
            (
                "/repo/devinfo-root",
                format!(r#"[{{"ClientURI":"{DEVINFO}/devinfo/","MOData":{{"Evil":{{"DevID":"{EVIL_DEV_ID}"}}}}}}]"#),
            ),
            (
                "/repo/sessioninfo",
                format!(r#"[{{"ClientURI":"{SESSIONINFO}//","MOData":{{"SessionInfo":{{"CBT":"WLAN"}}}}}}]"#),
            ),
            (
                "/repo/acl-root",
                format!(r#"[{{"ClientURI":"{ACLMO}/a1/","MOData":{{"A":{{"Open":"mine"}}}}}}]"#),
            ),
        ],
    ))
    .await;
    let dir = scratch("observe");
    let state = dir.join("device.json");
    let build = || {
        DmClient::builder(devinfo())
            .tree(acl_tree())
            .account(Account::new(observer_account(&server.base)))
            .account(Account::new(other_account(true)))
            .transport(transport())
            .state_file(&state)
            .build()
            .expect("client")
    };
    let mut client = build();
    // The instances (the one legitimate SUB adds a subscription).
    let instances = |client: &DmClient| {
        let snapshot: serde_json::Value =
            serde_json::from_slice(&client.tree().to_snapshot()).expect("snapshot JSON");
        snapshot["instances"].to_string()
    };
    let before = instances(&client);

    // Right and wrong guesses, twice each: every Package#3 is byte for
    // byte the same, and the tree is untouched.
    let mut answers = Vec::new();
    for _ in 0..4 {
        completed_session(&mut client, &server_id()).await;
        answers.push(server.requests().pop().expect("Package#3"));
    }
    let (codes, text) = (statuses(&answers[0]), answers[0].text());
    assert_eq!(
        codes,
        [
            404, 404, 404, 405, 405, 403, 403, 405, 405, 403, 405, 403, 403, 200, 200
        ],
        "{text}"
    );
    for answer in &answers[1..] {
        assert_eq!(answer.body, answers[0].body, "a guess changed an answer");
    }
    // A SUB is refused exactly like the GET of the same node.
    assert_eq!(codes[3], codes[4]);
    assert_eq!(codes[5], codes[6]);
    for leak in [
        b64(SECRET),
        b64(OTHER_SECRET),
        OTHER_KEY.to_owned(),
        "Secret".to_owned(),
        "Locked".to_owned(),
        EVIL_DEV_ID.to_owned(),
    ] {
        assert!(!text.contains(&leak), "{leak} leaked: {text}");
    }
    assert_eq!(instances(&client), before, "the tree changed");
    assert_eq!(client.tree().instances_of(DEVINFO).count(), 1);
    assert_eq!(client.tree().instances_of(SESSIONINFO).count(), 0);
    assert_eq!(
        client.tree().subscriptions().len(),
        1,
        "only the SUB of Auth"
    );

    // The device changes the secret: the subscription on Auth reports
    // nothing. It changes Auth/Noti/Data: one report, without the secret.
    let write = |path: &'static [&'static str], value: dm_types::LeafValue| {
        move |tree: &mut MoTree| {
            let instance = tree.instance_mut(DMACC, "acc1").expect("acc1");
            let names: Vec<dm_types::NodeName> = path
                .iter()
                .map(|n| dm_types::NodeName::new(*n).expect("name"))
                .collect();
            let data = dm_types::MoData::new(
                names.last().expect("name").clone(),
                dm_types::MoNode::Leaf(value),
            );
            let id = instance.write(&names, &data)?;
            Ok(vec![instance.client_uri(id)])
        }
    };
    let reports = || server.requests_to("/reports");
    let delivered = client
        .update(write(
            &["Auth", "Noti", "Secret"],
            dm_types::LeafValue::Binary(b"a new secret".to_vec()),
        ))
        .await
        .expect("updated");
    assert_eq!((delivered, reports().len()), (0, 0));
    let delivered = client
        .update(write(
            &["Auth", "Noti", "Data"],
            dm_types::LeafValue::Binary(b"new auth data".to_vec()),
        ))
        .await
        .expect("updated");
    assert_eq!((delivered, reports().len()), (1, 1));
    let report = reports()[0].text();
    assert!(report.contains(&b64(b"new auth data")), "{report}");
    for leak in [b64(b"a new secret"), b64(SECRET), "Secret".to_owned()] {
        assert!(!report.contains(&leak), "{leak} leaked: {report}");
    }
    // The same secret change after a restart reports nothing either.
    drop(client);
    let mut client = build();
    let delivered = client
        .update(write(
            &["Auth", "Noti", "Secret"],
            dm_types::LeafValue::Binary(b"yet another".to_vec()),
        ))
        .await
        .expect("updated");
    assert_eq!((delivered, reports().len()), (0, 1));

    // The device restarts from its state file as itself and runs a normal
    // session.
    drop(client);
    assert_eq!(
        DmClient::stored_dev_id(&state)
            .expect("readable")
            .map(|id| id.as_str().to_owned()),
        Some(DEV_ID.to_owned())
    );
    let mut client = build();
    assert_eq!(client.dev_id().as_str(), DEV_ID);
    assert_eq!(client.tree().instances_of(DEVINFO).count(), 1);
    completed_session(&mut client, &server_id()).await;
    let requests = server.requests();
    let package3 = requests.last().expect("Package#3");
    assert_eq!(statuses(package3), [200]);
    assert!(package3.text().contains(DEV_ID), "{}", package3.text());
    assert!(
        requests
            .iter()
            .filter(|s| s.is_package())
            .all(|s| s.header("omadm-devid") == Some(DEV_ID)),
        "every package carried the device's own DevID"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_damaged_state_file_loads_as_the_device_itself_or_says_how_to_recover() {
    const EVIL_DEV_ID: &str = "IMEI:000000000000000";
    let dir = scratch("damaged-state");
    let path = dir.join("device.json");
    let build = || {
        DmClient::builder(devinfo())
            .account(Account::new(hostile_account("http://127.0.0.1:9")))
            .transport(transport())
            .state_file(&path)
            .build()
    };
    drop(build().expect("first start"));
    let good: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("state file")).expect("JSON");
    assert_eq!(good["state"]["dev_id"], DEV_ID, "the DevID is recorded");
    let devinfo_entry = |miid: &str, creator: serde_json::Value, dev_id: &str| {
        serde_json::json!({
            "acls": [], "creator": creator, "epoch": 99, "modifications": 0,
            "item": {"ClientURI": format!("{DEVINFO}/{miid}/"),
                     "MOData": {"DevInfo": {"DevID": dev_id, "Man": "Evil"}}},
        })
    };
    let write = |document: &serde_json::Value| {
        std::fs::write(&path, serde_json::to_vec(document).expect("JSON")).expect("write");
    };
    let stored = || DmClient::stored_dev_id(&path).map(|id| id.map(|id| id.as_str().to_owned()));
    let devinfo_ids = |client: &DmClient| -> Vec<(String, String)> {
        client
            .tree()
            .instances_of(DEVINFO)
            .map(|i| {
                let id = i.lookup(["DevID"]).and_then(|n| i.value(n)).expect("DevID");
                (i.miid().as_str().to_owned(), id.to_text().into_owned())
            })
            .collect()
    };
    let own = vec![("devinfo".to_owned(), DEV_ID.to_owned())];

    // A second DevInfo a server created (what an older version let a
    // hostile HGET make), sorting before the device's own: ignored,
    // removed, and the device stays itself.
    let mut forged = good.clone();
    let instances = forged["tree"]["instances"]
        .as_array_mut()
        .expect("instances");
    instances.insert(0, devinfo_entry("1", SERVER_ID.into(), EVIL_DEV_ID));
    // And a subscription to the account's secret (an older version took
    // it): dropped, it could report nothing anyway.
    forged["tree"]["subscriptions"] = serde_json::json!([{
        "server": SERVER_ID,
        "target": format!("{DMACC}/acc1/Auth/Noti/Secret"),
        "report_to": "http://127.0.0.1:9/reports",
    }]);
    write(&forged);
    // The repaired state is a fixed point (what the client_state fuzz
    // target checks on arbitrary files).
    let builder = || {
        DmClient::builder(devinfo())
            .account(Account::new(hostile_account("http://127.0.0.1:9")))
            .transport(transport())
            .state_file(&path)
    };
    let bytes = serde_json::to_vec(&forged).expect("JSON");
    let once = builder()
        .build_with_state(&bytes)
        .expect("loads")
        .state_file_bytes();
    let twice = builder()
        .build_with_state(&once)
        .expect("loads again")
        .state_file_bytes();
    assert_eq!(once, twice);
    assert_eq!(stored().expect("readable"), Some(DEV_ID.to_owned()));
    let client = build().expect("loads");
    assert_eq!(client.dev_id().as_str(), DEV_ID);
    assert_eq!(devinfo_ids(&client), own);
    drop(client);
    let repaired = DmClient::stored_tree(&path)
        .expect("readable")
        .expect("file");
    assert!(repaired.subscriptions().is_empty(), "the repair was saved");
    assert_eq!(
        repaired.instances_of(DEVINFO).count(),
        1,
        "the repair was saved"
    );

    // The same in a file of an older version (no recorded DevID).
    let mut old = forged.clone();
    old["state"]
        .as_object_mut()
        .expect("state")
        .remove("dev_id");
    write(&old);
    assert_eq!(stored().expect("readable"), Some(DEV_ID.to_owned()));
    let client = build().expect("loads");
    assert_eq!(devinfo_ids(&client), own);
    drop(client);

    // The device's DevInfo says another DevID than the recorded one: the
    // recorded one stands and DevInfo is rewritten.
    let mut altered = good.clone();
    for entry in altered["tree"]["instances"]
        .as_array_mut()
        .expect("instances")
    {
        if entry["item"]["ClientURI"] == format!("{DEVINFO}/devinfo/") {
            entry["item"]["MOData"]["DevInfo"]["DevID"] = EVIL_DEV_ID.into();
        }
    }
    write(&altered);
    assert_eq!(stored().expect("readable"), Some(DEV_ID.to_owned()));
    let client = build().expect("loads");
    assert_eq!(devinfo_ids(&client), own);
    drop(client);

    // Two DevInfo instances of the device's own with different DevIDs and
    // no recorded DevID cannot be repaired: a precise error with the way
    // out, from both the build and stored_dev_id.
    let mut ambiguous = good.clone();
    ambiguous["state"]
        .as_object_mut()
        .expect("state")
        .remove("dev_id");
    ambiguous["tree"]["instances"]
        .as_array_mut()
        .expect("instances")
        .insert(0, devinfo_entry("1", serde_json::Value::Null, EVIL_DEV_ID));
    write(&ambiguous);
    for err in [stored().unwrap_err(), build().unwrap_err()] {
        let text = err.to_string();
        assert!(
            matches!(err, dm_client::Error::StateCorrupt { .. })
                && text.contains("2 DevInfo instances (1, devinfo)")
                && text.contains("delete the file"),
            "{text}"
        );
    }

    // A file larger than any state file may be: refused unread, with the
    // way out.
    let file = std::fs::File::create(&path).expect("file");
    file.set_len((256 << 20) + 1).expect("sparse file");
    drop(file);
    for err in [stored().unwrap_err(), build().unwrap_err()] {
        let text = err.to_string();
        assert!(
            text.contains("256 MiB") && text.contains("move it aside"),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
