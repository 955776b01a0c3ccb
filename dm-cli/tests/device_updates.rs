//! `dm device --fumo` and `--scomo` against a real `dm serve`: the admin
//! API queues an HGET of a repository object holding the update's data and
//! the EXEC of the operation; the device downloads the package from a real
//! HTTP file server, installs it (simulated), and the result alert reaches
//! the server (GET /admin/devices/{id}/alerts).
//!
//! The tests run on a multi-threaded runtime: the file server's tasks serve
//! the package while the test thread waits for `dm device`.

mod common;

use std::path::Path;
use std::process::Output;

use dm_test_support::admin_api::{AdminApi, segment};
use dm_test_support::file_server::{Behaviour, FileServer};
use dm_test_support::process::DmServe;
use serde_json::{Value, json};
use sha2::Digest as _;

const FUMO: &str = "urn:oma:mo:oma-fumo:1.0";
const SCOMO: &str = "urn:oma:mo:oma-scomo:1.0";

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dm-cli-updates-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// `dm device --server SERVER/dm --state STATE --dev-id DEV_ID --once ARGS`.
fn device(server: &str, state: &Path, dev_id: &str, args: &[&str]) -> Output {
    let url = format!("{server}/dm");
    let state = state.to_str().expect("UTF-8 path");
    let mut all = vec![
        "device", "--server", &url, "--state", state, "--dev-id", dev_id, "--once",
    ];
    all.extend_from_slice(args);
    common::dm(&all, b"")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    dm_client::update::to_hex(&sha2::Sha256::digest(bytes))
}

fn serve() -> (DmServe, AdminApi) {
    let served = DmServe::start(
        env!("CARGO_BIN_EXE_dm"),
        &["--listen", "127.0.0.1:0", "--dev"],
    );
    let admin = AdminApi::new(&served.url(), None);
    (served, admin)
}

async fn put_object(admin: &AdminApi, path: &str, document: Value) {
    let answer = admin
        .call(
            reqwest::Method::PUT,
            &format!("/admin/repository/{path}"),
            Some(document),
        )
        .await
        .expect("answered");
    assert!(answer.is_success(), "{answer:?}");
}

async fn enqueue(admin: &AdminApi, dev_id: &str, command: &[&str]) -> String {
    let answer = admin.enqueue(dev_id, command).await.expect("answered");
    assert_eq!(answer.status, 201, "{answer:?}");
    answer.body["id"].as_str().expect("an id").to_owned()
}

async fn command(admin: &AdminApi, dev_id: &str, id: &str) -> Value {
    admin.command(dev_id, id).await.expect("answered").body
}

async fn alerts(admin: &AdminApi, dev_id: &str) -> Vec<Value> {
    let answer = admin
        .call(
            reqwest::Method::GET,
            &format!("/admin/devices/{}/alerts", segment(dev_id)),
            None,
        )
        .await
        .expect("answered");
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|a| a["alert"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fumo_device_updates_its_firmware_and_reports_to_the_server() {
    let dir = scratch("fumo");
    let state = dir.join("device.json");
    let dev_id = "IMEI:350000000000001";
    let firmware = b"firmware 1.2.0, a real download".repeat(64);
    let files = FileServer::start(firmware.clone(), Behaviour::default()).await;
    let (served, admin) = serve();
    let server = served.url();

    // The first session registers the device (dev mode) and shows its MOs.
    let first = device(&server, &state, dev_id, &["--fumo"]);
    assert!(first.status.success(), "{}", stderr(&first));

    put_object(
        &admin,
        "fw/1.2.0",
        json!([
            {"ClientURI": format!("{FUMO}/fw/PkgName"), "MOData": {"PkgName": "firmware"}},
            {"ClientURI": format!("{FUMO}/fw/PkgVersion"), "MOData": {"PkgVersion": "1.2.0"}},
            {"ClientURI": format!("{FUMO}/fw/DownloadAndUpdate/PkgURL"),
             "MOData": {"PkgURL": files.url()}},
            {"ClientURI": format!("{FUMO}/fw/Ext"),
             "MOData": {"Ext": {"PkgSize": firmware.len(), "PkgSHA256": sha256_hex(&firmware)}}},
        ]),
    )
    .await;
    let hget = enqueue(
        &admin,
        dev_id,
        &["HGET", &format!("{server}/repo/fw/1.2.0")],
    )
    .await;
    let node = format!("{FUMO}/fw/DownloadAndUpdate");
    let report_to = format!("{server}/dm");
    let exec = enqueue(&admin, dev_id, &["EXEC", &node, &report_to]).await;

    let updated = device(
        &server,
        &state,
        dev_id,
        &["--fumo", "--update-duration", "50"],
    );
    let log = stderr(&updated);
    assert!(updated.status.success(), "{log}");
    assert!(
        log.contains("dm device: firmware update 1.2.0 finished: 200"),
        "{log}"
    );
    assert_eq!(command(&admin, dev_id, &hget).await["status"], 200);
    assert_eq!(command(&admin, dev_id, &exec).await["status"], 202);
    assert_eq!(files.body_bytes(), firmware.len(), "downloaded once");

    let alerts = alerts(&admin, dev_id).await;
    let result = alerts
        .iter()
        .find(|a| a["AlertType"] == "org.openmobilealliance.dm.firmwareupdate.downloadandupdate")
        .unwrap_or_else(|| panic!("no result alert in {alerts:?}"));
    assert_eq!(result["SourceURI"], node.as_str());
    assert_eq!(result["Data"]["DM1x"], "200");

    // The new firmware version is what the server reads next.
    let fwv = enqueue(
        &admin,
        dev_id,
        &["GET", "urn:oma:mo:oma-dm-devinfo:1.0//FwV"],
    )
    .await;
    let again = device(&server, &state, dev_id, &["--fumo"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let read = command(&admin, dev_id, &fwv).await;
    assert_eq!(read["data"][0]["MOData"]["FwV"], "1.2.0", "{read}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scomo_device_installs_a_component_and_reports_operation_complete() {
    let dir = scratch("scomo");
    let package = b"component package".repeat(32);
    let files = FileServer::start(package.clone(), Behaviour::default()).await;
    let (served, admin) = serve();
    let server = served.url();
    let entry = json!([{
        "ClientURI": format!("{SCOMO}/scomo/Download/app"),
        "MOData": {"app": {
            "PkgID": "app-3.1.0", "Name": "The app", "PkgURL": files.url(),
            "Ext": {"PkgSize": package.len(), "PkgSHA256": sha256_hex(&package)},
            "Operations": {"Download": {}, "DownloadInstall": {}, "DownloadInstallInactive": {}}
        }}
    }]);
    put_object(&admin, "sw/app", entry).await;
    let node = format!("{SCOMO}/scomo/Download/app/Operations/DownloadInstall");
    let report_to = format!("{server}/dm");

    // A device that installs, and one whose installs all fail.
    for (dev_id, extra, code) in [
        ("IMEI:350000000000002", None, "1200"),
        ("IMEI:350000000000003", Some("100"), "1410"),
    ] {
        let state = dir.join(format!("{code}.json"));
        let mut args = vec!["--scomo"];
        if let Some(percent) = extra {
            args.extend(["--update-fail-percent", percent]);
        }
        let first = device(&server, &state, dev_id, &args);
        assert!(first.status.success(), "{}", stderr(&first));
        enqueue(&admin, dev_id, &["HGET", &format!("{server}/repo/sw/app")]).await;
        let exec = enqueue(&admin, dev_id, &["EXEC", &node, &report_to]).await;
        let inventory = enqueue(&admin, dev_id, &["GET", &format!("{SCOMO}//Inventory")]).await;

        let run = device(&server, &state, dev_id, &args);
        let log = stderr(&run);
        assert!(run.status.success(), "{log}");
        assert!(
            log.contains(&format!(
                "dm device: software component app DownloadInstall finished: {code}"
            )),
            "{log}"
        );
        assert_eq!(command(&admin, dev_id, &exec).await["status"], 202);
        // The GET ran in the same session, before the install finished.
        let before = command(&admin, dev_id, &inventory).await;
        assert_eq!(before["status"], 200, "{before}");

        let alerts = alerts(&admin, dev_id).await;
        let result = alerts
            .iter()
            .find(|a| a["AlertType"] == "urn:oma:at:scomo:1.0:OperationComplete")
            .unwrap_or_else(|| panic!("no result alert in {alerts:?}"));
        assert_eq!(result["SourceURI"], node.as_str());
        let dm1x = result["Data"]["DM1x"].as_str().unwrap_or_default();
        assert!(
            dm1x.starts_with(&format!("<ResultCode>{code}</ResultCode>")),
            "{result}"
        );
        let target = if code == "1200" {
            "Inventory/Deployed/app"
        } else {
            "Inventory/Delivered/app"
        };
        assert_eq!(result["TargetURI"], format!("{SCOMO}/scomo/{target}"));

        // The inventory as the server reads it in the next session.
        let after = enqueue(&admin, dev_id, &["GET", &format!("{SCOMO}//{target}")]).await;
        let again = device(&server, &state, dev_id, &args);
        assert!(again.status.success(), "{}", stderr(&again));
        let read = command(&admin, dev_id, &after).await;
        assert_eq!(read["status"], 200, "{read}");
        assert_eq!(
            read["data"][0]["MOData"]["app"]["PkgID"], "app-3.1.0",
            "{read}"
        );
        if code == "1200" {
            assert_eq!(
                read["data"][0]["MOData"]["app"]["State"], "active",
                "{read}"
            );
            assert_eq!(
                read["data"][0]["MOData"]["app"]["Version"], "3.1.0",
                "{read}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `dm device` that listens (no `--once`), its stderr collected; killed
/// when dropped.
struct Listening {
    child: std::process::Child,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Listening {
    fn spawn(args: &[&str]) -> Listening {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dm"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("dm starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let pipe = child.stderr.take().expect("stderr");
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                log.lock().expect("lock").push(line);
            }
        });
        Listening { child, stderr }
    }

    /// Waits (at most a minute) for a stderr line containing `needle`.
    fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let lines = self.stderr.lock().expect("lock").clone();
            if let Some(line) = lines.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no line with {needle:?}; stderr:\n{}",
                lines.join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_scomo_device_is_notified_installs_and_reports_by_itself() {
    const SECRET: &str = "6e6f74692d736563726574";
    let dir = scratch("listening");
    let config = dir.join("server.json");
    std::fs::write(
        &config,
        json!({"server_id": "cli-updates", "dev_notification": {"secret_hex": SECRET}}).to_string(),
    )
    .expect("config written");
    let package = b"listening package".repeat(16);
    let files = FileServer::start(package.clone(), Behaviour::default()).await;
    let served = DmServe::start(
        env!("CARGO_BIN_EXE_dm"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--dev",
            "--config",
            config.to_str().expect("UTF-8 path"),
        ],
    );
    let admin = AdminApi::new(&served.url(), None);
    let server = served.url();
    let dev_id = "IMEI:350000000000004";
    let state = dir.join("device.json");
    let url = format!("{server}/dm");
    let device = Listening::spawn(&[
        "device",
        "--server",
        &url,
        "--state",
        state.to_str().expect("UTF-8 path"),
        "--dev-id",
        dev_id,
        "--srv-id",
        "cli-updates",
        "--noti-secret-hex",
        SECRET,
        "--notify-listen",
        "127.0.0.1:0",
        "--scomo",
        "--update-duration",
        "100",
    ]);
    assert!(device.wait_for("session ended").contains("completed"));

    put_object(
        &admin,
        "sw/tool",
        json!([{
            "ClientURI": format!("{SCOMO}/scomo/Download/tool"),
            "MOData": {"tool": {
                "PkgID": "tool-1.4", "PkgURL": files.url(),
                "Ext": {"PkgSize": package.len(), "PkgSHA256": sha256_hex(&package)},
                "Operations": {"Download": {}, "DownloadInstall": {}, "DownloadInstallInactive": {}}
            }}
        }]),
    )
    .await;
    enqueue(&admin, dev_id, &["HGET", &format!("{server}/repo/sw/tool")]).await;
    let node = format!("{SCOMO}/scomo/Download/tool/Operations/DownloadInstallInactive");
    enqueue(&admin, dev_id, &["EXEC", &node, &url]).await;
    let sent = admin.notify(dev_id).await.expect("answered");
    assert_eq!(sent.status, 200, "{sent:?}");

    device.wait_for("software component tool DownloadInstallInactive finished: 1200");
    // The device delivers the result by itself, in a session of its own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let result = loop {
        let alerts = alerts(&admin, dev_id).await;
        if let Some(alert) = alerts
            .into_iter()
            .find(|a| a["AlertType"] == "urn:oma:at:scomo:1.0:OperationComplete")
        {
            break alert;
        }
        assert!(std::time::Instant::now() < deadline, "no result alert");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(result["SourceURI"], node.as_str());
    assert_eq!(
        result["TargetURI"],
        format!("{SCOMO}/scomo/Inventory/Deployed/tool")
    );
    assert_eq!(
        result["Data"]["DM1x"],
        "<ResultCode>1200</ResultCode><Identifier>tool-1.4</Identifier>"
    );
    drop(device);
    let _ = std::fs::remove_dir_all(&dir);
}
