//! End to end: a firmware campaign of a real in-process `DmServer` updating
//! real `DmClient` devices that run the FUMO driver with
//! `SimulatedFirmware` (docs/updates.md): the driver queues the HGET and the
//! EXEC, each device downloads its package (from the server's artifact
//! route with its own token, or from a package server that cuts
//! connections), checks and installs it, and the result alerts move the
//! campaign to completion.

use std::collections::BTreeSet;
use std::time::Duration;

use dm_client::update::{Downloader, Fumo, FumoSetup, SimulatedFirmware};
use dm_client::{Account, Credentials, DmClient, Trigger};
use dm_server::{
    ArtifactId, ArtifactKind, ArtifactRecord, ArtifactSource, CampaignId, DeviceRegistration,
    DmServer, GroupFilter, GroupId, GroupRecord, MemoryStore, ServerOptions, Store, UdpChannel,
    UpdateState, parse_campaign_spec,
};
use dm_test_support::device::{account, fast_retry, server_id, sha256, transport};
use dm_test_support::file_server::{Behaviour, FileServer};
use dm_tree::DevInfo;
use dm_types::update::FumoState;
use dm_types::{DevId, Miid};

const ADMIN_TOKEN: &str = "e2e-admin-token";

fn package(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 13) % 251).unwrap_or(0))
        .collect()
}

/// A server on a loopback port, its campaign driver ticking every 50 ms.
struct Node {
    server: DmServer<MemoryStore, UdpChannel>,
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn node() -> Node {
    let options = ServerOptions::builder()
        .server_id(dm_test_support::device::SERVER_ID)
        .admin_token(ADMIN_TOKEN)
        .campaign_tick(Duration::from_millis(50))
        .build()
        .expect("options");
    let server = DmServer::new(options, MemoryStore::new(), UdpChannel);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let serving = server.clone();
    let task = tokio::spawn(async move {
        let _ = serving.serve(listener, std::future::pending()).await;
    });
    Node { server, base, task }
}

/// A device: its client, its FUMO driver and its DevID.
struct Device {
    dev_id: DevId,
    client: DmClient,
    fumo: Fumo<SimulatedFirmware>,
}

/// Registers and builds `n` devices (DevID, Basic credentials) with a FUMO
/// instance `fw` at firmware 1.0, each after a first session (so that the
/// server knows its MOS).
async fn devices(node: &Node, n: usize) -> Vec<Device> {
    let admin = node.server.admin();
    let realm = admin.realm().to_owned();
    let mut devices = Vec::new();
    for i in 0..n {
        let dev_id = DevId::new(format!("IMEI:49000000{i:04}")).expect("DevID");
        let (user, pass) = (format!("device-{i}"), format!("secret-{i}"));
        admin
            .register_device(
                DeviceRegistration::new(dev_id.clone()).with_password(&user, &pass, &realm),
                false,
            )
            .await
            .expect("registered");
        let mut client = DmClient::builder(DevInfo::new(dev_id.clone(), "Acme", "X1"))
            .account(
                Account::new(account(&node.base))
                    .credentials(Credentials::Basic {
                        username: user,
                        password: pass,
                    })
                    .allow_every_moid(true),
            )
            .transport(transport())
            .build()
            .expect("client");
        let setup = FumoSetup::new(Miid::new("fw").expect("MIID"))
            .package("acme-x1", "1.0")
            .server(server_id())
            .downloader(
                Downloader::new(transport())
                    .retry(fast_retry(3))
                    .max_size(8 << 20),
            );
        let fumo = client
            .install_fumo(setup, SimulatedFirmware::new(4 << 20))
            .expect("FUMO installed");
        let report = client
            .run_session(&server_id(), Trigger::Client)
            .await
            .expect("session");
        assert!(report.completed(), "{report}");
        devices.push(Device {
            dev_id,
            client,
            fumo,
        });
    }
    devices
}

/// The artifact `fw-2` (version 2.0) and the group `all` of `devices`.
async fn artifact_and_group(
    node: &Node,
    devices: &[Device],
    source: ArtifactSource,
    content: &[u8],
    declared: &[u8],
) {
    let store = node.server.store();
    let stored = matches!(source, ArtifactSource::Stored);
    let record = ArtifactRecord::new(
        ArtifactId::new("fw-2").expect("id"),
        ArtifactKind::Firmware,
        "acme-x1",
        "2.0",
        content.len() as u64,
        sha256(declared),
        source,
    );
    store
        .put_artifact(record, stored.then(|| bytes::Bytes::from(content.to_vec())))
        .await
        .expect("artifact");
    let filter = GroupFilter {
        devices: devices
            .iter()
            .map(|d| d.dev_id.clone())
            .collect::<BTreeSet<_>>(),
        ..GroupFilter::default()
    };
    store
        .put_group(GroupRecord::new(GroupId::new("all").expect("id"), filter))
        .await
        .expect("group");
}

async fn campaign(node: &Node, stages: &str) -> CampaignId {
    let spec = parse_campaign_spec(
        format!(
            r#"{{"artifact": "fw-2", "group": "all", "stages": {stages},
                "pacing": {{"max_in_flight": 100, "notifications_per_second": 1000}},
                "retry": {{"max_attempts": 3, "initial_backoff_ms": 100, "max_backoff_ms": 500}}}}"#
        )
        .as_bytes(),
    )
    .expect("spec");
    node.server
        .admin()
        .create_campaign(spec)
        .await
        .expect("created")
        .id
}

async fn row(node: &Node, id: CampaignId, device: &Device) -> dm_server::CampaignDevice {
    node.server
        .store()
        .campaign_device(id, &device.dev_id)
        .await
        .expect("store")
        .expect("row")
}

/// The devices poll (they have no notification address): each runs a
/// session, then delivers the results its driver finished, until every
/// row is final (at most 30 s).
async fn run_until_final(node: &Node, id: CampaignId, devices: &mut [Device]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut all_final = true;
        for device in devices.iter_mut() {
            if row(node, id, device).await.state.is_final() {
                continue;
            }
            all_final = false;
            let report = device
                .client
                .run_session(&server_id(), Trigger::Client)
                .await
                .expect("session");
            assert!(report.completed(), "{report}");
            if device.client.take_exec_completions().expect("taken") > 0 {
                let reports = device
                    .client
                    .deliver_pending_reports()
                    .await
                    .expect("delivered");
                assert!(reports.iter().all(dm_client::SessionReport::completed));
            }
        }
        if all_final {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the campaign's devices did not all finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_completed(node: &Node, id: CampaignId) {
    for _ in 0..200 {
        let status = node
            .server
            .admin()
            .campaign(id)
            .await
            .expect("campaign")
            .record
            .status;
        if status == dm_server::CampaignStatus::Completed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("campaign {id} did not complete");
}

#[tokio::test]
async fn a_fleet_is_updated_from_the_servers_artifact_in_two_stages() {
    let node = node().await;
    let mut devices = devices(&node, 4).await;
    let content = package(200_000);
    artifact_and_group(&node, &devices, ArtifactSource::Stored, &content, &content).await;
    let id = campaign(
        &node,
        r#"[{"size": {"count": 1}, "success_threshold_percent": 100}, {"size": {"percent": 100}}]"#,
    )
    .await;
    run_until_final(&node, id, &mut devices).await;
    wait_completed(&node, id).await;
    for device in &devices {
        let row = row(&node, id, device).await;
        assert_eq!(
            (row.state, row.result, row.attempts),
            (UpdateState::Succeeded, Some(200), 1),
            "{}",
            device.dev_id
        );
        assert_eq!(device.fumo.state(), FumoState::UpdateSuccessfulNoData);
        let firmware = device.fumo.firmware();
        assert_eq!(firmware.installs(), 1);
        let installed = firmware.installed().expect("installed");
        assert_eq!(
            (installed.version.as_str(), installed.size),
            ("2.0", 200_000)
        );
    }
}

#[tokio::test]
async fn a_cut_download_resumes_with_a_range_and_succeeds() {
    let node = node().await;
    let mut devices = devices(&node, 1).await;
    let content = package(300_000);
    let files = FileServer::start(
        content.clone(),
        Behaviour {
            cuts: vec![70_000],
            ..Behaviour::default()
        },
    )
    .await;
    let source = ArtifactSource::Url(files.url().to_owned());
    artifact_and_group(&node, &devices, source, &content, &content).await;
    let id = campaign(&node, r#"[{"size": {"percent": 100}}]"#).await;
    run_until_final(&node, id, &mut devices).await;
    let row = row(&node, id, &devices[0]).await;
    assert_eq!((row.state, row.attempts), (UpdateState::Succeeded, 1));
    let served = files.served();
    assert_eq!(served.len(), 2, "{served:?}");
    assert_eq!(served[1].range.as_deref(), Some("bytes=70000-"));
    assert_eq!(served[1].status, 206);
    assert_eq!(devices[0].fumo.firmware().installs(), 1);
    wait_completed(&node, id).await;
}

#[tokio::test]
async fn a_package_with_another_sha256_fails_with_402_and_is_not_retried() {
    let node = node().await;
    let mut devices = devices(&node, 1).await;
    let content = package(50_000);
    artifact_and_group(
        &node,
        &devices,
        ArtifactSource::Stored,
        &content,
        b"another package",
    )
    .await;
    let id = campaign(
        &node,
        r#"[{"size": {"percent": 100}, "error_threshold_percent": 100}]"#,
    )
    .await;
    run_until_final(&node, id, &mut devices).await;
    let row = row(&node, id, &devices[0]).await;
    assert_eq!(
        (row.state, row.result, row.attempts),
        (UpdateState::Failed, Some(402), 1)
    );
    assert_eq!(devices[0].fumo.firmware().installs(), 0);
    wait_completed(&node, id).await;
    // Never started again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        row.attempts,
        self::row(&node, id, &devices[0]).await.attempts
    );
}

/// A software campaign: devices running the real SCOMO driver over
/// `SimulatedComponents` download the server's artifact and install it
/// (`DownloadInstall`); one device's installs fail with 1410, which fails
/// its row for good while the others succeed with 1200 and deploy the
/// component.
#[tokio::test]
async fn a_software_campaign_installs_components_through_scomo() {
    use dm_client::update::{
        Scomo, ScomoOptions, SimulatedComponents, Simulation, SoftwareComponents,
    };
    use dm_types::update::ScomoResult;
    use std::sync::Arc;

    let node = node().await;
    let mut devices = devices(&node, 3).await;
    let mut components = Vec::new();
    for (i, device) in devices.iter_mut().enumerate() {
        let simulation = Simulation {
            result: if i == 2 {
                ScomoResult::new(1410).expect("code")
            } else {
                ScomoResult::SUCCESSFUL
            },
            ..Simulation::default()
        };
        let simulated = Arc::new(SimulatedComponents::new(simulation));
        let options = ScomoOptions {
            miid: Miid::new("sw").expect("MIID"),
            downloader: Some(Downloader::new(transport()).retry(fast_retry(3))),
            listener: None,
        };
        let _scomo =
            Scomo::attach(&mut device.client, simulated.clone(), options).expect("SCOMO attached");
        // A session so that the server sees the SCOMO instance in the MOS.
        let report = device
            .client
            .run_session(&server_id(), Trigger::Client)
            .await
            .expect("session");
        assert!(report.completed(), "{report}");
        components.push(simulated);
    }
    let content = package(40_000);
    let store = node.server.store();
    store
        .put_artifact(
            ArtifactRecord::new(
                ArtifactId::new("app-3.1").expect("id"),
                ArtifactKind::Software,
                "acme-app",
                "3.1",
                content.len() as u64,
                sha256(&content),
                ArtifactSource::Stored,
            ),
            Some(bytes::Bytes::from(content.clone())),
        )
        .await
        .expect("artifact");
    let filter = GroupFilter {
        devices: devices.iter().map(|d| d.dev_id.clone()).collect(),
        ..GroupFilter::default()
    };
    store
        .put_group(GroupRecord::new(GroupId::new("all").expect("id"), filter))
        .await
        .expect("group");
    let spec = parse_campaign_spec(
        br#"{"artifact": "app-3.1", "group": "all",
             "stages": [{"size": {"percent": 100}, "error_threshold_percent": 100}],
             "pacing": {"max_in_flight": 100, "notifications_per_second": 1000}}"#,
    )
    .expect("spec");
    let id = node
        .server
        .admin()
        .create_campaign(spec)
        .await
        .expect("created")
        .id;
    run_until_final(&node, id, &mut devices).await;
    wait_completed(&node, id).await;
    for (i, device) in devices.iter().enumerate() {
        let row = row(&node, id, device).await;
        let deployed = components[i].deployed();
        if i == 2 {
            assert_eq!(
                (row.state, row.result, row.attempts),
                (UpdateState::Failed, Some(1410), 1)
            );
            assert!(deployed.is_empty(), "{deployed:?}");
        } else {
            assert_eq!(
                (row.state, row.result, row.attempts),
                (UpdateState::Succeeded, Some(1200), 1),
                "{}",
                device.dev_id
            );
            assert_eq!(deployed.len(), 1, "{deployed:?}");
            assert_eq!(deployed[0].version.as_deref(), Some("3.1"));
        }
    }
}
