//! FUMO on the device against a scripted DM server and a real package file
//! server on loopback: a server prepares the update with HGET, EXECs it
//! with a ServerURI, the driver downloads (resuming after cut connections),
//! checks and installs, and the result alert of the operation reaches the
//! ServerURI.

use dm_test_support::device as common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use dm_client::update::{Downloader, Fumo, FumoSetup, SimulatedFirmware, to_hex};
use dm_client::{Credentials, DmClient, Error};
use dm_test_support::file_server::{Behaviour, FileServer};
use dm_tree::{Principal, ReadOutcome};
use dm_types::update::{FUMO_MOID, FumoState, UpdateRequester};
use dm_types::{ClientUri, LeafValue, Miid, MoNode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const ROOT: &str = "urn:oma:mo:oma-fumo:1.0/fw";

fn package(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7) % 253).unwrap_or(0))
        .collect()
}

/// The DM server of the tests: Package#1 to `/dm` gets the next queued
/// command list, `/prepare` serves the FUMO data to HGET.
struct Dm {
    server: TestServer,
    commands: Arc<Mutex<VecDeque<String>>>,
    prepare: Arc<Mutex<String>>,
}

impl Dm {
    async fn start() -> Dm {
        let commands: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let prepare: Arc<Mutex<String>> = Arc::default();
        let server = serve({
            let commands = commands.clone();
            let prepare = prepare.clone();
            move |seen| {
                if seen.target == "/prepare" {
                    return Reply::mo_data(prepare.lock().expect("lock").clone());
                }
                if seen.is_package1() && seen.target == "/dm" {
                    let next = commands.lock().expect("lock").pop_front();
                    return Reply::package(next.unwrap_or_else(|| END.to_owned()));
                }
                Reply::package(END)
            }
        })
        .await;
        Dm {
            server,
            commands,
            prepare,
        }
    }

    /// What the next HGET of `/prepare` writes: `PkgURL` of `operation`,
    /// name, version and the `Ext` leaves given.
    fn prepare(&self, operation: &str, url: &str, ext: &[(&str, Value)]) {
        let mut items = vec![
            serde_json::json!({"ClientURI": format!("{ROOT}/{operation}/PkgURL"), "MOData": {"PkgURL": url}}),
            serde_json::json!({"ClientURI": format!("{ROOT}/PkgName"), "MOData": {"PkgName": "acme-x1"}}),
            serde_json::json!({"ClientURI": format!("{ROOT}/PkgVersion"), "MOData": {"PkgVersion": "2.0"}}),
        ];
        for (name, value) in ext {
            items.push(serde_json::json!({"ClientURI": format!("{ROOT}/Ext/{name}"), "MOData": {*name: value}}));
        }
        *self.prepare.lock().expect("lock") = Value::Array(items).to_string();
    }

    /// Queues the commands of the next session.
    fn next_session(&self, commands: &str) {
        self.commands
            .lock()
            .expect("lock")
            .push_back(format!(r#"{{"CMD":[{commands}]}}"#));
    }

    /// HGET of `/prepare` then EXEC of `operation` reporting to `/report`.
    fn prepare_and_exec(&self, operation: &str) {
        let base = &self.server.base;
        self.next_session(&format!(
            r#"["HGET","{base}/prepare"],["EXEC","{ROOT}/{operation}","{base}/report"],["GET","{ROOT}/State"]"#
        ));
    }

    /// The alerts delivered to `/report` (not the session-start ones).
    fn reported(&self) -> Vec<Value> {
        self.server
            .requests()
            .into_iter()
            .filter(|s| s.target == "/report" && s.is_package1())
            .flat_map(|s| s.json()["Alert"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["AlertType"] != "urn:oma:at:dm:2.0:ClientInitiatedMgmt")
            .collect()
    }

    /// The `State` a GET in the last Package#3 to `/dm` returned.
    fn last_state_read(&self) -> Option<i64> {
        let package3 = self
            .server
            .requests()
            .into_iter()
            .rev()
            .find(|s| s.target.starts_with("/dm") && !s.is_package1())?;
        package3.json()["Status"]
            .as_array()?
            .iter()
            .filter_map(|status| status["Data"].as_array())
            .flatten()
            .find_map(|item| item["MOData"]["State"].as_i64())
    }

    /// The statuses of the last Package#3 the device sent to `/dm`.
    fn last_statuses(&self) -> Vec<u64> {
        self.server
            .requests()
            .iter()
            .rev()
            .find(|s| s.target.starts_with("/dm") && !s.is_package1())
            .map(statuses)
            .unwrap_or_default()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

fn announce(content: &[u8]) -> Vec<(&'static str, Value)> {
    vec![
        ("PkgSize", Value::from(content.len())),
        ("PkgSHA256", Value::from(sha256_hex(content))),
    ]
}

fn device(dm: &Dm, firmware: SimulatedFirmware) -> (DmClient, Fumo<SimulatedFirmware>) {
    let mut client = builder(&dm.server.base, Credentials::None, None)
        .build()
        .expect("client");
    let downloader = Downloader::new(transport())
        .retry(fast_retry(3))
        .max_size(8 << 20);
    let setup = FumoSetup::new(Miid::new("fw").expect("miid"))
        .package("acme-x1", "1.0")
        .server(server_id())
        .downloader(downloader);
    let fumo = client.install_fumo(setup, firmware).expect("installed");
    (client, fumo)
}

/// Waits until no operation progresses.
async fn settled(fumo: &Fumo<SimulatedFirmware>) -> FumoState {
    let mut states = fumo.subscribe();
    let state = tokio::time::timeout(Duration::from_secs(20), states.wait_for(|s| !s.is_busy()))
        .await
        .expect("the operation ends")
        .expect("driver alive");
    *state
}

/// Takes the finished results and delivers them.
async fn deliver(client: &mut DmClient) {
    // The completion is sent right after the last state change.
    for _ in 0..50 {
        if client.take_exec_completions().expect("taken") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reports = client.deliver_pending_reports().await.expect("delivered");
    assert!(reports.iter().all(dm_client::SessionReport::completed));
}

fn assert_result(alert: &Value, operation: &str, code: &str) {
    let kind = operation.to_ascii_lowercase();
    assert_eq!(
        alert["AlertType"],
        format!("org.openmobilealliance.dm.firmwareupdate.{kind}")
    );
    assert_eq!(alert["SourceURI"], format!("{ROOT}/{operation}"));
    assert_eq!(alert["DataType"], "int");
    assert_eq!(alert["Data"]["DM1x"], code, "{alert}");
}

fn state_read(client: &DmClient) -> Option<LeafValue> {
    let uri = ClientUri::parse(&format!("{ROOT}/State")).expect("uri");
    match client.tree().read(&Principal::Server(server_id()), &[uri]) {
        Ok(ReadOutcome::Data(items)) => match items.first().map(|i| i.data.node()) {
            Some(MoNode::Leaf(value)) => Some(value.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn download_and_update_installs_and_reports_200() {
    let content = package(300_000);
    let files = FileServer::start(content.clone(), Behaviour::default()).await;
    let dm = Dm::start().await;
    let (mut client, fumo) = device(&dm, SimulatedFirmware::new(1 << 20));
    assert_eq!(state_read(&client), Some(LeafValue::Int(10)));
    dm.prepare("DownloadAndUpdate", files.url(), &announce(&content));
    dm.prepare_and_exec("DownloadAndUpdate");
    let report = client_initiated(&mut client).await;
    assert!(report.completed(), "{report}");
    // HGET 200, EXEC 202, GET State 200 (State then 30 or later).
    assert_eq!(dm.last_statuses(), [200, 202, 200]);
    let read = dm.last_state_read().expect("State read");
    assert!([30, 50, 60, 100].contains(&read), "{read}");
    assert_eq!(settled(&fumo).await, FumoState::UpdateSuccessfulNoData);
    assert_eq!(state_read(&client), Some(LeafValue::Int(100)));
    let firmware = fumo.firmware();
    assert_eq!(firmware.installs(), 1);
    let installed = firmware.installed().expect("installed");
    assert_eq!(
        (installed.name.as_str(), installed.version.as_str()),
        ("acme-x1", "2.0")
    );
    assert_eq!(installed.size, 300_000);
    assert_eq!(
        firmware.held(),
        0,
        "the package is dropped after a successful install"
    );
    deliver(&mut client).await;
    let alerts = dm.reported();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_result(&alerts[0], "DownloadAndUpdate", "200");
}

#[tokio::test]
async fn download_then_update_go_through_40_and_100() {
    let content = package(50_000);
    let files = FileServer::start(content.clone(), Behaviour::default()).await;
    let dm = Dm::start().await;
    let (mut client, fumo) = device(&dm, SimulatedFirmware::new(1 << 20));
    dm.prepare("Download", files.url(), &announce(&content));
    dm.prepare_and_exec("Download");
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(settled(&fumo).await, FumoState::DownloadComplete);
    assert_eq!(state_read(&client), Some(LeafValue::Int(40)));
    assert_eq!(fumo.firmware().installs(), 0);
    assert_eq!(fumo.firmware().held(), 50_000);
    deliver(&mut client).await;

    let base = dm.server.base.clone();
    dm.next_session(&format!(r#"["EXEC","{ROOT}/Update","{base}/report"]"#));
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(dm.last_statuses(), [202]);
    assert_eq!(settled(&fumo).await, FumoState::UpdateSuccessfulNoData);
    deliver(&mut client).await;
    let alerts = dm.reported();
    assert_eq!(alerts.len(), 2);
    assert_result(&alerts[0], "Download", "200");
    assert_result(&alerts[1], "Update", "200");
    assert_eq!(fumo.firmware().installs(), 1);
}

#[tokio::test]
async fn a_cut_download_resumes_with_a_range() {
    let content = package(400_000);
    let behaviour = Behaviour {
        cuts: vec![60_000],
        ..Behaviour::default()
    };
    let files = FileServer::start(content.clone(), behaviour).await;
    let dm = Dm::start().await;
    let (mut client, fumo) = device(&dm, SimulatedFirmware::new(1 << 20));
    dm.prepare("DownloadAndUpdate", files.url(), &announce(&content));
    dm.prepare_and_exec("DownloadAndUpdate");
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(settled(&fumo).await, FumoState::UpdateSuccessfulNoData);
    let served = files.served();
    assert_eq!(served.len(), 2, "{served:?}");
    assert_eq!(served[0].range, None);
    assert_eq!(served[1].range.as_deref(), Some("bytes=60000-"));
    assert_eq!(served[1].status, 206);
    assert_eq!(files.body_bytes(), 400_000, "no byte fetched twice");
    deliver(&mut client).await;
    assert_result(&dm.reported()[0], "DownloadAndUpdate", "200");
}

#[tokio::test]
async fn another_sha256_is_402_and_nothing_installs() {
    let content = package(20_000);
    let files = FileServer::start(content.clone(), Behaviour::default()).await;
    let dm = Dm::start().await;
    let (mut client, fumo) = device(&dm, SimulatedFirmware::new(1 << 20));
    let wrong = vec![
        ("PkgSize", Value::from(content.len())),
        ("PkgSHA256", Value::from(sha256_hex(b"another package"))),
    ];
    dm.prepare("DownloadAndUpdate", files.url(), &wrong);
    dm.prepare_and_exec("DownloadAndUpdate");
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(settled(&fumo).await, FumoState::DownloadFailed);
    assert_eq!(state_read(&client), Some(LeafValue::Int(20)));
    assert_eq!(fumo.firmware().installs(), 0);
    assert_eq!(fumo.firmware().held(), 0, "a refused package is discarded");
    deliver(&mut client).await;
    assert_result(&dm.reported()[0], "DownloadAndUpdate", "402");
}

#[tokio::test]
async fn more_than_the_announced_size_is_402_and_stops_the_download() {
    let content = package(4 << 20);
    let behaviour = Behaviour {
        hide_length: true,
        ..Behaviour::default()
    };
    let files = FileServer::start(content, behaviour).await;
    let dm = Dm::start().await;
    let (mut client, fumo) = device(&dm, SimulatedFirmware::new(8 << 20));
    dm.prepare(
        "DownloadAndUpdate",
        files.url(),
        &[("PkgSize", Value::from(100_000))],
    );
    dm.prepare_and_exec("DownloadAndUpdate");
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(settled(&fumo).await, FumoState::DownloadFailed);
    assert!(fumo.firmware().most_received() <= 100_000);
    assert_eq!(fumo.firmware().installs(), 0);
    deliver(&mut client).await;
    assert_result(&dm.reported()[0], "DownloadAndUpdate", "402");
}

#[tokio::test]
async fn a_refused_signature_is_404() {
    let content = package(10_000);
    let files = FileServer::start(content.clone(), Behaviour::default()).await;
    let dm = Dm::start().await;
    let firmware = SimulatedFirmware::new(1 << 20).require_signature(b"signed by acme".to_vec());
    let (mut client, fumo) = device(&dm, firmware);
    let mut ext = announce(&content);
    // "signed by mallory", base64 (a bin leaf).
    ext.push(("PkgSignature", Value::from("c2lnbmVkIGJ5IG1hbGxvcnk=")));
    dm.prepare("DownloadAndUpdate", files.url(), &ext);
    dm.prepare_and_exec("DownloadAndUpdate");
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(settled(&fumo).await, FumoState::DownloadFailed);
    assert_eq!(fumo.firmware().installs(), 0);
    deliver(&mut client).await;
    assert_result(&dm.reported()[0], "DownloadAndUpdate", "404");

    // With the right signature ("signed by acme") it installs.
    let mut ext = announce(&content);
    ext.push(("PkgSignature", Value::from("c2lnbmVkIGJ5IGFjbWU=")));
    dm.prepare("DownloadAndUpdate", files.url(), &ext);
    dm.prepare_and_exec("DownloadAndUpdate");
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(settled(&fumo).await, FumoState::UpdateSuccessfulNoData);
    deliver(&mut client).await;
    assert_result(&dm.reported()[1], "DownloadAndUpdate", "200");
}

#[tokio::test]
async fn an_unreachable_package_server_is_503() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/package.bin",
        closed.local_addr().expect("address")
    );
    drop(closed);
    let dm = Dm::start().await;
    let (mut client, fumo) = device(&dm, SimulatedFirmware::new(1 << 20));
    dm.prepare("Download", &url, &[]);
    dm.prepare_and_exec("Download");
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(settled(&fumo).await, FumoState::DownloadFailed);
    deliver(&mut client).await;
    assert_result(&dm.reported()[0], "Download", "503");
}

#[tokio::test]
async fn exec_is_refused_while_busy_and_update_needs_a_package() {
    let content = package(10_000);
    let files = FileServer::start(content.clone(), Behaviour::default()).await;
    let dm = Dm::start().await;
    let firmware = SimulatedFirmware::new(1 << 20).install_duration(Duration::from_millis(1500));
    let (mut client, fumo) = device(&dm, firmware);
    // Nothing downloaded: Update is not allowed.
    dm.next_session(&format!(r#"["EXEC","{ROOT}/Update"]"#));
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(dm.last_statuses(), [405]);

    dm.prepare("DownloadAndUpdate", files.url(), &announce(&content));
    dm.prepare_and_exec("DownloadAndUpdate");
    assert!(client_initiated(&mut client).await.completed());
    let mut states = fumo.subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        states.wait_for(|s| *s == FumoState::UpdateProgressing),
    )
    .await
    .expect("installing")
    .expect("driver alive");
    assert_eq!(state_read(&client), Some(LeafValue::Int(60)));
    let base = dm.server.base.clone();
    dm.next_session(&format!(
        r#"["EXEC","{ROOT}/Download","{base}/report"],["EXEC","{ROOT}/DownloadAndUpdate"]"#
    ));
    assert!(client_initiated(&mut client).await.completed());
    // With a ServerURI the EXEC status is 202 whatever happens; the busy
    // refusal is then the result; without one it is the status.
    assert_eq!(dm.last_statuses(), [202, 503]);
    assert_eq!(settled(&fumo).await, FumoState::UpdateSuccessfulNoData);
    assert_eq!(fumo.firmware().installs(), 1);
}

#[tokio::test]
async fn the_managing_server_gets_read_write_exec_and_others_nothing() {
    let dm = Dm::start().await;
    let (mut client, fumo) = device(&dm, SimulatedFirmware::new(1 << 20));
    let instance = client.tree().instance(FUMO_MOID, "fw").expect("instance");
    assert_eq!(
        client
            .tree()
            .rights(&Principal::Server(server_id()), instance)
            .to_string(),
        "Read,Write,Exec"
    );
    // State is Get only: a server cannot write it.
    let base = dm.server.base.clone();
    *dm.prepare.lock().expect("lock") =
        format!(r#"[{{"ClientURI":"{ROOT}/State","MOData":{{"State":100}}}}]"#);
    dm.next_session(&format!(r#"["HGET","{base}/prepare"]"#));
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(dm.last_statuses(), [405]);
    assert_eq!(fumo.state(), FumoState::Idle);
    // The device asks for an update on its own.
    let report = client
        .request_firmware_update(&server_id(), UpdateRequester::Device)
        .await
        .expect("requested");
    assert!(report.completed());
    let request = dm
        .server
        .requests()
        .into_iter()
        .rev()
        .find(Seen::is_package1)
        .expect("Package#1");
    let alert = &request.json()["Alert"][1];
    assert_eq!(
        alert["AlertType"],
        "org.openmobilealliance.dm.firmwareupdate.devicerequest"
    );
    assert_eq!(alert["SourceURI"], format!("{ROOT}/"));
}

#[tokio::test]
async fn a_firmware_update_request_needs_a_fumo_instance() {
    let dm = Dm::start().await;
    let mut client = builder(&dm.server.base, Credentials::None, None)
        .build()
        .expect("client");
    let error = client
        .request_firmware_update(&server_id(), UpdateRequester::User)
        .await
        .expect_err("no instance");
    assert!(matches!(error, Error::NoFumoInstance));
}

#[tokio::test]
async fn the_instance_survives_a_restart_and_is_set_up_again() {
    let content = package(5_000);
    let files = FileServer::start(content.clone(), Behaviour::default()).await;
    let dm = Dm::start().await;
    let state = scratch("fumo-restart").join("device.json");
    let start = |dm: &Dm| {
        let mut client = builder(&dm.server.base, Credentials::None, None)
            .state_file(&state)
            .build()
            .expect("client");
        let setup = FumoSetup::new(Miid::new("fw").expect("miid"))
            .package("acme-x1", "1.0")
            .server(server_id())
            .downloader(Downloader::new(transport()).retry(fast_retry(2)));
        let fumo = client
            .install_fumo(setup, SimulatedFirmware::new(1 << 20))
            .expect("installed");
        (client, fumo)
    };
    let (mut client, fumo) = start(&dm);
    dm.prepare("Download", files.url(), &announce(&content));
    dm.prepare_and_exec("Download");
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(settled(&fumo).await, FumoState::DownloadComplete);
    deliver(&mut client).await;
    drop(client);

    // After a restart: what the server wrote is kept, the driver starts
    // Idle with no package, the definition and the rights are back.
    let (mut client, fumo) = start(&dm);
    assert_eq!(fumo.state(), FumoState::Idle);
    let instance = client.tree().instance(FUMO_MOID, "fw").expect("instance");
    let version = dm_tree::InstanceView::value(instance, "PkgVersion").cloned();
    assert_eq!(version, Some(LeafValue::from("2.0")));
    assert!(instance.definition().is_some());
    assert_eq!(
        client
            .tree()
            .instances_of("urn:oma:mo:oma-dm-dacmo:1.0")
            .count(),
        1
    );
    let base = dm.server.base.clone();
    dm.next_session(&format!(
        r#"["EXEC","{ROOT}/Update"],["EXEC","{ROOT}/Download","{base}/report"]"#
    ));
    assert!(client_initiated(&mut client).await.completed());
    assert_eq!(dm.last_statuses(), [405, 202]);
    assert_eq!(settled(&fumo).await, FumoState::DownloadComplete);
}
