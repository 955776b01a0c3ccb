//! SCOMO on the device (docs/protocol.md section 13.2): a scripted server
//! HGETs `Download/<x>` into the device's SCOMO instance and executes its
//! operations; the package comes from a real HTTP file server; the
//! driver's result alerts and inventory are read as a server reads them.

use dm_test_support::device as common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use dm_client::update::{
    DeployedComponent, Downloader, Scomo, ScomoOptions, SimulatedComponents, Simulation,
    SoftwareComponents, to_hex,
};
use dm_client::{Credentials, DmClient};
use dm_test_support::file_server::{Behaviour, FileServer};
use dm_types::update::{ScomoResult, UpdateReport};
use dm_types::{Alert, ClientUri, StatusCode};
use serde_json::Value;

const ROOT: &str = "urn:oma:mo:oma-scomo:1.0/scomo";
const PACKAGE: &[u8] = b"a software component's package, not very large";

/// A DM server answering each session's Package#1 with the next scripted
/// Package#2 (END when none is left), and serving MO data under `/repo/`.
struct Scripted {
    server: TestServer,
    script: Arc<Mutex<VecDeque<String>>>,
    repo: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Scripted {
    async fn start() -> Scripted {
        let script: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let repo: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
        let (s, r) = (Arc::clone(&script), Arc::clone(&repo));
        let server = serve(move |seen| {
            if seen.method == "GET" {
                let name = seen.target.trim_start_matches("/repo/");
                return match r.lock().expect("repo").get(name) {
                    Some(data) => Reply::mo_data(data.clone()),
                    None => Reply::status(404),
                };
            }
            if seen.is_package1() {
                let next = s.lock().expect("script").pop_front();
                return Reply::package(next.unwrap_or_else(|| END.to_owned()));
            }
            Reply::package(END)
        })
        .await;
        Scripted {
            server,
            script,
            repo,
        }
    }

    fn next_session(&self, commands: &str) {
        let base = &self.server.base;
        let commands = commands.replace("{base}", base);
        self.script
            .lock()
            .expect("script")
            .push_back(format!(r#"{{"CMD":[{commands}]}}"#));
    }

    fn offer(&self, name: &str, data: String) {
        self.repo
            .lock()
            .expect("repo")
            .insert(name.to_owned(), data);
    }

    /// The alerts delivered to `/report` so far, after the session start.
    fn reported(&self) -> Vec<Value> {
        self.server
            .requests_to("/report")
            .iter()
            .filter(|s| s.is_package1())
            .flat_map(|s| {
                s.json()["Alert"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .skip(1)
            })
            .collect()
    }
}

/// The MO data of `Download/<name>` as a server writes it.
fn download_entry(name: &str, url: &str, size: usize, sha256: &str) -> String {
    format!(
        r#"[{{"ClientURI":"{ROOT}/Download/{name}","MOData":{{"{name}":{{
            "PkgID":"{name}-2.1.0","Name":"The {name}","PkgURL":"{url}",
            "Ext":{{"PkgSize":{size},"PkgSHA256":"{sha256}"}},
            "Operations":{{"Download":{{}},"DownloadInstall":{{}},"DownloadInstallInactive":{{}}}}}}}}}}]"#
    )
}

struct Device {
    client: DmClient,
    components: Arc<SimulatedComponents>,
    _scomo: Scomo,
}

fn device(base: &str, simulation: Simulation) -> Device {
    let mut client = builder(base, Credentials::None, None)
        .build()
        .expect("client");
    let components =
        Arc::new(
            SimulatedComponents::new(simulation).with_deployed([DeployedComponent {
                name: "base".into(),
                id: "com.acme.base".into(),
                version: Some("1.0".into()),
                active: true,
                ..DeployedComponent::default()
            }]),
        );
    let options = ScomoOptions {
        downloader: Some(Downloader::new(transport()).retry(fast_retry(2))),
        ..ScomoOptions::default()
    };
    let scomo = Scomo::attach(&mut client, components.clone(), options).expect("attached");
    Device {
        client,
        components,
        _scomo: scomo,
    }
}

/// Runs a session, waits for every EXEC it started, and delivers the
/// results; the statuses of the session's Package#3.
async fn session(server: &Scripted, device: &mut Device) -> Vec<u64> {
    let before = server.server.requests().len();
    let report = client_initiated(&mut device.client).await;
    assert!(report.completed(), "{report}");
    for _ in 0..500 {
        device.client.take_exec_completions().expect("taken");
        if device.client.running_execs().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(device.client.running_execs().is_empty(), "finished");
    device
        .client
        .deliver_pending_reports()
        .await
        .expect("delivered");
    assert_eq!(device.client.pending_reports(), 0);
    server.server.requests()[before..]
        .iter()
        .find(|s| s.is_package() && !s.is_package1())
        .map(statuses)
        .unwrap_or_default()
}

/// What a server reads with GET of `uri` (the data of the Package#3).
async fn server_reads(server: &Scripted, device: &mut Device, uri: &str) -> Value {
    server.next_session(&format!(r#"["GET","{uri}"]"#));
    let before = server.server.requests().len();
    assert_eq!(session(server, device).await, [200]);
    let package3 = server.server.requests()[before..]
        .iter()
        .find(|s| s.is_package() && !s.is_package1())
        .map(Seen::json)
        .expect("package#3");
    package3["Status"][0]["Data"][0]["MOData"].clone()
}

fn report_of(alert: &Value) -> UpdateReport {
    let bytes = serde_json::to_vec(alert).expect("json");
    let alert: Alert =
        dm_codec::decode_alert(&bytes, &dm_codec::Limits::default()).expect("an alert");
    UpdateReport::from_alert(&alert)
        .expect("an update alert")
        .expect("readable")
}

fn result_of(alert: &Value) -> u16 {
    report_of(alert)
        .result()
        .map_or(0, dm_types::update::UpdateResult::code)
}

const EXEC: &str = r#"["EXEC","urn:oma:mo:oma-scomo:1.0//NODE","{base}/report"]"#;

fn exec(node: &str) -> String {
    EXEC.replace("NODE", node)
}

async fn files(content: &[u8]) -> FileServer {
    FileServer::start(content.to_vec(), Behaviour::default()).await
}

fn sha(content: &[u8]) -> String {
    to_hex(&sha256(content))
}

#[tokio::test]
async fn download_install_delivers_deploys_and_reports_operation_complete() {
    let server = Scripted::start().await;
    let packages = files(PACKAGE).await;
    let mut device = device(&server.server.base, Simulation::default());
    server.offer(
        "app",
        download_entry("app", packages.url(), PACKAGE.len(), &sha(PACKAGE)),
    );
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/app","{ROOT}/Download/app"],{}"#,
        exec("Download/app/Operations/DownloadInstall")
    ));
    assert_eq!(session(&server, &mut device).await, [200, 202]);

    let alerts = server.reported();
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert["AlertType"], "urn:oma:at:scomo:1.0:OperationComplete");
    assert_eq!(
        alert["SourceURI"],
        "urn:oma:mo:oma-scomo:1.0//Download/app/Operations/DownloadInstall"
    );
    assert_eq!(alert["TargetURI"], format!("{ROOT}/Inventory/Deployed/app"));
    assert_eq!(alert["DataType"], "text/xml");
    assert_eq!(
        alert["Data"]["DM1x"],
        "<ResultCode>1200</ResultCode><Identifier>app-2.1.0</Identifier>"
    );
    assert!(matches!(
        report_of(alert),
        UpdateReport::Scomo { result, identifier: Some(id), .. }
            if result == ScomoResult::SUCCESSFUL && id == "app-2.1.0"
    ));
    assert_eq!(packages.body_bytes(), PACKAGE.len(), "downloaded once");

    // The inventory as the server reads it.
    let deployed = server_reads(
        &server,
        &mut device,
        "urn:oma:mo:oma-scomo:1.0//Inventory/Deployed/app",
    )
    .await;
    let app = &deployed["app"];
    assert_eq!(app["ID"], "app-2.1.0");
    assert_eq!(app["PkgID"], "app-2.1.0");
    assert_eq!(app["Name"], "The app");
    assert_eq!(app["Version"], "2.1.0");
    assert_eq!(app["State"], "active");
    assert!(app["Operations"]["Remove"].is_object());
    let status = server_reads(
        &server,
        &mut device,
        "urn:oma:mo:oma-scomo:1.0//Download/app/Status",
    )
    .await;
    assert_eq!(status["Status"], "80", "install complete");
    let inventory = server_reads(&server, &mut device, "urn:oma:mo:oma-scomo:1.0//Inventory").await;
    assert_eq!(
        inventory["Inventory"]["Delivered"],
        serde_json::json!({}),
        "nothing left delivered"
    );
    assert_eq!(
        inventory["Inventory"]["Deployed"]["base"]["ID"],
        "com.acme.base"
    );
}

#[tokio::test]
async fn install_inactive_then_activate_and_deactivate() {
    let server = Scripted::start().await;
    let packages = files(PACKAGE).await;
    let mut device = device(&server.server.base, Simulation::default());
    server.offer(
        "tool",
        download_entry("tool", packages.url(), PACKAGE.len(), &sha(PACKAGE)),
    );
    // Download only: the package is delivered.
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/tool","{ROOT}/Download/tool"],{}"#,
        exec("Download/tool/Operations/Download")
    ));
    assert_eq!(session(&server, &mut device).await, [200, 202]);
    let delivered = server_reads(
        &server,
        &mut device,
        "urn:oma:mo:oma-scomo:1.0//Inventory/Delivered/tool",
    )
    .await;
    assert_eq!(delivered["tool"]["PkgID"], "tool-2.1.0");
    assert!(delivered["tool"]["Operations"]["InstallInactive"].is_object());

    server.next_session(&exec("Inventory/Delivered/tool/Operations/InstallInactive"));
    assert_eq!(session(&server, &mut device).await, [202]);
    let deployed = device.components.deployed();
    let tool = deployed
        .iter()
        .find(|c| c.name == "tool")
        .expect("deployed");
    assert!(!tool.active);
    let state = server_reads(
        &server,
        &mut device,
        "urn:oma:mo:oma-scomo:1.0//Inventory/Deployed/tool/State",
    )
    .await;
    assert_eq!(state["State"], "inactive");

    server.next_session(&exec("Inventory/Deployed/tool/Operations/Activate"));
    assert_eq!(session(&server, &mut device).await, [202]);
    let state = server_reads(
        &server,
        &mut device,
        "urn:oma:mo:oma-scomo:1.0//Inventory/Deployed/tool/State",
    )
    .await;
    assert_eq!(state["State"], "active");

    // A server still writes into the instance the device keeps (the
    // device's nodes conform to the SCOMO DDF).
    server.offer(
        "next",
        download_entry("next", packages.url(), PACKAGE.len(), &sha(PACKAGE)),
    );
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/next","{ROOT}/Download/next"],{}"#,
        exec("Inventory/Deployed/tool/Operations/Deactivate")
    ));
    assert_eq!(session(&server, &mut device).await, [200, 202]);
    let state = server_reads(
        &server,
        &mut device,
        "urn:oma:mo:oma-scomo:1.0//Inventory/Deployed/tool/State",
    )
    .await;
    assert_eq!(state["State"], "inactive");

    let alerts = server.reported();
    let seen: Vec<(String, String, u16)> = alerts
        .iter()
        .map(|a| {
            (
                a["SourceURI"].as_str().unwrap_or_default().to_owned(),
                a["TargetURI"].as_str().unwrap_or_default().to_owned(),
                result_of(a),
            )
        })
        .collect();
    let node = |path: &str| format!("urn:oma:mo:oma-scomo:1.0//{path}");
    assert_eq!(
        seen,
        [
            (
                node("Download/tool/Operations/Download"),
                format!("{ROOT}/Inventory/Delivered/tool"),
                1200
            ),
            (
                node("Inventory/Delivered/tool/Operations/InstallInactive"),
                format!("{ROOT}/Inventory/Deployed/tool"),
                1200
            ),
            (
                node("Inventory/Deployed/tool/Operations/Activate"),
                format!("{ROOT}/Inventory/Deployed/tool"),
                1200
            ),
            (
                node("Inventory/Deployed/tool/Operations/Deactivate"),
                format!("{ROOT}/Inventory/Deployed/tool"),
                1200
            ),
        ]
    );
}

#[tokio::test]
async fn remove_from_delivered_and_from_deployed() {
    let server = Scripted::start().await;
    let packages = files(PACKAGE).await;
    let mut device = device(&server.server.base, Simulation::default());
    for name in ["kept", "dropped"] {
        server.offer(
            name,
            download_entry(name, packages.url(), PACKAGE.len(), &sha(PACKAGE)),
        );
    }
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/kept","{ROOT}/Download/kept"],{},["HGET","{{base}}/repo/dropped","{ROOT}/Download/dropped"],{}"#,
        exec("Download/kept/Operations/DownloadInstall"),
        exec("Download/dropped/Operations/Download")
    ));
    assert_eq!(session(&server, &mut device).await, [200, 202, 200, 202]);
    assert_eq!(device.components.delivered().len(), 1);

    server.next_session(&format!(
        "{},{}",
        exec("Inventory/Delivered/dropped/Operations/Remove"),
        exec("Inventory/Deployed/kept/Operations/Remove")
    ));
    assert_eq!(session(&server, &mut device).await, [202, 202]);
    assert!(device.components.delivered().is_empty());
    let names: Vec<String> = device
        .components
        .deployed()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["base"]);
    let inventory = server_reads(&server, &mut device, "urn:oma:mo:oma-scomo:1.0//Inventory").await;
    assert_eq!(inventory["Inventory"]["Delivered"], serde_json::json!({}));
    let deployed: Vec<&String> = inventory["Inventory"]["Deployed"]
        .as_object()
        .expect("deployed")
        .keys()
        .collect();
    assert_eq!(deployed, ["base"]);

    let alerts = server.reported();
    let removals: Vec<(String, u16)> = alerts[2..]
        .iter()
        .map(|a| {
            (
                a["TargetURI"].as_str().unwrap_or_default().to_owned(),
                result_of(a),
            )
        })
        .collect();
    assert_eq!(
        removals,
        [
            (format!("{ROOT}/Inventory/Delivered/dropped"), 1200),
            (format!("{ROOT}/Inventory/Deployed/kept"), 1200),
        ]
    );

    // Removing what is no longer there: the node is gone (404).
    server.next_session(&exec("Inventory/Deployed/kept/Operations/Remove"));
    assert_eq!(session(&server, &mut device).await, [404]);
}

#[tokio::test]
async fn a_wrong_sha256_is_1402_and_delivers_nothing() {
    let server = Scripted::start().await;
    let packages = files(PACKAGE).await;
    let mut device = device(&server.server.base, Simulation::default());
    server.offer(
        "bad",
        download_entry(
            "bad",
            packages.url(),
            PACKAGE.len(),
            &sha(b"another package"),
        ),
    );
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/bad","{ROOT}/Download/bad"],{}"#,
        exec("Download/bad/Operations/DownloadInstall")
    ));
    assert_eq!(session(&server, &mut device).await, [200, 202]);
    let alerts = server.reported();
    assert_eq!(alerts.len(), 1);
    assert_eq!(result_of(&alerts[0]), 1402);
    assert_eq!(
        alerts[0]["TargetURI"],
        format!("{ROOT}/Download/bad"),
        "no component: the download entry"
    );
    assert!(device.components.delivered().is_empty());
    assert_eq!(device.components.deployed().len(), 1, "only the base");
    let entry = server_reads(
        &server,
        &mut device,
        "urn:oma:mo:oma-scomo:1.0//Download/bad",
    )
    .await;
    assert_eq!(entry["bad"]["Status"], "20", "download failed");
    let inventory = server_reads(&server, &mut device, "urn:oma:mo:oma-scomo:1.0//Inventory").await;
    assert_eq!(inventory["Inventory"]["Delivered"], serde_json::json!({}));
}

#[tokio::test]
async fn a_failed_install_leaves_the_package_delivered_with_the_vendors_code() {
    let server = Scripted::start().await;
    let packages = files(PACKAGE).await;
    let simulation = Simulation {
        result: ScomoResult::new(1452).expect("code"),
        ..Simulation::default()
    };
    let mut device = device(&server.server.base, simulation);
    server.offer(
        "app",
        download_entry("app", packages.url(), PACKAGE.len(), &sha(PACKAGE)),
    );
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/app","{ROOT}/Download/app"],{}"#,
        exec("Download/app/Operations/DownloadInstall")
    ));
    assert_eq!(session(&server, &mut device).await, [200, 202]);
    let alerts = server.reported();
    assert_eq!(result_of(&alerts[0]), 1452);
    assert_eq!(
        alerts[0]["TargetURI"],
        format!("{ROOT}/Inventory/Delivered/app")
    );
    let entry = server_reads(
        &server,
        &mut device,
        "urn:oma:mo:oma-scomo:1.0//Download/app/Status",
    )
    .await;
    assert_eq!(entry["Status"], "60", "install failed, package kept");
    assert_eq!(device.components.delivered().len(), 1);
}

#[tokio::test]
async fn a_missing_package_url_is_1411_and_other_nodes_execute_nothing() {
    let server = Scripted::start().await;
    let mut device = device(&server.server.base, Simulation::default());
    // The Download entry without a package URL: 1411, bad URL.
    server.offer(
        "nourl",
        format!(
            r#"[{{"ClientURI":"{ROOT}/Download/nourl","MOData":{{"nourl":{{"PkgID":"n",
                "Operations":{{"Download":{{}}}}}}}}}}]"#
        ),
    );
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/nourl","{ROOT}/Download/nourl"],{},["EXEC","urn:oma:mo:oma-scomo:1.0//Inventory"]"#,
        exec("Download/nourl/Operations/Download")
    ));
    assert_eq!(session(&server, &mut device).await, [200, 202, 405]);
    assert_eq!(result_of(&server.reported()[0]), 1411);
    // The SCOMO DDF governs the instance: nothing but an operation executes.
    let node = ClientUri::parse(&format!("{ROOT}/Inventory/Deployed/base/ID")).expect("uri");
    let refused = device
        .client
        .tree()
        .exec(&dm_tree::Principal::Device, &node, None)
        .expect_err("refused");
    assert_eq!(refused.status(), StatusCode::COMMAND_NOT_ALLOWED);
}

#[tokio::test]
async fn a_listening_device_applies_the_inventory_and_delivers_the_result_by_itself() {
    let server = Scripted::start().await;
    let packages = files(PACKAGE).await;
    let mut device = device(&server.server.base, Simulation::default());
    server.offer(
        "app",
        download_entry("app", packages.url(), PACKAGE.len(), &sha(PACKAGE)),
    );
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/app","{ROOT}/Download/app"],{}"#,
        exec("Download/app/Operations/DownloadInstall")
    ));
    let report = client_initiated(&mut device.client).await;
    assert!(report.completed(), "{report}");
    // Edits made during the session wait for its end; the install runs on.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("socket");
    let delivered = async {
        while server.reported().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(
        Duration::from_secs(30),
        device.client.listen_udp(&socket, delivered),
    )
    .await
    .expect("delivered in time")
    .expect("listened");
    assert_eq!(result_of(&server.reported()[0]), 1200);
    let tree = device.client.tree();
    let (status, _) = tree.resolve_str(&format!("{ROOT}/Inventory/Deployed/app/State"));
    assert_eq!(status.as_u16(), 200, "the inventory edit was applied");
    assert!(device.client.running_execs().is_empty());
}

#[tokio::test]
async fn a_second_operation_on_a_busy_component_is_refused_with_1503() {
    let server = Scripted::start().await;
    let packages = files(PACKAGE).await;
    let simulation = Simulation {
        duration: Duration::from_millis(300),
        ..Simulation::default()
    };
    let mut device = device(&server.server.base, simulation);
    server.offer(
        "app",
        download_entry("app", packages.url(), PACKAGE.len(), &sha(PACKAGE)),
    );
    server.next_session(&format!(
        r#"["HGET","{{base}}/repo/app","{ROOT}/Download/app"],{},{}"#,
        exec("Download/app/Operations/DownloadInstall"),
        exec("Download/app/Operations/Download")
    ));
    assert_eq!(session(&server, &mut device).await, [200, 202, 202]);
    let mut results: Vec<(String, u16, String)> = server
        .reported()
        .iter()
        .map(|a| {
            (
                a["SourceURI"].as_str().unwrap_or_default().to_owned(),
                result_of(a),
                a["TargetURI"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    results.sort();
    let node = |op: &str| format!("urn:oma:mo:oma-scomo:1.0//Download/app/Operations/{op}");
    assert_eq!(
        results,
        [
            (node("Download"), 1503, format!("{ROOT}/Download/app"),),
            (
                node("DownloadInstall"),
                1200,
                format!("{ROOT}/Inventory/Deployed/app"),
            ),
        ]
    );
}

/// Executing `Mark` adds `Marked` to its instance through a `TreeEditor`.
struct Marker {
    editor: dm_client::TreeEditor,
}

impl dm_tree::NodeHandler for Marker {
    fn exec(
        &self,
        _node: &ClientUri,
        _instance: &dyn dm_tree::InstanceView,
        _asynchronous: bool,
    ) -> dm_tree::ExecOutcome {
        self.editor.edit(|tree| {
            let instance = tree
                .instance_mut("urn:x:mark:1.0", "m")
                .ok_or(dm_tree::Error::NotFound)?;
            let name = dm_types::NodeName::new("Marked").expect("name");
            let data = dm_types::MoData::new(
                name.clone(),
                dm_types::MoNode::Leaf(dm_types::LeafValue::Bool(true)),
            );
            let id = instance.write(&[name], &data)?;
            Ok(vec![instance.client_uri(id)])
        });
        dm_tree::ExecOutcome::Done(StatusCode::OK)
    }
}

#[tokio::test]
async fn tree_edits_made_during_a_session_apply_when_it_ends() {
    let server = Scripted::start().await;
    let mut client = builder(&server.server.base, Credentials::None, None)
        .tree(tree_of(
            r#"[{"ClientURI":"urn:x:mark:1.0/m/","MOData":{"M":{"Mark":""}}},
                {"ClientURI":"urn:oma:mo:oma-dm-dacmo:1.0/d/","MOData":{"DACMO":{"MOID":"urn:x:mark:1.0","MIID":"m",
                 "ACL":{"1":{"ServerID":"dm.test","Rights":"Read,Exec"}}}}}]"#,
        ))
        .build()
        .expect("client");
    let editor = client.tree_editor();
    client.set_handler(
        dm_types::Moid::new("urn:x:mark:1.0").expect("moid"),
        Arc::new(Marker { editor }),
    );
    server.next_session(r#"["EXEC","urn:x:mark:1.0/m/Mark"],["GET","urn:x:mark:1.0/m/Marked"]"#);
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    let package3 = server
        .server
        .requests()
        .into_iter()
        .find(|s| s.is_package() && !s.is_package1())
        .expect("package#3");
    assert_eq!(
        statuses(&package3),
        [200, 404],
        "not yet during the session"
    );
    assert!(report.tree_changed);
    assert_eq!(
        client
            .tree()
            .resolve_str("urn:x:mark:1.0/m/Marked")
            .0
            .as_u16(),
        200,
        "applied once it ended"
    );
}
