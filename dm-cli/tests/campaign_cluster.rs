//! A firmware campaign on two `dm serve` nodes sharing one PostgreSQL
//! database behind a round-robin proxy (their `public_uri`): the node
//! holding the campaign's lease (the one whose log shows the devices it
//! starts) is killed with SIGKILL in the middle of the campaign; the other
//! takes the campaign over once the lease expires, and the campaign
//! completes with every device updated. The devices are real `DmClient`s
//! with the FUMO driver over `SimulatedFirmware`, notified over UDP,
//! downloading the stored artifact through the proxy.
//!
//! Needs `--features postgres`; skips (outside CI) without a PostgreSQL
//! server at 127.0.0.1:5432.

#![cfg(feature = "postgres")]

mod faults;

use std::time::{Duration, Instant};

use dm_client::update::{FumoSetup, SimulatedFirmware};
use dm_client::{Account, DmClient, Trigger};
use dm_test_support::admin_api::AdminApi;
use dm_test_support::fleet;
use dm_test_support::process::DmServe;
use dm_test_support::proxy::Proxy;
use dm_tree::{DevInfo, DmAcc, NotificationAuth};
use dm_types::{DevId, Miid, ServerId, ServerUri};
use faults::{DM, Scratch, TOKEN, eventually, fresh_database, write_config};
use serde_json::{Value, json};

/// Devices of the campaign.
const DEVICES: usize = 6;
const NOTI_SECRET_HEX: &str = "63616d706169676e2d736563726574";

/// The log line of a node starting a device (its driver holds the lease).
const STARTED: &str = "device started";

/// Device `n`: its FUMO instance over a simulated firmware, listening for
/// notifications on its own UDP socket; reports its MOS in a first
/// session, then serves notifications until the test ends.
async fn device(n: usize, server: &str) -> tokio::task::JoinHandle<()> {
    let server_id = ServerId::new(fleet::SERVER_ID).expect("server id");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("a UDP socket");
    let address = format!("udp://{}", socket.local_addr().expect("address"));
    let secret = dm_codec::hex::decode(NOTI_SECRET_HEX).expect("hex");
    let mut account = DmAcc::new(
        server_id.clone(),
        ServerUri::new(format!("{server}/dm")).expect("uri"),
    );
    account.notification = Some(NotificationAuth::sha256(secret, Vec::new()));
    let dev_id = DevId::new(fleet::dev_id(n)).expect("DevID");
    let mut client = DmClient::builder(DevInfo::new(dev_id, "Acme", "Cluster-1"))
        .account(Account::new(account))
        .notification_address(address)
        .build()
        .expect("client");
    let setup = FumoSetup::new(Miid::new("fw").expect("miid"))
        .package("cluster-firmware", "1.0")
        .server(server_id.clone());
    let firmware = SimulatedFirmware::new(1 << 20).install_duration(Duration::from_millis(300));
    client.install_fumo(setup, firmware).expect("FUMO");
    let report = client
        .run_session(&server_id, Trigger::Client)
        .await
        .expect("first session");
    assert!(report.completed(), "device {n}: {report:?}");
    tokio::spawn(async move {
        let _ = client.listen_udp(&socket, std::future::pending()).await;
    })
}

async fn call(admin: &AdminApi, method: reqwest::Method, path: &str, body: Value) -> Value {
    let answer = admin
        .call(method, path, Some(body))
        .await
        .expect("an answer");
    assert!(
        answer.is_success(),
        "{path}: {} {}",
        answer.status,
        answer.body
    );
    answer.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_driving_a_campaign_is_killed_and_the_other_completes_it() {
    let started = Instant::now();
    let Some(database) = fresh_database("campaign_cluster").await else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let scratch = Scratch::new("campaign_cluster");
    let proxy = Proxy::start(&[]);
    // A 200 ms campaign tick: the lease lasts 2 s (ten ticks).
    let config = write_config(
        &scratch,
        json!({"campaign_tick_ms": 200}),
        json!({"public_uri": proxy.url()}),
    );
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--dev",
        "--config",
        &config,
        "--store",
        database.url(),
    ];
    let mut nodes: Vec<DmServe> = (0..2).map(|_| DmServe::start(DM, &args)).collect();
    proxy.set_upstreams(&nodes.iter().map(DmServe::address).collect::<Vec<_>>());
    let admin = AdminApi::new(&proxy.url(), Some(TOKEN));

    // The devices, registered with their notification secret; each reports
    // its FUMO instance in a first session.
    let mut tasks = Vec::new();
    for n in 0..DEVICES {
        call(
            &admin,
            reqwest::Method::POST,
            "/admin/devices",
            json!({"dev_id": fleet::dev_id(n), "notification": {"secret_hex": NOTI_SECRET_HEX}}),
        )
        .await;
        tasks.push(device(n, &proxy.url()).await);
    }

    // The artifact (uploaded through the proxy), the group, the campaign:
    // one device at a time, so that it is under way when the node dies.
    let image: Vec<u8> = (0..32 * 1024)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let upload = reqwest::Client::new()
        .put(format!(
            "{}/admin/artifacts/fw-2?kind=firmware&name=cluster-firmware&version=2.0",
            proxy.url()
        ))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/octet-stream")
        .body(image)
        .send()
        .await
        .expect("uploaded");
    assert_eq!(upload.status(), 201);
    let members: Vec<String> = (0..DEVICES).map(fleet::dev_id).collect();
    call(
        &admin,
        reqwest::Method::PUT,
        "/admin/groups/cluster",
        json!({"filter": {"devices": members}}),
    )
    .await;
    let created = call(
        &admin,
        reqwest::Method::POST,
        "/admin/campaigns",
        json!({
            "artifact": "fw-2",
            "group": "cluster",
            "stages": [{"size": {"count": 2}}, {"size": {"percent": 100}}],
            "pacing": {"max_in_flight": 1, "notifications_per_second": 1},
            "retry": {"max_attempts": 3, "initial_backoff_ms": 500, "max_backoff_ms": 1000},
            "device_timeout_ms": 5000,
        }),
    )
    .await;
    let id = created["id"].as_u64().expect("an id");
    let campaign = format!("/admin/campaigns/{id}");
    let succeeded = |body: &Value| {
        body["progress"]["totals"]["succeeded"]
            .as_u64()
            .unwrap_or(0)
    };

    // Once a device is updated, the node whose driver starts the devices
    // is killed for real; the proxy sends everything to the other.
    assert!(
        eventually(Duration::from_secs(30), || async {
            let answer = admin.call(reqwest::Method::GET, &campaign, None).await;
            answer.is_ok_and(|a| succeeded(&a.body) >= 1)
        })
        .await,
        "no device updated within 30 s"
    );
    let drivers: Vec<usize> = (0..2)
        .filter(|&i| nodes[i].stderr().contains(STARTED))
        .collect();
    assert_eq!(drivers.len(), 1, "exactly one node starts devices");
    let driver = drivers[0];
    let survivor = 1 - driver;
    let before_kill = nodes[survivor].stderr().matches(STARTED).count();
    assert_eq!(before_kill, 0, "the other node started nobody");
    let at_kill = admin
        .call(reqwest::Method::GET, &campaign, None)
        .await
        .expect("an answer")
        .body;
    assert!(
        succeeded(&at_kill) < DEVICES as u64,
        "the campaign ended before the kill: {at_kill}"
    );
    nodes[driver].kill_hard();
    proxy.set_upstreams(&[nodes[survivor].address()]);
    eprintln!(
        "campaign_cluster: node {driver} (the driver) killed after {:.1} s at {}",
        started.elapsed().as_secs_f64(),
        at_kill["progress"]["totals"]
    );

    // The survivor takes the lease over once it expires, and completes.
    let mut progress = Value::Null;
    let completed = eventually(Duration::from_secs(90), || async {
        admin
            .call(reqwest::Method::GET, &campaign, None)
            .await
            .is_ok_and(|answer| answer.body["status"] == "completed")
    })
    .await;
    if let Ok(answer) = admin.call(reqwest::Method::GET, &campaign, None).await {
        progress = answer.body;
    }
    assert!(completed, "not completed after the takeover: {progress}");
    assert_eq!(
        succeeded(&progress),
        DEVICES as u64,
        "every device updated: {progress}"
    );
    assert!(
        nodes[survivor].stderr().contains(STARTED),
        "the survivor started the devices left"
    );
    eprintln!(
        "campaign_cluster: completed by node {survivor} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for task in tasks {
        task.abort();
    }
    drop(nodes);
    drop(database);
}
