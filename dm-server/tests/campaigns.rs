//! Update campaigns against the real server over HTTP (docs/updates.md,
//! "Server side: campaigns"): the admin API creates and steers them, the
//! driver starts the devices, and devices speaking the protocol (Package#1
//! with their MOS and result alerts, Package#3 with their statuses) move
//! their rows through every state.

use dm_test_support::server as common;

use std::time::Duration;

use common::*;
use dm_server::{MemoryStore, Store, UpdateState};
use dm_test_support::campaign::*;
use dm_types::ClientUri;
use dm_types::update::{FumoOperation, FumoResult, fumo_result_alert};
use serde_json::{Value, json};

#[tokio::test]
async fn a_firmware_update_goes_through_every_state() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 2).await;
    let device = &devices[0];
    let admin = AdminClient::new(&server.base);
    let id = create(&admin, spec(json!([{"size": {"percent": 100}}]), json!({}))).await;
    // No notification address: notified means the commands wait for the
    // device's next session.
    wait_state(&server, id, device, UpdateState::Notified).await;
    let queued = row(&server, id, device).await;
    assert_eq!(queued.attempts, 1);
    assert_eq!(queued.commands.len(), 2);

    // The session claims the commands: in session.
    let http = client();
    let p1 = json!({
        "MOS": [{"MOID": "urn:oma:mo:oma-fumo:1.0", "MIID": ["fw"]}],
        "Alert": [{"AlertType": "urn:oma:at:dm:2.0:ClientInitiatedMgmt"}],
    })
    .to_string();
    let response = post_package1(&http, &server, &device.id, &p1, device.auth()).await;
    assert_eq!(response.status(), 200);
    let package = commands(&response.bytes().await.expect("body"));
    assert_eq!(state_of(&server, id, device).await, UpdateState::InSession);
    let hget = &package[1];
    assert_eq!(hget[0], "HGET");
    let exec = &package[2];
    assert_eq!(
        exec[..],
        [
            "EXEC".to_owned(),
            "urn:oma:mo:oma-fumo:1.0/fw/Download".to_owned(),
            format!("{}/dm", server.base)
        ]
    );
    // The MO data is the device's own: the PkgURL holds its token.
    let data = repo_get(&http, &hget[1], Some(&device.id), device.auth()).await;
    assert_eq!(data.status(), 200);
    let items: Value = serde_json::from_slice(&data.bytes().await.expect("body")).expect("JSON");
    let url = items
        .as_array()
        .expect("items")
        .iter()
        .find_map(|i| i["MOData"]["PkgURL"].as_str())
        .expect("PkgURL");
    assert!(
        url.starts_with(&format!("{}/artifacts/fw-2?token=", server.base)),
        "{url}"
    );
    let sizes: Vec<&Value> = items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i["MOData"])
        .collect();
    assert!(
        sizes.contains(&&json!({"PkgSize": PACKAGE.len()})),
        "{items}"
    );
    assert!(sizes.contains(&&json!({"PkgVersion": "2.0"})), "{items}");
    let other = &devices[1];
    let stolen = repo_get(&http, &hget[1], Some(&other.id), other.auth()).await;
    assert_eq!(stolen.status(), 404);

    // EXEC accepted: downloading.
    let uri = cont_uri(&package);
    let response = post_package(
        &http,
        &uri,
        RESPONSE,
        &device.id,
        &p3(&[200, 200, 202]),
        device.auth(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        state_of(&server, id, device).await,
        UpdateState::Downloading
    );

    // Downloaded: the same session carries the EXEC of Update.
    let received = session(
        &server,
        device,
        &[fumo_alert(FumoOperation::Download, 200)],
        accepting,
    )
    .await;
    assert_eq!(
        received,
        [vec![
            "EXEC".to_owned(),
            "urn:oma:mo:oma-fumo:1.0/fw/Update".to_owned(),
            format!("{}/dm", server.base)
        ]]
    );
    let installing = row(&server, id, device).await;
    assert_eq!(installing.state, UpdateState::Installing);
    assert_eq!(installing.commands.len(), 3);

    // A report about another instance changes nothing.
    let node = ClientUri::parse("urn:oma:mo:oma-fumo:1.0/other/Update").expect("uri");
    let elsewhere = fumo_result_alert(&node, FumoOperation::Update, FumoResult::SUCCESSFUL);
    session(&server, device, &[elsewhere], accepting).await;
    assert_eq!(state_of(&server, id, device).await, UpdateState::Installing);

    session(
        &server,
        device,
        &[fumo_alert(FumoOperation::Update, 200)],
        accepting,
    )
    .await;
    let done = row(&server, id, device).await;
    assert_eq!(
        (done.state, done.result),
        (UpdateState::Succeeded, Some(200))
    );
    // Its MO data (and download token) is gone with it.
    let gone = repo_get(&http, &hget[1], Some(&device.id), device.auth()).await;
    assert_eq!(gone.status(), 404);

    run_update(&server, &devices[1]).await;
    wait_status(&admin, id, "completed").await;
    let (_, body) = admin.get(&format!("/admin/campaigns/{id}")).await;
    assert_eq!(
        body["progress"]["totals"],
        json!({"succeeded": 2}),
        "{body}"
    );
    assert_eq!(body["progress"]["stages"][0]["total"], 2);
    let (status, rows) = admin
        .get(&format!(
            "/admin/campaigns/{id}/devices?state=succeeded&limit=1"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(rows["devices"].as_array().map(Vec::len), Some(1));
    assert_eq!(rows["devices"][0]["dev_id"], devices[0].id.as_str());
    assert_eq!(rows["next"], devices[0].id.as_str());
    let (_, rest) = admin
        .get(&format!(
            "/admin/campaigns/{id}/devices?state=succeeded&after={}",
            segment(&devices[0].id)
        ))
        .await;
    assert_eq!(rest["devices"][0]["dev_id"], devices[1].id.as_str());
    let (_, list) = admin.get("/admin/campaigns").await;
    assert_eq!(list["campaigns"][0]["status"], "completed");
}

#[tokio::test]
async fn stages_advance_on_their_success_threshold_or_wait_for_approval() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 6).await;
    let admin = AdminClient::new(&server.base);
    let stages = json!([
        {"size": {"count": 2}, "success_threshold_percent": 100},
        {"size": {"count": 2}, "success_threshold_percent": 50, "advance": "approval"},
        {"size": {"percent": 100}},
    ]);
    let id = create(&admin, spec(stages, json!({}))).await;
    for device in &devices[..2] {
        wait_state(&server, id, device, UpdateState::Notified).await;
    }
    // Stage 1 waits for stage 0.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for device in &devices[2..] {
        assert_eq!(state_of(&server, id, device).await, UpdateState::Pending);
    }
    run_update(&server, &devices[0]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        state_of(&server, id, &devices[2]).await,
        UpdateState::Pending
    );
    run_update(&server, &devices[1]).await;
    // Stage 0 met 100%: stage 1 starts by itself.
    wait_state(&server, id, &devices[2], UpdateState::Notified).await;
    wait_state(&server, id, &devices[3], UpdateState::Notified).await;
    run_update(&server, &devices[2]).await;
    // 50% of stage 1: the campaign waits for approval.
    wait_status(&admin, id, "waiting_approval").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        state_of(&server, id, &devices[4]).await,
        UpdateState::Pending
    );
    let (status, body) = admin
        .post(&format!("/admin/campaigns/{id}/resume"), json!(null))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = admin
        .post(&format!("/admin/campaigns/{id}/approve"), json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stage"], 2);
    for device in &devices[4..] {
        wait_state(&server, id, device, UpdateState::Notified).await;
    }
    for device in [&devices[3], &devices[4], &devices[5]] {
        run_update(&server, device).await;
    }
    wait_status(&admin, id, "completed").await;
}

#[tokio::test]
async fn the_error_threshold_pauses_before_the_next_stage() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 10).await;
    let admin = AdminClient::new(&server.base);
    let stages = json!([
        {"size": {"count": 5}, "success_threshold_percent": 100, "error_threshold_percent": 20},
        {"size": {"percent": 100}},
    ]);
    let id = create(&admin, spec(stages, json!({}))).await;
    for device in &devices[..5] {
        wait_state(&server, id, device, UpdateState::Notified).await;
    }
    // One of five (20%) refuses the EXEC: failed for good with that status.
    session(&server, &devices[0], &[], |c| {
        if c[0] == "EXEC" { 405 } else { 200 }
    })
    .await;
    let failed = row(&server, id, &devices[0]).await;
    assert_eq!(
        (failed.state, failed.result),
        (UpdateState::Failed, Some(405))
    );
    for device in &devices[1..5] {
        run_update(&server, device).await;
    }
    wait_status(&admin, id, "paused").await;
    let (_, body) = admin.get(&format!("/admin/campaigns/{id}")).await;
    assert_eq!(body["pause_reason"], "error_threshold");
    assert_eq!(body["paused_stage"], 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for device in &devices[5..] {
        assert_eq!(state_of(&server, id, device).await, UpdateState::Pending);
    }
    // The operator accepts the failures: the next stage starts.
    let (status, body) = admin
        .post(&format!("/admin/campaigns/{id}/resume"), json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    for device in &devices[5..] {
        wait_state(&server, id, device, UpdateState::Notified).await;
    }
    assert_eq!(row(&server, id, &devices[0]).await.attempts, 1);
}

#[tokio::test]
async fn pause_resume_and_cancel() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 4).await;
    let admin = AdminClient::new(&server.base);
    // One device started at a time.
    let mut extra = json!({"pacing": {"max_in_flight": 1, "notifications_per_second": 1000}});
    extra["retry"] = json!({"max_attempts": 1});
    let id = create(&admin, spec(json!([{"size": {"percent": 100}}]), extra)).await;
    wait_state(&server, id, &devices[0], UpdateState::Notified).await;
    let (status, body) = admin
        .post(&format!("/admin/campaigns/{id}/pause"), json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "paused");
    assert_eq!(body["pause_reason"], "operator");
    let (status, _) = admin
        .post(&format!("/admin/campaigns/{id}/pause"), json!(null))
        .await;
    assert_eq!(status, 409);
    let (status, _) = admin
        .post(&format!("/admin/campaigns/{id}/approve"), json!(null))
        .await;
    assert_eq!(status, 409);
    // The device already started finishes; nothing else starts.
    run_update(&server, &devices[0]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        state_of(&server, id, &devices[0]).await,
        UpdateState::Succeeded
    );
    assert_eq!(
        state_of(&server, id, &devices[1]).await,
        UpdateState::Pending
    );
    let (status, _) = admin
        .post(&format!("/admin/campaigns/{id}/resume"), json!(null))
        .await;
    assert_eq!(status, 200);
    wait_state(&server, id, &devices[1], UpdateState::Notified).await;
    session(&server, &devices[1], &[], accepting).await;
    assert_eq!(
        state_of(&server, id, &devices[1]).await,
        UpdateState::Downloading
    );
    let (status, body) = admin
        .post(&format!("/admin/campaigns/{id}/cancel"), json!(null))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    // Those not started are skipped; the one downloading keeps its state.
    for device in &devices[2..] {
        assert_eq!(state_of(&server, id, device).await, UpdateState::Skipped);
    }
    assert_eq!(
        state_of(&server, id, &devices[1]).await,
        UpdateState::Downloading
    );
    for action in ["pause", "resume", "approve", "cancel"] {
        let (status, body) = admin
            .post(&format!("/admin/campaigns/{id}/{action}"), json!(null))
            .await;
        assert_eq!(status, 409, "{action}: {body}");
    }
    let (status, _) = admin.post("/admin/campaigns/99/pause", json!(null)).await;
    assert_eq!(status, 404);
    let (status, _) = admin
        .post(&format!("/admin/campaigns/{id}/frob"), json!(null))
        .await;
    assert_eq!(status, 404);
    // A device in no unfinished campaign may join a new one.
    let second = create(&admin, spec(json!([{"size": {"percent": 100}}]), json!({}))).await;
    wait_state(&server, second, &devices[2], UpdateState::Notified).await;
}

#[tokio::test]
async fn cancelling_takes_the_mo_data_of_devices_not_yet_in_a_session() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 1).await;
    let device = &devices[0];
    let admin = AdminClient::new(&server.base);
    let id = create(&admin, spec(json!([{"size": {"percent": 100}}]), json!({}))).await;
    wait_state(&server, id, device, UpdateState::Notified).await;
    let queued = server
        .admin()
        .commands(&dev(&device.id))
        .await
        .expect("commands");
    let source = queued[0]
        .command
        .params()
        .next()
        .expect("HGET source")
        .to_owned();
    let http = client();
    let data = repo_get(&http, &source, Some(&device.id), device.auth()).await;
    assert_eq!(data.status(), 200);
    let (status, _) = admin
        .post(&format!("/admin/campaigns/{id}/cancel"), json!(null))
        .await;
    assert_eq!(status, 200);
    assert_eq!(state_of(&server, id, device).await, UpdateState::Skipped);
    // The commands still queued download nothing: their data is gone.
    let gone = repo_get(&http, &source, Some(&device.id), device.auth()).await;
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn a_software_update_succeeds_on_its_scomo_result() {
    use dm_server::{ArtifactId, ArtifactKind, ArtifactRecord, ArtifactSource};
    use dm_types::update::{ScomoResult, scomo_result_alert};
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 2).await;
    let app = ArtifactRecord::new(
        ArtifactId::new("app-1").expect("id"),
        ArtifactKind::Software,
        "The app",
        "1.0",
        PACKAGE.len() as u64,
        sha256(PACKAGE),
        ArtifactSource::Stored,
    );
    server
        .server
        .store()
        .put_artifact(app, Some(bytes::Bytes::from_static(PACKAGE)))
        .await
        .expect("artifact");
    let admin = AdminClient::new(&server.base);
    let stages = json!([{"size": {"percent": 100}, "error_threshold_percent": 100}]);
    let id = create(&admin, spec(stages, json!({"artifact": "app-1"}))).await;
    let exec = format!("urn:oma:mo:oma-scomo:1.0/scomo/Download/c{id}/Operations/DownloadInstall");
    for device in &devices {
        wait_state(&server, id, device, UpdateState::Notified).await;
        let received = session(&server, device, &[], accepting).await;
        assert_eq!(received[1][1], exec, "{received:?}");
        assert_eq!(
            state_of(&server, id, device).await,
            UpdateState::Downloading
        );
    }
    let node = ClientUri::parse(&exec).expect("uri");
    let deployed = format!("urn:oma:mo:oma-scomo:1.0/scomo/Inventory/Deployed/c{id}");
    let done = scomo_result_alert(
        &node,
        Some(&deployed),
        ScomoResult::SUCCESSFUL,
        Some("app-1"),
    );
    session(&server, &devices[0], &[done], accepting).await;
    let row0 = row(&server, id, &devices[0]).await;
    assert_eq!(
        (row0.state, row0.result),
        (UpdateState::Succeeded, Some(1200))
    );
    let refused = ScomoResult::new(1402).expect("code");
    let corrupt = scomo_result_alert(&node, Some(&deployed), refused, None);
    session(&server, &devices[1], &[corrupt], accepting).await;
    let row1 = row(&server, id, &devices[1]).await;
    assert_eq!((row1.state, row1.result), (UpdateState::Failed, Some(1402)));
    wait_status(&admin, id, "completed").await;
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff_and_permanent_ones_never() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 2).await;
    let admin = AdminClient::new(&server.base);
    let stages = json!([{"size": {"percent": 100}, "error_threshold_percent": 100}]);
    let id = create(&admin, spec(stages, json!({}))).await;
    for device in &devices {
        wait_state(&server, id, device, UpdateState::Notified).await;
        session(&server, device, &[], accepting).await;
        assert_eq!(
            state_of(&server, id, device).await,
            UpdateState::Downloading
        );
    }
    // 503: network lost after the device's own retries (transient).
    let before = now_ms();
    session(
        &server,
        &devices[0],
        &[fumo_alert(FumoOperation::Download, 503)],
        accepting,
    )
    .await;
    let retried = row(&server, id, &devices[0]).await;
    assert_eq!(retried.state, UpdateState::Pending);
    assert_eq!((retried.result, retried.attempts), (Some(503), 1));
    assert!(retried.next_attempt_ms >= before + 200, "{retried:?}");
    // 402: the package is corrupted (wrong SHA-256): failed, never retried.
    session(
        &server,
        &devices[1],
        &[fumo_alert(FumoOperation::Download, 402)],
        accepting,
    )
    .await;
    let failed = row(&server, id, &devices[1]).await;
    assert_eq!(
        (failed.state, failed.result, failed.attempts),
        (UpdateState::Failed, Some(402), 1)
    );
    // After the backoff the first starts again with new commands.
    wait_state(&server, id, &devices[0], UpdateState::Notified).await;
    let again = row(&server, id, &devices[0]).await;
    assert_eq!(again.attempts, 2);
    assert!(again.commands.iter().all(|c| !retried.commands.contains(c)));
    session(&server, &devices[0], &[], accepting).await;
    session(
        &server,
        &devices[0],
        &[fumo_alert(FumoOperation::Download, 407)],
        accepting,
    )
    .await;
    let second = row(&server, id, &devices[0]).await;
    assert_eq!((second.state, second.attempts), (UpdateState::Pending, 2));
    // Doubled: 400 ms.
    assert!(
        second.next_attempt_ms >= second.updated_ms + 400,
        "{second:?}"
    );
    wait_state(&server, id, &devices[0], UpdateState::Notified).await;
    session(&server, &devices[0], &[], accepting).await;
    session(
        &server,
        &devices[0],
        &[fumo_alert(FumoOperation::Download, 503)],
        accepting,
    )
    .await;
    // The third attempt was the last.
    let last = row(&server, id, &devices[0]).await;
    assert_eq!(
        (last.state, last.result, last.attempts),
        (UpdateState::Failed, Some(503), 3)
    );
    wait_status(&admin, id, "completed").await;
    assert_eq!(row(&server, id, &devices[1]).await.attempts, 1);
}

#[tokio::test]
async fn a_device_that_never_comes_is_retried_after_its_timeout_with_the_same_commands() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 1).await;
    let admin = AdminClient::new(&server.base);
    let extra = json!({"device_timeout_ms": 1000});
    let id = create(&admin, spec(json!([{"size": {"percent": 100}}]), extra)).await;
    wait_state(&server, id, &devices[0], UpdateState::Notified).await;
    let first = row(&server, id, &devices[0]).await;
    until("the second attempt", || async {
        row(&server, id, &devices[0]).await.attempts == 2
    })
    .await;
    let second = row(&server, id, &devices[0]).await;
    assert_eq!(second.state, UpdateState::Notified);
    // Never picked up: sent again, not queued twice.
    assert_eq!(second.commands, first.commands);
    let queued = server
        .admin()
        .commands(&dev(&devices[0].id))
        .await
        .expect("commands");
    assert_eq!(queued.len(), 2);
    run_update(&server, &devices[0]).await;
    wait_status(&admin, id, "completed").await;
}

#[tokio::test]
async fn devices_are_skipped_or_failed_when_they_cannot_be_updated() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let mut devices = fleet(&server, 4).await;
    let store = server.server.store();
    // Already at the version (DevInfo FwV).
    let mut values = std::collections::BTreeMap::new();
    values.insert("FwV".to_owned(), "2.0".to_owned());
    store
        .record_devinfo(&dev(&devices[0].id), values)
        .await
        .expect("devinfo");
    // Without a FUMO instance in its MOS.
    devices[1].fumo = false;
    session(&server, &devices[1], &[], accepting).await;
    let admin = AdminClient::new(&server.base);
    // One device in flight at a time, in DevID order; failures accepted.
    let stages = json!([{"size": {"percent": 100}, "error_threshold_percent": 100}]);
    let pacing = json!({"pacing": {"max_in_flight": 1, "notifications_per_second": 1000}});
    let id = create(&admin, spec(stages, pacing)).await;
    wait_state(&server, id, &devices[0], UpdateState::Skipped).await;
    wait_state(&server, id, &devices[1], UpdateState::Failed).await;
    assert_eq!(row(&server, id, &devices[1]).await.result, Some(408));
    wait_state(&server, id, &devices[2], UpdateState::Notified).await;
    // Removed while waiting for its turn: skipped when its turn comes.
    let (status, _) = admin
        .call(
            reqwest::Method::DELETE,
            &format!("/admin/devices/{}", segment(&devices[3].id)),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        state_of(&server, id, &devices[3]).await,
        UpdateState::Pending
    );
    // A device in an unfinished campaign is skipped by another.
    let other = create(&admin, spec(json!([{"size": {"percent": 100}}]), json!({}))).await;
    assert_eq!(
        state_of(&server, other, &devices[2]).await,
        UpdateState::Skipped
    );
    run_update(&server, &devices[2]).await;
    wait_state(&server, id, &devices[3], UpdateState::Skipped).await;
    wait_status(&admin, id, "completed").await;
}

#[tokio::test]
async fn nothing_starts_outside_the_maintenance_window() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    let devices = fleet(&server, 2).await;
    put_group(&server, "later", std::iter::once(devices[0].id.as_str())).await;
    put_group(&server, "now", std::iter::once(devices[1].id.as_str())).await;
    let admin = AdminClient::new(&server.base);
    let minute = (now_ms() / 60_000) % 1440;
    // A window that opens in an hour, for two hours.
    let closed = json!({"start_minute": (minute + 60) % 1440, "end_minute": (minute + 180) % 1440});
    let mut later = spec(
        json!([{"size": {"percent": 100}}]),
        json!({"window": closed}),
    );
    later["group"] = json!("later");
    let later = create(&admin, later).await;
    // A window open now (wrapping past midnight when it must).
    let open = json!({"start_minute": minute, "end_minute": (minute + 2) % 1440});
    let mut now = spec(json!([{"size": {"percent": 100}}]), json!({"window": open}));
    now["group"] = json!("now");
    let now = create(&admin, now).await;
    wait_state(&server, now, &devices[1], UpdateState::Notified).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        state_of(&server, later, &devices[0]).await,
        UpdateState::Pending
    );
    assert_eq!(status_of(&admin, later).await, "running");
}

#[tokio::test]
async fn campaigns_are_validated() {
    let server = TestServer::start_on(fast(), MemoryStore::new()).await;
    fleet(&server, 1).await;
    let admin = AdminClient::new(&server.base);
    let one = json!([{"size": {"percent": 100}}]);
    for (bad, status) in [
        (spec(json!([]), json!({})), 400),
        (spec(json!([{"size": {"percent": 101}}]), json!({})), 400),
        (spec(json!([{"size": {"count": 0}}]), json!({})), 400),
        (
            spec(
                json!([{"size": {"count": 1}, "success_threshold_percent": 101}]),
                json!({}),
            ),
            400,
        ),
        (
            spec(
                json!([{"size": {"count": 1}, "error_threshold_percent": 200}]),
                json!({}),
            ),
            400,
        ),
        (
            spec(
                one.clone(),
                json!({"window": {"start_minute": 1440, "end_minute": 3}}),
            ),
            400,
        ),
        (
            spec(
                one.clone(),
                json!({"window": {"start_minute": 3, "end_minute": 3}}),
            ),
            400,
        ),
        (
            spec(one.clone(), json!({"retry": {"max_attempts": 0}})),
            400,
        ),
        (spec(one.clone(), json!({"frob": 1})), 400),
        (spec(one.clone(), json!({"artifact": "nope"})), 404),
        (spec(one.clone(), json!({"group": "nope"})), 404),
        (
            spec(
                json!([{"size": {"group": "nope"}}, {"size": {"percent": 100}}]),
                json!({}),
            ),
            404,
        ),
    ] {
        let (got, body) = admin.post("/admin/campaigns", bad.clone()).await;
        assert_eq!(got, status, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, _) = admin.get("/admin/campaigns/7").await;
    assert_eq!(status, 404);
    let (status, _) = admin.get("/admin/campaigns/x").await;
    assert_eq!(status, 404);
    let (status, _) = admin.get("/admin/campaigns/7/devices").await;
    assert_eq!(status, 404);
    let id = create(&admin, spec(one, json!({}))).await;
    let (status, _) = admin
        .get(&format!("/admin/campaigns/{id}/devices?state=frob"))
        .await;
    assert_eq!(status, 400);
    let (status, body) = admin.get(&format!("/admin/campaigns/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["spec"]["retry"]["max_attempts"], 3);
    assert_eq!(body["spec"]["device_timeout_ms"], 3_600_000);
    assert_eq!(body["spec"]["stages"][0]["success_threshold_percent"], 90);
    let mut denied = AdminClient::new(&server.base);
    denied.token = None;
    let (status, _) = denied.get("/admin/campaigns").await;
    assert_eq!(status, 401);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_campaign_survives_a_restart_of_its_node() {
    use dm_server::SqliteStore;
    let dir = std::env::temp_dir().join(format!("dm-campaign-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("store.db");
    let store = SqliteStore::open_file(&path).await.expect("store");
    let server = TestServer::start_on(fast(), store).await;
    let devices = fleet(&server, 3).await;
    let admin = AdminClient::new(&server.base);
    let stages = json!([{"size": {"count": 1}, "success_threshold_percent": 100}, {"size": {"percent": 100}}]);
    let id = create(&admin, spec(stages, json!({}))).await;
    wait_state(&server, id, &devices[0], UpdateState::Notified).await;
    session(&server, &devices[0], &[], accepting).await;
    server.stop().await.expect("stopped");

    // Another node on the same store takes the campaign over once the
    // lease of the stopped one expires.
    let store = SqliteStore::open_file(&path).await.expect("store again");
    let server = TestServer::start_on(fast(), store).await;
    let admin = AdminClient::new(&server.base);
    assert_eq!(
        state_of(&server, id, &devices[0]).await,
        UpdateState::Downloading
    );
    // The device's result arrives at the new node.
    session(
        &server,
        &devices[0],
        &[fumo_alert(FumoOperation::Download, 200)],
        accepting,
    )
    .await;
    session(
        &server,
        &devices[0],
        &[fumo_alert(FumoOperation::Update, 200)],
        accepting,
    )
    .await;
    for device in &devices[1..] {
        wait_state(&server, id, device, UpdateState::Notified).await;
        run_update(&server, device).await;
    }
    wait_status(&admin, id, "completed").await;
    server.stop().await.expect("stopped");
    let _ = std::fs::remove_dir_all(&dir);
}
