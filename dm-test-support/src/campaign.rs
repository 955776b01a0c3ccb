//! Campaign tests against a running server (docs/updates.md): devices
//! speaking the protocol as FUMO devices do (their MOS with a FUMO instance,
//! statuses of the HGET and the EXECs, result alerts), the artifact and
//! group of a campaign, the admin API calls and waits.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dm_server::{
    ArtifactId, ArtifactKind, ArtifactRecord, ArtifactSource, CampaignId, DeviceRegistration,
    GroupFilter, GroupId, GroupRecord, ServerOptions, Store, UpdateState,
};
use dm_types::update::{FumoOperation, FumoResult, fumo_result_alert};
use dm_types::{Alert, ClientUri};
use serde_json::{Value, json};

use crate::server::{
    AdminClient, Auth, RESPONSE, TestServer, client, commands, cont_uri, dev, options, p3,
    post_package, post_package1,
};

/// The package the campaigns deliver.
pub const PACKAGE: &[u8] = b"firmware 2.0 image";

/// A test device: DevID, credentials, and whether it has a FUMO instance.
#[derive(Clone)]
pub struct Device {
    /// Its DevID.
    pub id: String,
    /// Its Basic user name.
    pub user: String,
    /// Its password.
    pub pass: String,
    /// Whether its MOS lists the update MOs' instances: FUMO `fw` and
    /// SCOMO `scomo`.
    pub fumo: bool,
}

impl Device {
    /// Its Basic credentials.
    pub fn auth(&self) -> Auth<'_> {
        Auth::Basic(&self.user, &self.pass)
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The test options with a campaign tick of 50 ms.
pub fn fast() -> ServerOptions {
    options()
        .campaign_tick(Duration::from_millis(50))
        .build()
        .expect("options")
}

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// Registers `n` devices with a FUMO instance, the artifact `fw-2` and the
/// group `all` of every device.
pub async fn fleet<S: Store>(server: &TestServer<S>, n: usize) -> Vec<Device> {
    let admin = server.admin();
    let realm = admin.realm().to_owned();
    let mut devices = Vec::new();
    for i in 0..n {
        let device = Device {
            id: format!("IMEI:35{i:04}"),
            user: format!("user-{i}"),
            pass: format!("pass-{i}"),
            fumo: true,
        };
        admin
            .register_device(
                DeviceRegistration::new(dev(&device.id)).with_password(
                    &device.user,
                    &device.pass,
                    &realm,
                ),
                false,
            )
            .await
            .expect("registered");
        devices.push(device);
    }
    // Each has had a session: the server knows its MOS.
    for device in &devices {
        session(server, device, &[], accepting).await;
    }
    let store = server.server.store();
    let artifact = ArtifactRecord::new(
        ArtifactId::new("fw-2").expect("id"),
        ArtifactKind::Firmware,
        "Acme firmware",
        "2.0",
        PACKAGE.len() as u64,
        sha256(PACKAGE),
        ArtifactSource::Stored,
    );
    store
        .put_artifact(artifact, Some(bytes::Bytes::from_static(PACKAGE)))
        .await
        .expect("artifact");
    put_group(server, "all", devices.iter().map(|d| d.id.as_str())).await;
    devices
}

/// Stores the group `name` of these DevIDs.
pub async fn put_group<'a, S: Store>(
    server: &TestServer<S>,
    name: &str,
    members: impl Iterator<Item = &'a str>,
) {
    let filter = GroupFilter {
        devices: members.map(dev).collect::<BTreeSet<_>>(),
        ..GroupFilter::default()
    };
    server
        .server
        .store()
        .put_group(GroupRecord::new(GroupId::new(name).expect("id"), filter))
        .await
        .expect("group");
}

/// A campaign of `fw-2` to `all` with these stages and options.
pub fn spec(stages: Value, extra: Value) -> Value {
    let mut spec = json!({
        "name": "fw 2.0",
        "artifact": "fw-2",
        "group": "all",
        "pacing": {"max_in_flight": 100, "notifications_per_second": 1000},
        "retry": {"max_attempts": 3, "initial_backoff_ms": 200, "max_backoff_ms": 1000},
    });
    spec["stages"] = stages;
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            spec[k] = v;
        }
    }
    spec
}

/// Creates a campaign through the admin API (asserting the `201`); its id.
pub async fn create(admin: &AdminClient, spec: Value) -> u64 {
    let (status, body) = admin.post("/admin/campaigns", spec).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_u64().expect("id")
}

/// Waits (up to 10 s) until `check` holds.
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A device's row in campaign `id`.
pub async fn row<S: Store>(
    server: &TestServer<S>,
    id: u64,
    device: &Device,
) -> dm_server::CampaignDevice {
    server
        .server
        .store()
        .campaign_device(CampaignId(id), &dev(&device.id))
        .await
        .expect("store")
        .expect("row")
}

/// The state of a device's row in campaign `id`.
pub async fn state_of<S: Store>(server: &TestServer<S>, id: u64, device: &Device) -> UpdateState {
    row(server, id, device).await.state
}

/// Waits (up to 10 s) until a device's row is in `state`.
pub async fn wait_state<S: Store>(
    server: &TestServer<S>,
    id: u64,
    device: &Device,
    state: UpdateState,
) {
    until(&format!("{} is {}", device.id, state.name()), || async {
        state_of(server, id, device).await == state
    })
    .await;
}

/// The status of campaign `id` as the admin API shows it.
pub async fn status_of(admin: &AdminClient, id: u64) -> String {
    let (status, body) = admin.get(&format!("/admin/campaigns/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["status"].as_str().unwrap_or("").to_owned()
}

/// Waits (up to 10 s) until campaign `id` has this status.
pub async fn wait_status(admin: &AdminClient, id: u64, expected: &str) {
    until(&format!("campaign {id} is {expected}"), || async {
        status_of(admin, id).await == expected
    })
    .await;
}

/// The result alert of `operation` on the FUMO instance `fw`.
pub fn fumo_alert(operation: FumoOperation, code: u16) -> Alert {
    let node = ClientUri::parse(&format!("urn:oma:mo:oma-fumo:1.0/fw/{operation}")).expect("uri");
    fumo_result_alert(&node, operation, FumoResult::new(code).expect("code"))
}

/// One session of `device`: a Package#1 with its MOS and `alerts`, then a
/// Package#3 answering each command of every Package#2 with what `answer`
/// says, until END. Returns every command received.
pub async fn session<S: Store>(
    server: &TestServer<S>,
    device: &Device,
    alerts: &[Alert],
    mut answer: impl FnMut(&[String]) -> u16,
) -> Vec<Vec<String>> {
    let mut mos = vec![json!({"MOID": "urn:oma:mo:oma-dm-devinfo:1.0", "MIID": ["devinfo"]})];
    if device.fumo {
        mos.push(json!({"MOID": "urn:oma:mo:oma-fumo:1.0", "MIID": ["fw"]}));
        mos.push(json!({"MOID": "urn:oma:mo:oma-scomo:1.0", "MIID": ["scomo"]}));
    }
    let mut all = vec![json!({"AlertType": "urn:oma:at:dm:2.0:ClientInitiatedMgmt"})];
    for alert in alerts {
        all.push(serde_json::from_slice(&dm_codec::encode_alert(alert)).expect("alert JSON"));
    }
    let p1 = json!({"MOS": mos, "Alert": all}).to_string();
    let http = client();
    let response = post_package1(&http, server, &device.id, &p1, device.auth()).await;
    let status = response.status();
    let body = response.bytes().await.expect("body");
    assert_eq!(status, 200, "{p1}: {}", String::from_utf8_lossy(&body));
    let mut package = commands(&body);
    let mut received = Vec::new();
    loop {
        if package.first().is_some_and(|c| c[0] == "END") {
            return received;
        }
        let uri = cont_uri(&package);
        // The CONT's status first, then the commands'.
        let codes: Vec<u16> = std::iter::once(200)
            .chain(package[1..].iter().map(|c| answer(c)))
            .collect();
        received.extend(package.into_iter().skip(1));
        let response = post_package(
            &http,
            &uri,
            RESPONSE,
            &device.id,
            &if codes.is_empty() {
                "{}".to_owned()
            } else {
                p3(&codes)
            },
            device.auth(),
        )
        .await;
        let status = response.status();
        let body = response.bytes().await.expect("body");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        package = commands(&body);
        if package.first().is_some_and(|c| c[0] == "END") {
            return received;
        }
    }
}

/// Answers the way a device whose FUMO accepts the commands does: 200 to
/// the HGET, 202 to the EXECs (their result comes in an alert).
pub fn accepting(command: &[String]) -> u16 {
    if command[0] == "EXEC" { 202 } else { 200 }
}

/// A device running its update to the end: the session that takes the
/// commands, then the download report (whose session takes the EXEC of
/// Update), then the update report.
pub async fn run_update<S: Store>(server: &TestServer<S>, device: &Device) {
    let first = session(server, device, &[], accepting).await;
    assert!(
        first
            .iter()
            .any(|c| c[0] == "EXEC" && c[1].ends_with("/fw/Download")),
        "{first:?}"
    );
    let second = session(
        server,
        device,
        &[fumo_alert(FumoOperation::Download, 200)],
        accepting,
    )
    .await;
    assert!(
        second
            .iter()
            .any(|c| c[0] == "EXEC" && c[1].ends_with("/fw/Update")),
        "{second:?}"
    );
    session(
        server,
        device,
        &[fumo_alert(FumoOperation::Update, 200)],
        accepting,
    )
    .await;
}
