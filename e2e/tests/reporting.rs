//! Against a real `DmServer` on loopback: how the device reports what the
//! protocol leaves to it — results of EXECs with a ServerURI (also when the
//! handler finished at once), alerts the product raises (every field, kept
//! across a restart), SHOW through the product's browser component, `503`
//! while the device is busy, and the first failure of commands with
//! several targets (docs/protocol.md sections 3.5, 4, 5 and 6).

use dm_test_support::device as common;

use std::sync::{Arc, Mutex};

use common::{DEV_ID, SERVER_ID, builder, client_initiated, scratch, server_id};
use dm_client::{BrowserLauncher, ClientEvent, Credentials, Delivery, DmClient, Error};
use dm_server::{
    CommandId, CommandState, DeviceRegistration, DmServer, MemoryStore, ServerOptions, UdpChannel,
};
use dm_tree::{ExecOutcome, MoTree, NodeHandler, Principal};
use dm_types::{
    Alert, AlertType, ClientUri, Command, DevId, JsonObject, Mark, Moid, ServerUri, StatusCode,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const USER: &str = "device-1";
const PASSWORD: &str = "correct horse";
const ADMIN_TOKEN: &str = "reporting-admin-token";
const FUMO: &str = "urn:oma:mo:oma-fumo:1.0";
const FUMO_UPDATE: &str = "org.openmobilealliance.dm.firmwareupdate.update";
const FIXED: &str = "urn:x:fixed:1.0";
/// `Serial` is permanent, `Key` cannot be read, `Note` is ordinary.
const FIXED_DDF: &str = r"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName/><DFProperties>
    <AccessType><Add/><Delete/><Get/><Replace/></AccessType><DFFormat><node/></DFFormat>
    <Occurrence><ZeroOrMore/></Occurrence><DFType><DDFName>urn:x:fixed:1.0</DDFName></DFType></DFProperties>
    <Node><NodeName>Serial</NodeName><DFProperties><AccessType><Add/><Get/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Permanent/></Scope></DFProperties></Node>
    <Node><NodeName>Key</NodeName><DFProperties><AccessType><Add/><Delete/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Dynamic/></Scope></DFProperties></Node>
    <Node><NodeName>Note</NodeName><DFProperties><AccessType><Add/><Delete/><Get/><Replace/></AccessType>
    <DFFormat><chr/></DFFormat><Occurrence><ZeroOrOne/></Occurrence><Scope><Dynamic/></Scope></DFProperties></Node>
    </Node></MgmtTree>";

/// A `DmServer` (memory store) on a loopback port with the test device
/// registered, stopped when dropped.
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
        let options = ServerOptions::builder()
            .server_id(SERVER_ID)
            .admin_token(ADMIN_TOKEN)
            .build()
            .expect("options");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
        let serving = server.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, std::future::pending())
                .await
                .expect("serves");
        });
        let realm = server.admin().realm().to_owned();
        server
            .admin()
            .register_device(
                DeviceRegistration::new(dev_id()).with_password(USER, PASSWORD, &realm),
                false,
            )
            .await
            .expect("registered");
        Node {
            server,
            base: format!("http://{address}"),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn enqueue(&self, words: &[&str]) -> CommandId {
        let command = Command::from_words(words).expect("a valid command");
        self.server
            .admin()
            .enqueue(&dev_id(), command)
            .await
            .expect("queued")
    }

    /// The status code of a command, asserting it is done.
    async fn status(&self, id: CommandId) -> u16 {
        let record = self
            .server
            .admin()
            .command(&dev_id(), id)
            .await
            .expect("the command exists");
        assert_eq!(record.state, CommandState::Done, "{record:?}");
        record.result.expect("a status").code.as_u16()
    }

    async fn alerts(&self) -> Vec<Alert> {
        self.server
            .admin()
            .alerts(&dev_id())
            .await
            .expect("alerts")
            .into_iter()
            .map(|record| record.alert)
            .collect()
    }

    /// The alerts as the admin HTTP API shows them.
    async fn alerts_over_http(&self) -> serde_json::Value {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let answer = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .build()
            .expect("HTTP client")
            .get(self.url("/admin/devices/IMEI%3A493005100592800/alerts"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin API answers");
        assert_eq!(answer.status().as_u16(), 200);
        let body = answer.bytes().await.expect("body");
        serde_json::from_slice(&body).expect("JSON")
    }
}

fn dev_id() -> DevId {
    DevId::new(DEV_ID).expect("DevID")
}

fn uri(text: &str) -> ClientUri {
    ClientUri::parse(text).expect("ClientURI")
}

/// FUMO instance `fw` with `Download` and `Update`, and the fixed MO's
/// instance `f` (a DDF with a permanent and an unreadable node); the server
/// holds every right but Delegate on both.
fn device_tree() -> MoTree {
    let mut tree = MoTree::new();
    let definition = dm_ddf::MoDefinition::parse(FIXED_DDF.as_bytes()).expect("DDF");
    tree.define(Moid::new(FIXED).expect("MOID"), Arc::new(definition));
    let document = format!(
        r#"[{{"ClientURI":"{FUMO}//","MOData":{{"fw":{{"Download":"","Update":"","State":10}}}}}},
            {{"ClientURI":"{FIXED}//","MOData":{{"f":{{"Serial":"S1","Key":"k","Note":"n"}}}}}},
            {{"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0//","MOData":{{"DACMO":{{"MOID":"{FUMO}","MIID":"1",
              "ACL":{{"1":{{"ServerID":"{SERVER_ID}","Rights":"Read,Write,Exec"}}}}}}}}}},
            {{"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0//","MOData":{{"DACMO":{{"MOID":"{FIXED}","MIID":"1",
              "ACL":{{"1":{{"ServerID":"{SERVER_ID}","Rights":"Read,Write,Exec"}}}}}}}}}}]"#
    );
    let items =
        dm_codec::decode_mo_serialization(document.as_bytes(), &dm_codec::Limits::default())
            .expect("items");
    tree.write(&Principal::Device, None, &items)
        .expect("the device writes its MOs");
    tree
}

/// FUMO: `Download` finishes at once; `Update` runs on and is reported
/// later. Results go with FUMO's own alert type.
struct Fumo;

impl NodeHandler for Fumo {
    fn exec(
        &self,
        node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        if node.as_str().ends_with("/Download") {
            ExecOutcome::Done(StatusCode::OK)
        } else {
            ExecOutcome::Started
        }
    }

    fn result_alert(&self, node: &ClientUri, status: StatusCode) -> Alert {
        let mut alert = Alert::new(AlertType::new(FUMO_UPDATE).expect("type"));
        alert.source_uri = Some(node.to_string());
        alert.data_type = Some("int".into());
        let mut data = JsonObject::new();
        data.insert("DM1x".into(), status.as_u16().to_string().into());
        alert.data = Some(data);
        alert
    }
}

/// The test device, with FUMO's handler, storing its state at `state`.
fn client(node: &Node, state: Option<&std::path::Path>) -> DmClient {
    let mut builder =
        builder(&node.base, Credentials::password(USER, PASSWORD), None).tree(device_tree());
    if let Some(path) = state {
        builder = builder.state_file(path);
    }
    let mut client = builder.build().expect("client");
    client.set_handler(Moid::new(FUMO).expect("MOID"), Arc::new(Fumo));
    client
}

#[tokio::test]
async fn an_exec_with_a_server_uri_that_finishes_at_once_is_reported_in_a_new_session() {
    let node = Node::start().await;
    let dir = scratch("exec-at-once");
    let state = dir.join("device.json");
    let report_to = node.url("/dm");
    let download = format!("{FUMO}//Download");
    let with_uri = node.enqueue(&["EXEC", &download, &report_to]).await;
    let without = node.enqueue(&["EXEC", &download]).await;
    let mut device = client(&node, Some(&state));
    let report = client_initiated(&mut device).await;
    assert!(report.completed(), "{report}");
    // A ServerURI forces asynchronous reporting: 202, even though the
    // handler finished at once; without one, the status itself.
    assert_eq!(node.status(with_uri).await, 202);
    assert_eq!(node.status(without).await, 200);
    assert!(
        report
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::ExecFinished { report_to: uri, .. } if uri.as_str() == report_to)),
        "{:?}",
        report.events
    );
    assert!(node.alerts().await.is_empty(), "not in the same session");
    assert_eq!(device.pending_reports(), 1);
    assert!(device.running_execs().is_empty(), "nothing is left running");

    // The result survives a restart ...
    drop(device);
    let mut device = client(&node, Some(&state));
    assert_eq!(device.pending_reports(), 1);
    // ... and goes in a new session to the ServerURI, with FUMO's type.
    let reports = device.deliver_pending_reports().await.expect("delivered");
    assert_eq!(reports.len(), 1);
    assert!(reports[0].completed(), "{}", reports[0]);
    assert_eq!(reports[0].alerts_delivered, 1);
    assert_eq!(device.pending_reports(), 0);
    let alerts = node.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].alert_type.as_str(), FUMO_UPDATE);
    assert_eq!(alerts[0].source_uri.as_deref(), Some(download.as_str()));
    assert_eq!(alerts[0].data_type.as_deref(), Some("int"));
    assert_eq!(
        alerts[0].data.as_ref().and_then(|d| d.get("DM1x")),
        Some(&serde_json::json!("200"))
    );
    let sessions = node
        .server
        .admin()
        .device(&dev_id())
        .await
        .expect("device")
        .sessions;
    assert_eq!(sessions.len(), 2, "the result came in a session of its own");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_result_reported_later_uses_the_handlers_alert_type() {
    let node = Node::start().await;
    let update = format!("{FUMO}//Update");
    let exec = node.enqueue(&["EXEC", &update, &node.url("/dm")]).await;
    let mut device = client(&node, None);
    let report = client_initiated(&mut device).await;
    assert!(report.completed(), "{report}");
    assert_eq!(node.status(exec).await, 202);
    device
        .exec_finished(&uri(&update), StatusCode::new(410).expect("status"))
        .expect("running");
    device.deliver_pending_reports().await.expect("delivered");
    let alerts = node.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].alert_type.as_str(), FUMO_UPDATE);
    assert_eq!(
        alerts[0].data.as_ref().and_then(|d| d.get("DM1x")),
        Some(&serde_json::json!("410"))
    );
}

/// An alert with every member set.
fn battery_alert(level: u64) -> Alert {
    let mut alert = Alert::new(AlertType::new("urn:x:acme:at:battery-low").expect("type"));
    alert.source_uri = Some("urn:x:acme:battery:1.0//Level".into());
    alert.target_uri = Some("https://care.acme.example/battery".into());
    alert.mark = Some(Mark::Critical);
    alert.data_type = Some("application/json".into());
    let mut data = JsonObject::new();
    data.insert("Level".into(), level.into());
    data.insert("Charging".into(), false.into());
    alert.data = Some(data);
    alert
}

#[tokio::test]
async fn raised_alerts_reach_the_server_with_every_field_and_survive_a_restart() {
    let node = Node::start().await;
    let dir = scratch("raise-alert");
    let state = dir.join("device.json");
    let mut device = client(&node, Some(&state));
    let server = server_id();

    // Refused: session-start types, servers without an account.
    let err = device
        .raise_alert(&server, Alert::client_initiated(), Delivery::NextSession)
        .await
        .expect_err("session-start type");
    assert!(matches!(err, Error::SessionStartAlert(_)), "{err}");
    let stranger = dm_types::ServerId::new("elsewhere").expect("id");
    let err = device
        .raise_alert(&stranger, battery_alert(1), Delivery::Now)
        .await
        .expect_err("no account");
    assert!(matches!(err, Error::UnknownServer(_)), "{err}");
    // Data nested past the depth limit could not be read back: refused.
    let mut deep = serde_json::json!({});
    for _ in 0..100 {
        deep = serde_json::json!({ "n": deep });
    }
    let mut nested = battery_alert(1);
    nested.data = deep.as_object().cloned();
    let err = device
        .raise_alert(&server, nested, Delivery::NextSession)
        .await
        .expect_err("too deep");
    assert!(matches!(err, Error::InvalidAlert(_)), "{err}");
    assert_eq!(device.pending_reports(), 0);

    // The next session carries it, even after a restart.
    let queued = device
        .raise_alert(&server, battery_alert(7), Delivery::NextSession)
        .await
        .expect("kept");
    assert!(queued.is_none(), "no session yet");
    assert!(node.alerts().await.is_empty());
    drop(device);
    let mut device = client(&node, Some(&state));
    assert_eq!(device.pending_reports(), 1);
    let report = client_initiated(&mut device).await;
    assert!(report.completed(), "{report}");
    assert_eq!(report.alerts_delivered, 1);
    assert_eq!(device.pending_reports(), 0);

    // Now: a session of its own, at once.
    let report = device
        .raise_alert(&server, battery_alert(3), Delivery::Now)
        .await
        .expect("delivered")
        .expect("a session ran");
    assert!(report.completed(), "{report}");
    assert_eq!(report.alerts_delivered, 1);
    assert_eq!(device.pending_reports(), 0);

    assert_eq!(node.alerts().await, [battery_alert(7), battery_alert(3)]);
    // The admin API shows every member as the device sent it.
    let shown = node.alerts_over_http().await;
    let expected = |level: u64| {
        serde_json::json!({
            "AlertType": "urn:x:acme:at:battery-low",
            "SourceURI": "urn:x:acme:battery:1.0//Level",
            "TargetURI": "https://care.acme.example/battery",
            "Mark": "critical",
            "DataType": "application/json",
            "Data": {"Level": level, "Charging": false},
        })
    };
    let alerts = shown["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 2, "{shown}");
    assert_eq!(alerts[0]["alert"], expected(7), "{shown}");
    assert_eq!(alerts[1]["alert"], expected(3), "{shown}");
    assert!(alerts.iter().all(|a| a["session"].is_string()), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A browser component that records what it opened, or fails.
#[derive(Default)]
struct Browser {
    fails: bool,
    opened: Mutex<Vec<String>>,
}

impl BrowserLauncher for Browser {
    fn launch(&self, page: &ServerUri) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.fails {
            return Err("no display attached".into());
        }
        self.opened.lock().expect("lock").push(page.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn show_answers_what_the_browser_component_reports() {
    let node = Node::start().await;
    let page = node.url("/ui/consent?session=42");
    for (browser, expected) in [
        (None, 500),
        (
            Some(Arc::new(Browser {
                fails: true,
                ..Browser::default()
            })),
            500,
        ),
        (Some(Arc::new(Browser::default())), 200),
    ] {
        let show = node.enqueue(&["SHOW", &page]).await;
        let mut builder = builder(&node.base, Credentials::password(USER, PASSWORD), None);
        if let Some(browser) = &browser {
            builder = builder.browser(browser.clone());
        }
        let mut device = builder.build().expect("client");
        let report = client_initiated(&mut device).await;
        assert!(report.completed(), "{report}");
        assert_eq!(node.status(show).await, expected, "{browser:?}");
        let launched = report
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::LaunchBrowser(uri) if uri.as_str() == page));
        assert_eq!(launched, expected == 200);
        if let Some(browser) = browser {
            let opened = browser.opened.lock().expect("lock").clone();
            assert_eq!(
                opened,
                if expected == 200 {
                    vec![page.clone()]
                } else {
                    vec![]
                }
            );
        }
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Browser {{ fails: {} }}", self.fails)
    }
}

#[tokio::test]
async fn a_busy_device_answers_503_and_runs_nothing() {
    let node = Node::start().await;
    let mut device = client(&node, None);
    let busy = device.busy();
    busy.set(true);
    let get = node.enqueue(&["GET", &format!("{FIXED}//Note")]).await;
    let delete = node.enqueue(&["DELETE", &format!("{FIXED}//Note")]).await;
    let exec = node.enqueue(&["EXEC", &format!("{FUMO}//Download")]).await;
    let report = client_initiated(&mut device).await;
    assert!(report.completed(), "{report}");
    for id in [get, delete, exec] {
        assert_eq!(node.status(id).await, 503);
    }
    assert!(
        device
            .tree()
            .resolve(&uri(&format!("{FIXED}//Note")))
            .is_ok()
    );
    // Free again: the server's retry runs.
    busy.set(false);
    let delete = node.enqueue(&["DELETE", &format!("{FIXED}//Note")]).await;
    let report = client_initiated(&mut device).await;
    assert!(report.completed(), "{report}");
    assert_eq!(node.status(delete).await, 200);
}

#[tokio::test]
async fn several_targets_answer_the_first_failure_in_parameter_order() {
    let node = Node::start().await;
    let serial = format!("{FIXED}//Serial");
    let key = format!("{FIXED}//Key");
    let note = format!("{FIXED}//Note");
    let missing = format!("{FIXED}/9/");
    let upload = node.url("/repo/uploads/fixed");
    let cases: Vec<(Vec<&str>, u16)> = vec![
        (vec!["DELETE", &serial, &missing], 405),
        (vec!["DELETE", &missing, &serial], 404),
        (vec!["DELETE", &note, &serial], 405),
        (vec!["GET", &key, &missing], 405),
        (vec!["GET", &missing, &key], 404),
        (vec!["HPUT", &upload, &note, &key], 405),
        (vec!["HPUT", &upload, &missing, &key], 404),
        (vec!["HPOST", &upload, &key, &missing], 405),
        (vec!["HPOST", &upload, &missing, &note], 404),
    ];
    let mut ids = Vec::new();
    for (words, _) in &cases {
        ids.push(node.enqueue(words).await);
    }
    let mut device = client(&node, None);
    let fixed = |device: &DmClient| {
        device
            .tree()
            .instance(FIXED, "1")
            .and_then(|i| i.to_mo_data(dm_tree::NodeId::ROOT))
    };
    let before = fixed(&device);
    assert!(before.is_some());
    let report = client_initiated(&mut device).await;
    assert!(report.completed(), "{report}");
    for ((words, expected), id) in cases.iter().zip(ids) {
        assert_eq!(node.status(id).await, *expected, "{words:?}");
    }
    assert_eq!(fixed(&device), before, "nothing was deleted");
    let uploaded = node
        .server
        .admin()
        .repository("uploads/fixed")
        .await
        .expect("repository");
    assert!(uploaded.is_none(), "nothing was sent");
}

/// FUMO whose `Download` raises an alert while it runs, through the
/// client's [`AlertSender`](dm_client::AlertSender).
struct Raising(dm_client::AlertSender);

impl NodeHandler for Raising {
    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        self.0
            .raise(server_id(), battery_alert(2), Delivery::NextSession)
            .expect("raised");
        ExecOutcome::Done(StatusCode::OK)
    }
}

#[tokio::test]
async fn alerts_raised_during_a_session_travel_in_its_package3() {
    let node = Node::start().await;
    let mut device = client(&node, None);
    let sender = device.alert_sender();
    device.set_handler(
        Moid::new(FUMO).expect("MOID"),
        Arc::new(Raising(sender.clone())),
    );
    let err = sender
        .raise(server_id(), Alert::bootstrap_complete(), Delivery::Now)
        .expect_err("session-start type");
    assert!(matches!(err, Error::SessionStartAlert(_)), "{err}");

    let exec = node.enqueue(&["EXEC", &format!("{FUMO}//Download")]).await;
    let report = client_initiated(&mut device).await;
    assert!(report.completed(), "{report}");
    assert_eq!(report.alerts_delivered, 1, "in Package#3");
    assert_eq!(node.status(exec).await, 200);
    let records = node.server.admin().alerts(&dev_id()).await.expect("alerts");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].alert, battery_alert(2));
    let sessions = node
        .server
        .admin()
        .device(&dev_id())
        .await
        .expect("device")
        .sessions;
    assert_eq!(sessions.len(), 1, "in the same session");
    assert_eq!(records[0].session, Some(sessions[0].token));
    assert_eq!(device.pending_reports(), 0);

    // Raised between sessions: taken as pending, delivered in Package#1.
    sender
        .raise(server_id(), battery_alert(1), Delivery::NextSession)
        .expect("raised");
    assert_eq!(device.take_exec_completions().expect("taken"), 1);
    assert_eq!(device.pending_reports(), 1);
    let report = client_initiated(&mut device).await;
    assert_eq!(report.alerts_delivered, 1);
    assert_eq!(device.pending_reports(), 0);
    assert_eq!(node.alerts().await, [battery_alert(2), battery_alert(1)]);

    // Gone with the client.
    drop(device);
    let err = sender
        .raise(server_id(), battery_alert(0), Delivery::Now)
        .expect_err("no client");
    assert!(matches!(err, Error::ClientGone), "{err}");
}

/// FUMO whose result alert is one no server would take (a second
/// session-start alert in Package#1 makes the session fail).
struct Confused;

impl NodeHandler for Confused {
    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> ExecOutcome {
        ExecOutcome::Done(StatusCode::OK)
    }

    fn result_alert(&self, _node: &ClientUri, _status: StatusCode) -> Alert {
        Alert::client_initiated()
    }
}

#[tokio::test]
async fn a_result_alert_the_client_cannot_send_becomes_exec_complete() {
    let node = Node::start().await;
    let mut device = client(&node, None);
    device.set_handler(Moid::new(FUMO).expect("MOID"), Arc::new(Confused));
    let download = format!("{FUMO}//Download");
    let exec = node.enqueue(&["EXEC", &download, &node.url("/dm")]).await;
    let report = client_initiated(&mut device).await;
    assert!(report.completed(), "{report}");
    assert_eq!(node.status(exec).await, 202);
    let reports = device.deliver_pending_reports().await.expect("delivered");
    assert!(reports[0].completed(), "{}", reports[0]);
    assert_eq!(device.pending_reports(), 0);
    assert_eq!(
        node.alerts().await,
        [Alert::exec_complete(&uri(&download), StatusCode::OK)]
    );
}
