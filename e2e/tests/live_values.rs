//! Live values end to end: a real `DmClient` whose battery level comes from
//! a `NodeHandler`, against a real in-process `DmServer` on loopback.
//! The instance's cache validator follows the live value, and the product's
//! change signal (`DmClient::notify_changed`) reaches the subscribers.

use dm_test_support::device as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::{builder, client_initiated, tree_of};
use dm_client::{Credentials, DmClient};
use dm_server::{
    CommandId, CommandRecord, CommandState, DeviceRegistration, DmServer, MemoryStore,
    ServerOptions, UdpChannel,
};
use dm_tree::{ExecOutcome, NodeHandler};
use dm_types::{ClientUri, Command, DevId, LeafValue, Moid, StatusCode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const USER: &str = "device-1";
const PASSWORD: &str = "correct horse";
const BATTERY: &str = "urn:x:battery:1.0";

/// The battery level, as the product's hardware reports it.
struct Battery {
    level: AtomicI64,
}

impl NodeHandler for Battery {
    fn read(&self, node: &ClientUri) -> Option<LeafValue> {
        node.as_str()
            .ends_with("/Level")
            .then(|| LeafValue::Int(self.level.load(Ordering::SeqCst)))
    }

    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        ExecOutcome::Done(StatusCode::COMMAND_NOT_ALLOWED)
    }
}

/// A server on a loopback port with the test device registered, stopped
/// when dropped.
struct Node {
    server: DmServer<MemoryStore, UdpChannel>,
    base: String,
    task: JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Node {
    async fn start() -> Node {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let options = ServerOptions::builder()
            .server_id(common::SERVER_ID)
            .admin_token("live-admin-token")
            .build()
            .expect("options");
        let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
        let admin = server.admin();
        let registration =
            DeviceRegistration::new(dev_id()).with_password(USER, PASSWORD, admin.realm());
        admin
            .register_device(registration, false)
            .await
            .expect("registered");
        let serving = server.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, std::future::pending())
                .await
                .expect("serves");
        });
        Node { server, base, task }
    }

    async fn enqueue(&self, words: &[&str]) -> CommandId {
        let command = Command::from_words(words).expect("command");
        self.server
            .admin()
            .enqueue(&dev_id(), command)
            .await
            .expect("queued")
    }

    async fn result(&self, id: CommandId) -> CommandRecord {
        let record = self
            .server
            .admin()
            .command(&dev_id(), id)
            .await
            .expect("command");
        assert_eq!(record.state, CommandState::Done, "{record:?}");
        record
    }
}

fn dev_id() -> DevId {
    DevId::new(common::DEV_ID).expect("DevID")
}

/// A client whose battery instance `bat` has a live `Level`.
fn battery_client(base: &str) -> (DmClient, Arc<Battery>) {
    let tree = tree_of(&format!(
        r#"[{{"ClientURI":"{BATTERY}/bat/","MOData":{{"Battery":{{"Level":0,"Model":"X1"}}}}}}]"#
    ));
    let mut client = builder(base, Credentials::password(USER, PASSWORD), None)
        .transport(common::transport())
        .tree(tree)
        .build()
        .expect("client");
    let battery = Arc::new(Battery {
        level: AtomicI64::new(87),
    });
    client.set_handler(Moid::new(BATTERY).expect("MOID"), battery.clone());
    (client, battery)
}

/// The level and `CV` of a GET result of the battery's root.
fn level_and_cv(record: &CommandRecord) -> (i64, String) {
    let status = record.result.as_ref().expect("status");
    assert_eq!(status.code, StatusCode::OK, "{record:?}");
    let item = &status.data[0];
    let json = String::from_utf8(dm_codec::encode_mo_serialization(&status.data)).expect("UTF-8");
    let level: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let level = level[0]["MOData"]["Battery"]["Level"]
        .as_i64()
        .expect("a level");
    let cv = item.cache_validator.as_ref().expect("CV at the root");
    (level, cv.to_string())
}

#[tokio::test]
async fn a_live_value_changes_the_cache_validator_and_reaches_subscribers() {
    let node = Node::start().await;
    let (mut client, battery) = battery_client(&node.base);
    let root = format!("{BATTERY}/bat/");
    let reports = format!("{}/repo/reports/battery", node.base);
    let first = node.enqueue(&["GET", &root]).await;
    let sub = node
        .enqueue(&["SUB", &format!("{BATTERY}/bat/Level"), &reports])
        .await;
    assert!(client_initiated(&mut client).await.completed());
    let (level, cv) = level_and_cv(&node.result(first).await);
    assert_eq!(level, 87);
    assert_eq!(
        node.result(sub).await.result.expect("status").code,
        StatusCode::OK
    );

    // Unchanged: the validator answers 304 (the server shows the copy it
    // kept with that validator).
    let cached = format!("{root}?cv={cv}");
    let unchanged = node.enqueue(&["GET", &cached]).await;
    assert!(client_initiated(&mut client).await.completed());
    let record = node.result(unchanged).await;
    assert_eq!(
        record.result.as_ref().expect("status").code,
        StatusCode::NOT_MODIFIED
    );
    assert!(record.from_cache);

    // The hardware's value changes and the product signals it: the
    // subscriber gets the live value, through the one change-report path.
    battery.level.store(50, Ordering::SeqCst);
    let level_uri = ClientUri::parse(&format!("{BATTERY}/bat/Level")).expect("ClientURI");
    assert_eq!(
        client.notify_changed(&level_uri).await.expect("signalled"),
        1
    );
    let report = node
        .server
        .admin()
        .repository("reports/battery")
        .await
        .expect("store")
        .expect("the change report");
    assert!(report.body.contains(r#""Level":50"#), "{}", report.body);

    // The old validator no longer matches: the data comes, with a new one.
    let changed = node.enqueue(&["GET", &cached]).await;
    assert!(client_initiated(&mut client).await.completed());
    let (level, fresh) = level_and_cv(&node.result(changed).await);
    assert_eq!(level, 50);
    assert_ne!(fresh, cv);

    // A change nobody signals still changes what the validator covers.
    battery.level.store(49, Ordering::SeqCst);
    let unsignalled = node.enqueue(&["GET", &format!("{root}?cv={fresh}")]).await;
    assert!(client_initiated(&mut client).await.completed());
    let (level, _) = level_and_cv(&node.result(unsignalled).await);
    assert_eq!(level, 49, "never a 304 for a value that changed");

    // A signal for a node that does not exist is refused, and sends nothing.
    let nowhere = ClientUri::parse(&format!("{BATTERY}/bat/Nope")).expect("ClientURI");
    let err = client
        .notify_changed(&nowhere)
        .await
        .expect_err("no such node");
    assert!(
        matches!(err, dm_client::Error::Tree(ref e) if e.status() == StatusCode::NOT_FOUND),
        "{err}"
    );
}

/// Queues `command` through the admin HTTP API with `"use_cache": true`;
/// returns the command's id.
async fn queue_cached(node: &Node, command: &[&str]) -> CommandId {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let response = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("HTTP client")
        .post(format!(
            "{}/admin/devices/{}/commands",
            node.base,
            common::DEV_ID.replace(':', "%3A")
        ))
        .bearer_auth("live-admin-token")
        .header("Content-Type", "application/json")
        .body(serde_json::json!({"command": command, "use_cache": true}).to_string())
        .send()
        .await
        .expect("the admin API answers");
    assert_eq!(response.status(), 201);
    let body: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.expect("body")).expect("JSON");
    body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("a command id")
}

#[tokio::test]
async fn a_cached_get_is_answered_from_the_servers_copy_until_the_live_value_changes() {
    let node = Node::start().await;
    let (mut client, battery) = battery_client(&node.base);
    let root = format!("{BATTERY}/bat/");
    let first = node.enqueue(&["GET", &root]).await;
    assert!(client_initiated(&mut client).await.completed());
    let (_, cv) = level_and_cv(&node.result(first).await);

    // The server asks with the validator it kept; the device answers 304
    // and the result shows the server's copy, marked as such.
    let cached = queue_cached(&node, &["GET", &root]).await;
    assert!(client_initiated(&mut client).await.completed());
    let record = node.result(cached).await;
    assert_eq!(
        record.command.params().collect::<Vec<_>>(),
        [format!("{root}?cv={cv}")]
    );
    assert!(record.from_cache, "{record:?}");
    let status = record.result.as_ref().expect("status");
    assert_eq!(status.code, StatusCode::NOT_MODIFIED);
    let json = String::from_utf8(dm_codec::encode_mo_serialization(&status.data)).expect("UTF-8");
    assert!(json.contains(r#""Level":87"#), "{json}");

    // The live value changes: the device sends the new data, never a 304.
    battery.level.store(60, Ordering::SeqCst);
    let changed = queue_cached(&node, &["GET", &root]).await;
    assert!(client_initiated(&mut client).await.completed());
    let record = node.result(changed).await;
    assert!(!record.from_cache);
    let (level, fresh) = level_and_cv(&record);
    assert_eq!(level, 60);
    assert_ne!(fresh, cv);

    // And the copy the server now keeps is the new one.
    let again = queue_cached(&node, &["GET", &root]).await;
    assert!(client_initiated(&mut client).await.completed());
    let record = node.result(again).await;
    assert!(record.from_cache);
    let status = record.result.as_ref().expect("status");
    let json = String::from_utf8(dm_codec::encode_mo_serialization(&status.data)).expect("UTF-8");
    assert!(json.contains(r#""Level":60"#), "{json}");
}

/// The change report stored at `reports/battery`, if any.
async fn battery_report(node: &Node) -> Option<String> {
    node.server
        .admin()
        .repository("reports/battery")
        .await
        .expect("store")
        .map(|object| object.body)
}

#[tokio::test]
async fn changes_signalled_from_another_thread_are_reported() {
    let node = Node::start().await;
    let (mut client, battery) = battery_client(&node.base);
    let reports = format!("{}/repo/reports/battery", node.base);
    let level = format!("{BATTERY}/bat/Level");
    let sub = node.enqueue(&["SUB", &level, &reports]).await;
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(
        node.result(sub).await.result.expect("status").code,
        StatusCode::OK
    );
    let level = ClientUri::parse(&level).expect("ClientURI");

    // Signals sent from a sensor thread, handled on demand: the same node
    // signalled twice is reported once; a node the tree lacks is skipped.
    let signal = client.change_signal();
    let sensor = {
        let (battery, signal, level) = (battery.clone(), signal.clone(), level.clone());
        std::thread::spawn(move || {
            battery.level.store(42, Ordering::SeqCst);
            assert!(signal.changed(level.clone()));
            assert!(signal.changed(level));
            assert!(
                signal
                    .changed(ClientUri::parse(&format!("{BATTERY}/bat/Nope")).expect("ClientURI"))
            );
        })
    };
    sensor.join().expect("the sensor thread signalled");
    assert_eq!(client.take_changes().await.expect("handled"), 1);
    let report = battery_report(&node).await.expect("a report");
    assert!(report.contains(r#""Level":42"#), "{report}");
    assert_eq!(client.take_changes().await.expect("nothing left"), 0);

    // While the client listens for notifications, a signal is handled as
    // it comes.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    battery.level.store(33, Ordering::SeqCst);
    assert!(signal.changed(level));
    let reported = async {
        loop {
            if battery_report(&node)
                .await
                .is_some_and(|r| r.contains(r#""Level":33"#))
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.listen_udp(&socket, reported),
    )
    .await
    .expect("the report arrives while listening")
    .expect("listened");
}
